//! One lifecycle operation at a time per agent name: a deploy, redeploy or
//! removal of `x` waits until the one in progress on `x` has finished, so a
//! removal's clean-up (kv-store, timers, registry) can never land on the next
//! agent deployed under that name. Operations on different names run freely.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// The per-name locks; an entry lives while someone holds or awaits it.
#[derive(Default)]
pub struct NameLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NameLocks {
    /// Wait for the turn of `name`; the turn lasts while the guard lives.
    pub async fn lock(&self, name: &str) -> OwnedMutexGuard<()> {
        self.entry(name).lock_owned().await
    }

    /// The turn of `name` now, unless someone holds or awaits it.
    pub fn try_lock(&self, name: &str) -> Option<OwnedMutexGuard<()>> {
        self.entry(name).try_lock_owned().ok()
    }

    fn entry(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, lock| Arc::strong_count(lock) > 1);
        locks.entry(name.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_name_waits_its_turn_and_other_names_do_not() {
        let locks = Arc::new(NameLocks::default());
        let first = locks.lock("x").await;
        let other = tokio::time::timeout(std::time::Duration::from_secs(5), locks.lock("y")).await;
        assert!(other.is_ok(), "another name is not held up");
        let waiting = tokio::spawn({
            let locks = locks.clone();
            async move { drop(locks.lock("x").await) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "the same name waits");
        assert!(locks.try_lock("x").is_none(), "a held name is not taken without waiting");
        drop(first);
        waiting.await.unwrap();
        drop(other);
        assert!(locks.locks.lock().unwrap().values().all(|l| Arc::strong_count(l) == 1));
    }
}
