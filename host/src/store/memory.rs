//! A [`KvBackend`] in memory: fast, and gone when the process stops.

use super::{KvBackend, Quota, StoreError, Update, Usage};
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

    fn update(
        &self,
        namespace: &str,
        key: &str,
        quota: Quota,
        decide: &mut dyn FnMut(Option<&[u8]>) -> Update,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let map_key = (namespace.to_string(), key.to_string());
        let current = inner.data.get(&map_key);
        let old_bytes = current.map_or(0, |v| (key.len() + v.len()) as u64);
        let update = decide(current.map(Vec::as_slice));
        let usage = inner.usage.get(namespace).copied().unwrap_or_default();
        match update {
            Update::Keep => Ok(()),
            Update::Put(value) => {
                let new_bytes = (key.len() + value.len()) as u64;
                let keys = usage.keys + u64::from(current.is_none());
                let bytes = usage.bytes - old_bytes + new_bytes;
                if keys > quota.keys {
                    return Err(StoreError::QuotaExceeded(format!("at most {} keys", quota.keys)));
                }
                if bytes > quota.bytes {
                    return Err(StoreError::QuotaExceeded(format!("at most {} bytes", quota.bytes)));
                }
                inner.data.insert(map_key, value);
                inner.usage.insert(namespace.to_string(), Usage { bytes, keys });
                Ok(())
            }
            Update::Delete => {
                if inner.data.remove(&map_key).is_some() {
                    let after = Usage { bytes: usage.bytes - old_bytes, keys: usage.keys - 1 };
                    inner.usage.insert(namespace.to_string(), after);
                }
                Ok(())
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: Quota = Quota { bytes: 1 << 20, keys: 1000 };

    fn put(s: &MemoryStore, ns: &str, k: &str, v: &[u8], q: Quota) -> Result<(), StoreError> {
        s.update(ns, k, q, &mut |_| Update::Put(v.to_vec()))
    }

    #[test]
    fn namespaces_never_meet_even_when_names_look_alike() {
        let s = MemoryStore::new();
        put(&s, "a", "b/c", b"1", ROOMY).unwrap();
        put(&s, "a/b", "c", b"2", ROOMY).unwrap();
        assert_eq!(s.get("a", "b/c").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get("a/b", "c").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.list("a", "", None, 10).unwrap(), vec!["b/c".to_string()]);
    }

    #[test]
    fn quota_counts_keys_and_bytes_and_deleting_frees_it() {
        let s = MemoryStore::new();
        let q = Quota { bytes: 10, keys: 2 };
        put(&s, "n", "k1", b"123", q).unwrap();
        put(&s, "n", "k2", b"1", q).unwrap();
        assert!(matches!(put(&s, "n", "k3", b"", q), Err(StoreError::QuotaExceeded(_))));
        assert!(matches!(put(&s, "n", "k1", b"12345678", q), Err(StoreError::QuotaExceeded(_))));
        assert_eq!(s.usage("n").unwrap(), Usage { bytes: 8, keys: 2 });
        s.update("n", "k1", q, &mut |_| Update::Delete).unwrap();
        assert_eq!(s.usage("n").unwrap(), Usage { bytes: 3, keys: 1 });
        put(&s, "n", "k3", b"", q).unwrap();
    }

    #[test]
    fn lists_by_prefix_in_pages() {
        let s = MemoryStore::new();
        for k in ["a1", "a2", "a3", "b1"] {
            put(&s, "n", k, b"", ROOMY).unwrap();
        }
        assert_eq!(s.list("n", "a", None, 2).unwrap(), vec!["a1", "a2"]);
        assert_eq!(s.list("n", "a", Some("a2"), 2).unwrap(), vec!["a3"]);
        assert!(s.list("n", "c", None, 2).unwrap().is_empty());
    }
}
