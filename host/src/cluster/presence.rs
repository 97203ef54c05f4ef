//! Which hosts are in the cluster and what each runs: every host publishes
//! its agents (with their directory entries) and topic subscriptions every
//! [`HEARTBEAT`] and whenever they change; a host unheard of for
//! [`HOST_TIMEOUT`] leaves the view with all its agents, and comes back with
//! its next heartbeat. A host that stops cleanly says so and leaves at once.

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
    /// Whether it is leaving (stopping cleanly).
    #[serde(default)]
    pub leaving: bool,
}

/// One other host as this host last heard of it.
struct Host {
    boot: String,
    agents: HashMap<String, Profile>,
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
}

impl Inner {
    fn index(&mut self) {
        self.placement =
            self.hosts.iter().flat_map(|(h, host)| host.agents.keys().map(move |a| (a.clone(), h.clone()))).collect();
    }
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
            h.agents.len() != presence.agents.len() || presence.agents.iter().any(|(a, p)| h.agents.get(a) != Some(p))
        });
        let entry = Host {
            boot: boot.to_string(),
            agents: presence.agents.into_iter().collect(),
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
                let mut agents: Vec<String> = h.agents.keys().cloned().collect();
                agents.sort();
                HostSummary {
                    host: id.clone(),
                    state: "up",
                    boot: h.boot.clone(),
                    agents,
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
}
