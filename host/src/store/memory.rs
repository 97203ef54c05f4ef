//! A [`KvBackend`] in memory: fast, and gone when the process stops.

use super::{decide, usage_after, Change, KvBackend, Op, Outcome, Quota, StoreError, Usage};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Mutex;

/// Namespaced keys in one ordered map; the (namespace, key) pair is the map key,
/// so namespaces cannot collide whatever characters they contain.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    data: BTreeMap<(String, String), Vec<u8>>,
    usage: HashMap<String, Usage>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KvBackend for MemoryStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().data.get(&(namespace.to_string(), key.to_string())).cloned())
    }

    fn apply(&self, namespace: &str, key: &str, op: Op, quota: Quota) -> Result<Outcome, StoreError> {
        let mut inner = self.lock();
        let map_key = (namespace.to_string(), key.to_string());
        let current = inner.data.get(&map_key).cloned();
        let (change, outcome) = decide(current.as_deref(), op)?;
        let usage = inner.usage.get(namespace).copied().unwrap_or_default();
        let after = usage_after(usage, key, current.as_deref(), &change, quota)?;
        match change {
            Change::Keep => return Ok(outcome),
            Change::Put(value) => {
                inner.data.insert(map_key, value);
            }
            Change::Delete => {
                inner.data.remove(&map_key);
            }
        }
        inner.usage.insert(namespace.to_string(), after);
        Ok(outcome)
    }

    fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let inner = self.lock();
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded((namespace.to_string(), a.to_string())),
            _ => Bound::Included((namespace.to_string(), prefix.to_string())),
        };
        Ok(inner
            .data
            .range((start, Bound::Unbounded))
            .take_while(|((ns, k), _)| ns == namespace && k.starts_with(prefix))
            .take(limit)
            .map(|((_, k), _)| k.clone())
            .collect())
    }

    fn usage(&self, namespace: &str) -> Result<Usage, StoreError> {
        Ok(self.lock().usage.get(namespace).copied().unwrap_or_default())
    }

    fn clear(&self, owner: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.data.len();
        inner.data.retain(|(ns, _), _| !super::owned_by(ns, owner));
        inner.usage.retain(|ns, _| !super::owned_by(ns, owner));
        Ok((before - inner.data.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    #[test]
    fn memory_store_meets_the_backend_contract() {
        conformance::run(&MemoryStore::new());
    }

    #[test]
    fn agents_with_colliding_looking_names_never_share_keys() {
        conformance::namespaces_are_injective(&MemoryStore::new(), 0x5eed, 2_000);
    }
}
