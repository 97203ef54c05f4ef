//! Which hosts are in the cluster and what each runs: every host publishes
//! its agents (with their directory entries) and topic subscriptions every
//! [`HEARTBEAT`] and whenever they change; a host unheard of for
//! [`HOST_TIMEOUT`] leaves the view with all its agents, and comes back with
//! its next heartbeat. A host that stops cleanly says so and leaves at once.
//!
//! A host also announces the agent types it runs: an instance `TYPE/KEY` is
//! placed on one of the live hosts that run `TYPE` (this one included), the
//! one whose rendezvous score for the instance's name is highest
//! ([`View::place`]). Every host computes the same place from the same view,
//! and when a host leaves, only the instances it held move.

use crate::bus::directory::{Profile, Query};
use crate::glob;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How often a host announces itself (at the latest).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A host unheard of this long leaves the view.
pub const HOST_TIMEOUT: Duration = Duration::from_secs(3);

/// What a host announces about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Presence {
    /// Its agents with their directory entries.
    pub agents: Vec<(String, Profile)>,
    /// Each agent's topic patterns.
    pub topics: Vec<(String, Vec<String>)>,
    /// The agent types it runs (their directory entries, once registered, are among `agents`).
    pub types: Vec<String>,
    /// Whether it is leaving (stopping cleanly).
    #[serde(default)]
    pub leaving: bool,
}

/// One other host as this host last heard of it.
struct Host {
    boot: String,
    agents: HashMap<String, Profile>,
    types: Vec<String>,
    topics: Vec<(String, Vec<String>)>,
    heard: Instant,
}

/// A host of the cluster, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct HostSummary {
    /// Its id.
    pub host: String,
    /// `this host`, or `up` for another host heard from within [`HOST_TIMEOUT`].
    pub state: &'static str,
    /// Its boot id (new at each start).
    pub boot: String,
    /// Its agents, sorted.
    pub agents: Vec<String>,
    /// The agent types it runs, sorted.
    pub types: Vec<String>,
    /// Milliseconds since its last heartbeat.
    pub last_heartbeat_ms_ago: u64,
}

/// The other hosts, and which host runs each agent.
#[derive(Default)]
pub struct View {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    hosts: HashMap<String, Host>,
    /// Agent name → host.
    placement: HashMap<String, String>,
    /// Agent type → the hosts that run it, sorted.
    type_hosts: HashMap<String, Vec<String>>,
}

impl Inner {
    fn index(&mut self) {
        self.placement = self
            .hosts
            .iter()
            .flat_map(|(h, host)| {
                // a type's directory entry names no agent: its instances are placed by `View::place`
                let agents = host.agents.keys().filter(|a| !host.types.contains(a));
                agents.map(move |a| (a.clone(), h.clone()))
            })
            .collect();
        self.type_hosts.clear();
        for (h, host) in &self.hosts {
            for t in &host.types {
                self.type_hosts.entry(t.clone()).or_default().push(h.clone());
            }
        }
        self.type_hosts.values_mut().for_each(|hosts| hosts.sort());
    }
}

/// The rendezvous (highest random weight) score of `host` for the instance
/// `name`: the first 8 bytes of SHA-256(host, 0, name). A well-defined hash,
/// so hosts of different builds agree.
fn score(host: &str, name: &str) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(host).chain_update([0]).chain_update(name).finalize();
    digest.iter().take(8).fold(0, |score, byte| score << 8 | u64::from(*byte))
}

/// What [`View::heard`] learned.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// A host not in the view (or back after it left).
    Joined,
    /// A host in the view, now with a new boot (it restarted).
    Restarted,
    /// A known host's heartbeat.
    Known,
    /// A host that left.
    Left,
}

impl View {
    /// Take `presence` from `host` (boot `boot`).
    pub fn heard(&self, host: &str, boot: &str, presence: Presence) -> Heard {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if presence.leaving {
            let left = inner.hosts.remove(host).is_some();
            inner.index();
            return if left { Heard::Left } else { Heard::Known };
        }
        let was = inner.hosts.get(host).map(|h| h.boot == boot);
        let changed = inner.hosts.get(host).is_none_or(|h| {
            h.agents.len() != presence.agents.len()
                || presence.agents.iter().any(|(a, p)| h.agents.get(a) != Some(p))
                || h.types != presence.types
        });
        let entry = Host {
            boot: boot.to_string(),
            agents: presence.agents.into_iter().collect(),
            types: presence.types,
            topics: presence.topics,
            heard: Instant::now(),
        };
        inner.hosts.insert(host.to_string(), entry);
        if changed {
            inner.index();
        }
        match was {
            None => Heard::Joined,
            Some(false) => Heard::Restarted,
            Some(true) => Heard::Known,
        }
    }

    /// Drop hosts unheard of for [`HOST_TIMEOUT`]; their ids.
    pub fn expire(&self) -> Vec<String> {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> =
            inner.hosts.iter().filter(|(_, h)| h.heard.elapsed() >= HOST_TIMEOUT).map(|(id, _)| id.clone()).collect();
        for id in &gone {
            inner.hosts.remove(id);
        }
        if !gone.is_empty() {
            inner.index();
        }
        gone
    }

    /// The host that runs `agent`.
    pub fn host_of(&self, agent: &str) -> Option<String> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).placement.get(agent).cloned()
    }

    /// A host that runs the agent type `name`, when another host does.
    pub fn type_host(&self, name: &str) -> Option<String> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.type_hosts.get(name).and_then(|hosts| hosts.first().cloned())
    }

    /// Whether `host` runs the agent type `agent_type`.
    pub fn runs_type(&self, host: &str, agent_type: &str) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.type_hosts.get(agent_type).is_some_and(|hosts| hosts.iter().any(|h| h == host))
    }

    /// Where the instance `name` of the agent type `agent_type` lives: of the
    /// hosts that run the type (the other hosts in the view, and `this` host
    /// when it runs the type too), the one with the highest [`score`]. `None`
    /// when that is `this` host or no host runs the type.
    pub fn place(&self, name: &str, agent_type: &str, this: Option<&str>) -> Option<String> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let others = inner.type_hosts.get(agent_type)?;
        let best = others.iter().map(String::as_str).chain(this).max_by_key(|host| (score(host, name), *host))?;
        (Some(best) != this).then(|| best.to_string())
    }

    /// The boot of `host`, when it is in the view.
    pub fn boot_of(&self, host: &str) -> Option<String> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).hosts.get(host).map(|h| h.boot.clone())
    }

    /// How many hosts are in the view.
    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).hosts.len()
    }

    /// Whether no host is in the view.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Agents of other hosts that `query` matches, with their entries.
    pub fn search(&self, query: &Query) -> Vec<(String, Profile)> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner
            .hosts
            .values()
            .flat_map(|h| h.agents.iter())
            .filter(|(_, p)| query.matches(p))
            .map(|(a, p)| (a.clone(), p.clone()))
            .collect()
    }

    /// Agents of other hosts with a pattern matching `topic`.
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner
            .hosts
            .values()
            .flat_map(|h| h.topics.iter())
            .filter(|(_, patterns)| patterns.iter().any(|p| glob::matches(p, topic)))
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// The other hosts, sorted by id.
    pub fn hosts(&self) -> Vec<HostSummary> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut hosts: Vec<HostSummary> = inner
            .hosts
            .iter()
            .map(|(id, h)| {
                let mut agents: Vec<String> = h.agents.keys().filter(|a| !h.types.contains(a)).cloned().collect();
                agents.sort();
                let mut types = h.types.clone();
                types.sort();
                HostSummary {
                    host: id.clone(),
                    state: "up",
                    boot: h.boot.clone(),
                    agents,
                    types,
                    last_heartbeat_ms_ago: h.heard.elapsed().as_millis() as u64,
                }
            })
            .collect();
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        hosts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(agents: &[&str], topics: &[(&str, &str)]) -> Presence {
        Presence {
            agents: agents.iter().map(|a| (a.to_string(), Profile::default())).collect(),
            topics: topics.iter().map(|(a, p)| (a.to_string(), vec![p.to_string()])).collect(),
            types: Vec::new(),
            leaving: false,
        }
    }

    #[test]
    fn the_view_places_agents_on_their_hosts_until_a_host_leaves() {
        let view = View::default();
        assert_eq!(view.heard("b", "boot-1", presence(&["x", "y"], &[("y", "prices.*")])), Heard::Joined);
        assert_eq!(view.heard("c", "boot-1", presence(&["z"], &[])), Heard::Joined);
        assert_eq!(view.host_of("y").as_deref(), Some("b"));
        assert_eq!(view.host_of("z").as_deref(), Some("c"));
        assert_eq!(view.subscribers("prices.eu"), ["y"]);
        assert_eq!(view.search(&Query::default()).len(), 3);
        assert_eq!(view.heard("b", "boot-1", presence(&["x"], &[])), Heard::Known);
        assert_eq!(view.host_of("y"), None, "an agent the host no longer lists is gone");
        assert_eq!(view.heard("b", "boot-2", presence(&["x"], &[])), Heard::Restarted);
        let leaving = Presence { leaving: true, ..presence(&[], &[]) };
        assert_eq!(view.heard("b", "boot-2", leaving), Heard::Left);
        assert_eq!(view.host_of("x"), None);
        assert_eq!(view.hosts().iter().map(|h| h.host.as_str()).collect::<Vec<_>>(), ["c"]);
        assert!(view.expire().is_empty(), "c was heard just now");
    }

    #[test]
    fn an_instance_is_placed_on_one_host_of_its_type_and_only_the_leaving_hosts_instances_move() {
        let view = View::default();
        let with_type = |agents: &[&str]| Presence { types: vec!["account".into()], ..presence(agents, &[]) };
        view.heard("b", "boot-1", with_type(&["account"]));
        view.heard("c", "boot-1", with_type(&[]));
        view.heard("d", "boot-1", presence(&["other"], &[]));
        assert_eq!(view.host_of("account"), None, "a type is no agent of one host");
        assert_eq!(view.type_host("account").as_deref(), Some("b"));
        assert_eq!(view.hosts()[0].types, ["account"]);
        let keys: Vec<String> = (0..300).map(|i| format!("account/k{i}")).collect();
        let placed = |this: Option<&str>| -> Vec<String> {
            keys.iter().map(|k| view.place(k, "account", this).unwrap_or_else(|| "a".into())).collect()
        };
        let before = placed(Some("a"));
        for host in ["a", "b", "c"] {
            let share = before.iter().filter(|h| *h == host).count();
            assert!((50..=150).contains(&share), "{host} holds {share} of 300");
        }
        assert_eq!(placed(Some("a")), before, "the same view places alike");
        assert!(placed(None).iter().all(|h| h != "a" && h != "d"), "only hosts that run the type hold instances");
        assert_eq!(view.place("account/k1", "nobody", Some("a")), None);
        view.heard("c", "boot-1", Presence { leaving: true, ..presence(&[], &[]) });
        let after = placed(Some("a"));
        for (was, is) in before.iter().zip(&after) {
            assert!(was == is || was == "c", "an instance moved from `{was}` to `{is}`");
        }
    }
}
