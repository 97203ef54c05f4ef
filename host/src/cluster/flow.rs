//! Credit-based flow control between hosts, so that a send to an agent on
//! another host neither waits for a round trip nor loses the typed
//! `mailbox-full` of a local send.
//!
//! The receiving host *reserves* slots in its agent's mailbox for a sending
//! host ([`Grants`]) and tells it how many (a grant), in an *epoch* of that
//! reserve: a grant of a new epoch replaces the sender's count, one of the
//! same epoch adds to it. A reserve starts a new epoch when its slots were
//! given back (the agent was replaced) and whenever the sender asks without
//! credit: its envelopes arrive in order, so by then it has spent all it had. The sending host counts
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

/// What a receiving host grants for one agent: its name, the reserve's epoch, and new slots.
pub type Grant = (String, u64, u32);

/// Most slots one host reserves in one agent's mailbox for one other host.
pub const MAX_CREDIT: usize = 32;

/// The reserve one sending host keeps in a mailbox of `capacity` slots: a
/// quarter of it, at most [`MAX_CREDIT`]; 0 (every send waits for its
/// answer) for mailboxes of fewer than 4 slots.
pub fn target(capacity: usize) -> usize {
    (capacity / 4).min(MAX_CREDIT)
}

/// Sending side: credits this host holds, by receiving host.
#[derive(Default)]
pub struct Credits {
    held: Mutex<HashMap<String, Granted>>,
}

/// The boot of the host that granted credits, and by agent the reserve's epoch and the credits left.
type Granted = (String, HashMap<String, (u64, u32)>);

impl Credits {
    /// Spend one credit for each of `agents` on `host`, all or none; whether they were spent.
    pub fn spend(&self, host: &str, agents: &[String]) -> bool {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if agents.is_empty() {
            return true;
        }
        let Some((_, credits)) = held.get_mut(host) else { return false };
        if !agents.iter().all(|a| credits.get(a).is_some_and(|(_, n)| *n > 0)) {
            return false;
        }
        for agent in agents {
            if let Some((_, n)) = credits.get_mut(agent) {
                *n -= 1;
            }
        }
        true
    }

    /// Take what `host` (boot `boot`) granted: a grant of a new epoch (or a
    /// new boot) replaces the count, one of the same epoch adds to it.
    pub fn grant(&self, host: &str, boot: &str, grants: &[Grant]) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (granted_by, credits) = held.entry(host.to_string()).or_insert_with(|| (boot.to_string(), HashMap::new()));
        if granted_by != boot {
            *granted_by = boot.to_string();
            credits.clear();
        }
        for (agent, epoch, n) in grants {
            match credits.get_mut(agent) {
                Some((have_epoch, have)) if have_epoch == epoch => *have = have.saturating_add(*n),
                _ => {
                    credits.insert(agent.clone(), (*epoch, *n));
                }
            }
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
    inner: Mutex<Reserves>,
}

#[derive(Default)]
struct Reserves {
    /// Sending host → agent → reserve.
    pools: HashMap<String, HashMap<String, Pool>>,
    /// The last epoch handed out.
    epochs: u64,
    /// Set when this host leaves: nothing is reserved any more.
    closed: bool,
}

#[derive(Default)]
struct Pool {
    epoch: u64,
    permits: Vec<Permit>,
}

impl Reserves {
    fn next_epoch(&mut self) -> u64 {
        self.epochs += 1;
        self.epochs
    }
}

impl Grants {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reserves> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reserved slot for a credited message from `host` to `agent`, when one is in `mailbox`.
    pub fn take(&self, host: &str, agent: &str, mailbox: &Mailbox) -> Option<Permit> {
        let mut reserves = self.lock();
        let fresh = reserves.next_epoch();
        let pool = reserves.pools.get_mut(host)?.get_mut(agent)?;
        let permit = pool.permits.pop()?;
        if permit.is_in(mailbox) {
            return Some(permit);
        }
        // slots of a mailbox the agent left behind (it was replaced) are given back: a new epoch
        pool.permits.clear();
        pool.epoch = fresh;
        None
    }

    /// Top up `host`'s reserve in `mailbox` (of `agent`) to its [`target`]
    /// when it fell to half of it; with `renew`, give the reserve back and
    /// start a new epoch first (the sender has no credit left). The grant to
    /// send, if any slot was added.
    pub fn top_up(&self, (host, agent): (&str, &str), mailbox: &Mailbox, renew: bool) -> Option<Grant> {
        let goal = target(mailbox.capacity());
        let mut reserves = self.lock();
        if reserves.closed {
            return None;
        }
        let fresh = reserves.next_epoch();
        // keys are copied only for a new reserve: this runs for every delivery
        if !reserves.pools.get(host).is_some_and(|pools| pools.contains_key(agent)) {
            reserves.pools.entry(host.to_string()).or_default().insert(agent.to_string(), Pool::default());
        }
        let pool = reserves.pools.get_mut(host)?.get_mut(agent)?;
        pool.permits.retain(|p| p.is_in(mailbox));
        if renew || pool.epoch == 0 {
            pool.permits.clear();
            pool.epoch = fresh;
        } else if pool.permits.len() > goal / 2 {
            return None;
        }
        // reserving takes no lock of the bus: held under this one, top-ups cannot overshoot
        let before = pool.permits.len();
        pool.permits.extend((before..goal).map_while(|_| mailbox.try_reserve().ok()));
        let added = (pool.permits.len() - before) as u32;
        (added > 0 || renew).then(|| (agent.to_string(), pool.epoch, added))
    }

    /// Give back every slot reserved for `host`.
    pub fn forget(&self, host: &str) {
        self.lock().pools.remove(host);
    }

    /// Give back every reserved slot and reserve none from now on (this host leaves the cluster).
    pub fn close(&self) {
        let mut reserves = self.lock();
        reserves.closed = true;
        reserves.pools.clear();
    }

    /// Give back slots in mailboxes that were closed (their agent was removed or replaced).
    pub fn release_stale(&self) {
        let mut reserves = self.lock();
        let fresh = reserves.next_epoch();
        for pools in reserves.pools.values_mut() {
            for pool in pools.values_mut() {
                let before = pool.permits.len();
                pool.permits.retain(|p| !p.is_stale());
                if pool.permits.len() != before {
                    pool.epoch = fresh;
                }
            }
            pools.retain(|_, pool| !pool.permits.is_empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::mailbox::channel;

    #[test]
    fn credits_are_spent_all_or_none_and_a_new_epoch_or_boot_replaces_the_count() {
        let credits = Credits::default();
        let (x, y) = ("x".to_string(), "y".to_string());
        assert!(!credits.spend("b", std::slice::from_ref(&x)), "no credit before a grant");
        credits.grant("b", "boot-1", &[(x.clone(), 1, 2)]);
        assert!(!credits.spend("b", &[x.clone(), y.clone()]), "y has none: neither is spent");
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        credits.grant("b", "boot-1", &[(x.clone(), 1, 1)]);
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(credits.spend("b", std::slice::from_ref(&x)), "the same epoch adds up");
        assert!(!credits.spend("b", std::slice::from_ref(&x)));
        credits.grant("b", "boot-1", &[(x.clone(), 1, 5)]);
        credits.grant("b", "boot-1", &[(x.clone(), 2, 1)]);
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(!credits.spend("b", std::slice::from_ref(&x)), "a new epoch replaced the 5");
        credits.grant("b", "boot-1", &[(x.clone(), 2, 3)]);
        credits.grant("b", "boot-2", &[(x.clone(), 1, 1)]);
        assert!(credits.spend("b", std::slice::from_ref(&x)));
        assert!(!credits.spend("b", std::slice::from_ref(&x)), "the old boot's credits went with it");
        credits.grant("b", "boot-2", &[(x.clone(), 1, 1)]);
        credits.forget("b");
        assert!(!credits.spend("b", &[x]));
    }

    #[test]
    fn reserved_slots_come_out_of_the_mailbox_and_go_back_when_renewed_forgotten_or_closed() {
        let (mailbox, _rx) = channel(64);
        let grants = Grants::default();
        let (_, epoch, n) = grants.top_up(("a", "x"), &mailbox, false).unwrap();
        assert_eq!(n, 16, "a quarter of 64");
        assert_eq!(mailbox.depth(), 16);
        assert!(grants.top_up(("a", "x"), &mailbox, false).is_none(), "still above half");
        for _ in 0..9 {
            assert!(grants.take("a", "x", &mailbox).is_some());
        }
        assert_eq!(grants.top_up(("a", "x"), &mailbox, false), Some(("x".into(), epoch, 9)), "same epoch, adds");
        assert_eq!(mailbox.depth(), 16);
        let (_, renewed, n) = grants.top_up(("a", "x"), &mailbox, true).unwrap();
        assert!(renewed != epoch && n == 16 && mailbox.depth() == 16, "renewed: the old reserve went back");
        let (other, _rx2) = channel(64);
        assert!(grants.take("a", "x", &other).is_none(), "a slot of another mailbox is not taken");
        assert_eq!(mailbox.depth(), 0, "and the reserve in the old one went back");
        grants.top_up(("a", "x"), &mailbox, false);
        grants.forget("a");
        assert_eq!(mailbox.depth(), 0);
        grants.top_up(("a", "x"), &mailbox, false);
        grants.close();
        assert_eq!(mailbox.depth(), 0);
        assert!(grants.top_up(("a", "x"), &mailbox, true).is_none(), "nothing is reserved after leaving");
        assert_eq!(target(3), 0, "tiny mailboxes reserve nothing");
    }
}
