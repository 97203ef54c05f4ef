//! Credit-based flow control between hosts, so that a send to an agent on
//! another host neither waits for a round trip nor loses the typed
//! `mailbox-full` of a local send.
//!
//! The receiving host *reserves* slots in its agent's mailbox for a sending
//! host ([`Grants`]) and tells it how many (a grant). The sending host counts
//! them ([`Credits`]): while it has a credit for a receiver, a send to it
//! spends one and goes out at once, and the receiving host delivers it into a
//! reserved slot, which cannot be full. Without a credit the send waits for
//! the receiving host's answer, which gives the typed outcome (`mailbox-full`,
//! `no-such-agent`) and new credits. The receiving host tops a sending host's
//! reserve up to [`target`] slots whenever half of it was used. Reserved
//! slots are taken from the mailbox's capacity, so an agent's local senders
//! may see `mailbox-full` while other hosts still hold credits for it: at most
//! [`MAX_CREDIT`] slots per sending host, and never more than a quarter of the
//! mailbox.

use crate::bus::mailbox::{Mailbox, Permit};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most slots one host reserves in one agent's mailbox for one other host.
pub const MAX_CREDIT: usize = 32;

/// The reserve one sending host keeps in a mailbox of `capacity` slots: a
/// quarter of it, at most [`MAX_CREDIT`]; 0 (every send waits for its
/// answer) for mailboxes of fewer than 4 slots.
pub fn target(capacity: usize) -> usize {
    (capacity / 4).min(MAX_CREDIT)
}

/// Sending side: credits this host holds, by (receiving host, agent), each
/// with the boot of the receiving host that granted it.
#[derive(Default)]
pub struct Credits {
    /// Host → the credits it granted.
    held: Mutex<HashMap<String, Granted>>,
}

/// The boot of the host that granted credits, and the credits by agent.
type Granted = (String, HashMap<String, u32>);

impl Credits {
    /// Spend one credit for each of `agents` on `host`, all or none; whether they were spent.
    pub fn spend(&self, host: &str, agents: &[String]) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if agents.is_empty() {
            return true;
        }
        let Some((_, credits)) = held.get_mut(host) else { return false };
        if !agents.iter().all(|a| credits.get(a).is_some_and(|n| *n > 0)) {
            return false;
        }
        for agent in agents {
            if let Some(n) = credits.get_mut(agent) {
                *n -= 1;
            }
        }
        true
    }

    /// Add what `host` (boot `boot`) granted; a grant from a new boot replaces the old ones.
    pub fn grant(&self, host: &str, boot: &str, grants: &[(String, u32)]) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (granted_by, credits) = held.entry(host.to_string()).or_insert_with(|| (boot.to_string(), HashMap::new()));
        if granted_by != boot {
            *granted_by = boot.to_string();
            credits.clear();
        }
        for (agent, n) in grants {
            let have = credits.entry(agent.clone()).or_insert(0);
            *have = have.saturating_add(*n);
        }
    }

    /// Forget every credit from `host` (it left, or restarted and holds no reserve for us).
    pub fn forget(&self, host: &str) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(host);
    }
}

/// Receiving side: the slots reserved for each (sending host, agent).
#[derive(Default)]
pub struct Grants {
    /// Sending host → agent → slots.
    reserved: Mutex<HashMap<String, HashMap<String, Vec<Permit>>>>,
}

impl Grants {
    /// A reserved slot for a credited message from `host` to `agent`, when one is in `mailbox`.
    pub fn take(&self, host: &str, agent: &str, mailbox: &Mailbox) -> Option<Permit> {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        let pool = reserved.get_mut(host)?.get_mut(agent)?;
        let permit = pool.pop()?;
        if permit.is_in(mailbox) {
            return Some(permit);
        }
        // slots of a mailbox the agent left behind (it was replaced) are given back
        pool.clear();
        None
    }

    /// Top up `host`'s reserve for `agent`, whose mailbox has `capacity`
    /// slots, to its [`target`] when it fell to half of it (or `always`); how
    /// many slots were added. `reserve(n)` reserves up to `n` slots.
    pub fn top_up(
        &self,
        (host, agent): (&str, &str),
        capacity: usize,
        always: bool,
        reserve: impl FnOnce(usize) -> Vec<Permit>,
    ) -> u32 {
        let goal = target(capacity);
        let have = {
            let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
            let have = reserved.get(host).and_then(|pools| pools.get(agent)).map_or(0, Vec::len);
            if goal <= have || (!always && have > goal / 2) {
                return 0;
            }
            let pool = reserved.entry(host.to_string()).or_default().entry(agent.to_string()).or_default();
            pool.retain(|p| !p.is_stale());
            pool.len()
        };
        // reserved without holding this lock: the bus takes its own (delivering takes them the other way round)
        let fresh = reserve(goal.saturating_sub(have));
        let added = fresh.len() as u32;
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        reserved.entry(host.to_string()).or_default().entry(agent.to_string()).or_default().extend(fresh);
        added
    }

    /// Give back every slot reserved for `host`.
    pub fn forget(&self, host: &str) {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).remove(host);
    }

    /// Give back every reserved slot (this host leaves the cluster).
    pub fn clear(&self) {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Give back slots in mailboxes that were closed (their agent was removed or replaced).
    pub fn release_stale(&self) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        for pools in reserved.values_mut() {
            for pool in pools.values_mut() {
                pool.retain(|p| !p.is_stale());
            }
            pools.retain(|_, pool| !pool.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::mailbox::channel;

    #[test]
    fn credits_are_spent_all_or_none_and_a_new_boot_replaces_old_grants() {
        let credits = Credits::default();
        let (x, y) = ("x".to_string(), "y".to_string());
        assert!(!credits.spend("b", std::slice::from_ref(&x)), "no credit before a grant");
        credits.grant("b", "boot-1", &[(x.clone(), 2)]);
        assert!(!credits.spend("b", &[x.clone(), y.clone()]), "y has none: neither is spent");
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(!credits.spend("b", std::slice::from_ref(&x)));
        credits.grant("b", "boot-1", &[(x.clone(), 5)]);
        credits.grant("b", "boot-2", &[(x.clone(), 1)]);
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(!credits.spend("b", std::slice::from_ref(&x)), "the old boot's credits went with it");
        credits.grant("b", "boot-2", &[(x.clone(), 1)]);
        credits.forget("b");
        assert!(!credits.spend("b", &[x]));
    }

    #[test]
    fn reserved_slots_come_out_of_the_mailbox_and_go_back_when_forgotten() {
        let (mailbox, _rx) = channel(64);
        let grants = Grants::default();
        let reserve = |n: usize| (0..n).map_while(|_| mailbox.try_reserve().ok()).collect();
        assert_eq!(grants.top_up(("a", "x"), 64, true, reserve), 16, "a quarter of 64");
        assert_eq!(mailbox.depth(), 16);
        assert_eq!(grants.top_up(("a", "x"), 64, false, reserve), 0, "still above half");
        for _ in 0..9 {
            assert!(grants.take("a", "x", &mailbox).is_some());
        }
        assert_eq!(grants.top_up(("a", "x"), 64, false, reserve), 9, "back to the target");
        assert_eq!(mailbox.depth(), 16);
        grants.forget("a");
        assert_eq!(mailbox.depth(), 0);
        assert_eq!(target(3), 0, "tiny mailboxes reserve nothing");
    }
}
