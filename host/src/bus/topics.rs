//! Topic subscriptions for publish/subscribe. Patterns use `*` for any run of
//! characters; an agent's subscriptions leave with it.
//!
//! A version of an agent runs `init` before it takes over its name, so what it
//! subscribes to there is [`Staged`] and becomes the name's subscriptions when
//! it is registered, in place of the previous version's.

use crate::glob;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Most subscriptions one agent may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// Add `pattern` to `list`; false when the list already holds the maximum.
fn add(list: &mut Vec<String>, pattern: &str) -> bool {
    if list.iter().any(|p| p == pattern) {
        return true;
    }
    if list.len() >= MAX_SUBSCRIPTIONS {
        return false;
    }
    list.push(pattern.to_string());
    true
}

/// Remove `pattern` from `list`; whether it was there.
fn remove(list: &mut Vec<String>, pattern: &str) -> bool {
    let before = list.len();
    list.retain(|p| p != pattern);
    before != list.len()
}

/// The subscriptions of an agent version that is not registered yet; shared
/// between the version's instances and the runtime that registers it.
#[derive(Debug, Clone)]
pub struct Staged(Arc<Mutex<Option<Vec<String>>>>);

impl Staged {
    /// Subscriptions to keep aside until [`Staged::take`].
    pub fn new() -> Staged {
        Staged(Arc::new(Mutex::new(Some(Vec::new()))))
    }

    /// Apply `f` to the staged list; `None` once the version is registered
    /// (its subscriptions then live in the bus's [`Topics`]).
    fn with<R>(&self, f: impl FnOnce(&mut Vec<String>) -> R) -> Option<R> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut().map(f)
    }

    /// Subscriptions of a version that is already registered: straight to the bus.
    pub fn live() -> Staged {
        Staged(Arc::new(Mutex::new(None)))
    }

    /// The staged subscriptions; from now on subscribing goes to the bus.
    pub fn take(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_default()
    }
}

impl Default for Staged {
    fn default() -> Self {
        Staged::new()
    }
}

/// Subscription patterns by agent.
#[derive(Default)]
pub struct Topics {
    subscriptions: RwLock<HashMap<String, Vec<String>>>,
    /// Bumped by every change.
    changes: AtomicU64,
}

impl Topics {
    fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// A number that changes whenever a subscription does.
    pub fn generation(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Add `pattern` for `agent`; false when the agent already holds the maximum.
    pub fn subscribe(&self, agent: &str, pattern: &str) -> bool {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        self.changed();
        add(subs.entry(agent.to_string()).or_default(), pattern)
    }

    /// Remove `pattern` for `agent`; whether it was there.
    pub fn unsubscribe(&self, agent: &str, pattern: &str) -> bool {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        self.changed();
        subs.get_mut(agent).is_some_and(|list| remove(list, pattern))
    }

    /// Subscribe `agent` to `pattern`, or stage it while `staged` is staging.
    pub fn subscribe_as(&self, staged: &Staged, agent: &str, pattern: &str) -> bool {
        staged.with(|list| add(list, pattern)).unwrap_or_else(|| self.subscribe(agent, pattern))
    }

    /// Unsubscribe `agent` from `pattern`, or unstage it while `staged` is staging.
    pub fn unsubscribe_as(&self, staged: &Staged, agent: &str, pattern: &str) -> bool {
        staged.with(|list| remove(list, pattern)).unwrap_or_else(|| self.unsubscribe(agent, pattern))
    }

    /// Make `patterns` the whole of `agent`'s subscriptions.
    pub fn set(&self, agent: &str, patterns: Vec<String>) {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        self.changed();
        if patterns.is_empty() {
            subs.remove(agent);
        } else {
            subs.insert(agent.to_string(), patterns);
        }
    }

    /// Forget every subscription of `agent`.
    pub fn remove_agent(&self, agent: &str) {
        self.subscriptions.write().unwrap_or_else(|p| p.into_inner()).remove(agent);
        self.changed();
    }

    /// Every agent's patterns (for other hosts of a cluster).
    pub fn all(&self) -> Vec<(String, Vec<String>)> {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        subs.iter().map(|(a, ps)| (a.clone(), ps.clone())).collect()
    }

    /// Agents with a pattern matching `topic`, sorted.
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<String> =
            subs.iter().filter(|(_, ps)| ps.iter().any(|p| glob::matches(p, topic))).map(|(a, _)| a.clone()).collect();
        found.sort();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_are_found_by_pattern_and_leave_with_their_agent() {
        let t = Topics::default();
        assert!(t.subscribe("a", "prices.*"));
        assert!(t.subscribe("b", "prices.eu"));
        assert!(t.subscribe("c", "news.*"));
        assert_eq!(t.subscribers("prices.eu"), ["a", "b"]);
        assert_eq!(t.subscribers("prices.us"), ["a"]);
        assert!(t.unsubscribe("a", "prices.*"));
        assert!(!t.unsubscribe("a", "prices.*"));
        assert_eq!(t.subscribers("prices.us"), Vec::<String>::new());
        t.remove_agent("b");
        assert!(t.subscribers("prices.eu").is_empty());
    }

    #[test]
    fn an_agent_holds_a_bounded_number_of_subscriptions() {
        let t = Topics::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            assert!(t.subscribe("a", &format!("t{i}")));
        }
        assert!(!t.subscribe("a", "one-too-many"));
        assert!(t.subscribe("a", "t0"), "an existing subscription is fine");
    }

    #[test]
    fn staged_subscriptions_stay_aside_until_taken_then_go_to_the_topics() {
        let t = Topics::default();
        t.subscribe("a", "old.*");
        let staged = Staged::new();
        assert!(t.subscribe_as(&staged, "a", "new.*"));
        assert_eq!(t.subscribers("new.x"), Vec::<String>::new(), "not before registration");
        assert_eq!(t.subscribers("old.x"), ["a"], "the running version keeps its own");
        t.set("a", staged.take());
        assert_eq!(t.subscribers("new.x"), ["a"]);
        assert!(t.subscribers("old.x").is_empty());
        assert!(t.subscribe_as(&staged, "a", "later.*"), "once registered, straight to the topics");
        assert_eq!(t.subscribers("later.x"), ["a"]);
    }
}
