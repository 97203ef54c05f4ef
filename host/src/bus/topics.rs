//! Topic subscriptions for publish/subscribe. Patterns use `*` for any run of
//! characters; an agent's subscriptions leave with it.

use crate::policy::glob_match;
use std::collections::HashMap;
use std::sync::RwLock;

/// Most subscriptions one agent may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// Subscription patterns by agent.
#[derive(Default)]
pub struct Topics {
    subscriptions: RwLock<HashMap<String, Vec<String>>>,
}

impl Topics {
    /// Add `pattern` for `agent`; false when the agent already holds the maximum.
    pub fn subscribe(&self, agent: &str, pattern: &str) -> bool {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        let list = subs.entry(agent.to_string()).or_default();
        if list.iter().any(|p| p == pattern) {
            return true;
        }
        if list.len() >= MAX_SUBSCRIPTIONS {
            return false;
        }
        list.push(pattern.to_string());
        true
    }

    /// Remove `pattern` for `agent`; whether it was there.
    pub fn unsubscribe(&self, agent: &str, pattern: &str) -> bool {
        let mut subs = self.subscriptions.write().unwrap_or_else(|p| p.into_inner());
        let Some(list) = subs.get_mut(agent) else { return false };
        let before = list.len();
        list.retain(|p| p != pattern);
        before != list.len()
    }

    /// Forget every subscription of `agent`.
    pub fn remove_agent(&self, agent: &str) {
        self.subscriptions.write().unwrap_or_else(|p| p.into_inner()).remove(agent);
    }

    /// Agents with a pattern matching `topic`, sorted.
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        let subs = self.subscriptions.read().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<String> =
            subs.iter().filter(|(_, ps)| ps.iter().any(|p| glob_match(p, topic))).map(|(a, _)| a.clone()).collect();
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
}
