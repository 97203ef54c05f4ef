//! `caxton:agent/kv-store`: each agent's private keys in a [`KvBackend`].
//!
//! The agent's name is the namespace, so no key of one agent can reach another's.
//! Key size, value size and quota come from the grant; each breach is a WIT
//! `kv-error`, never a trap.

use crate::bindings::caxton::agent::kv_store::{Host, KeyPage};
use crate::bindings::caxton::agent::types::KvError;
use crate::policy::KvStoreGrant;
use crate::store::{KvBackend, Op, Outcome, Quota, StoreError};
use std::sync::Arc;

/// Most keys returned by one `list-keys` call.
pub const PAGE_SIZE: usize = 100;

/// Per-agent state of the `kv-store` capability.
pub struct KvStoreCtx {
    namespace: String,
    backend: Arc<dyn KvBackend>,
    grant: KvStoreGrant,
}

impl KvStoreCtx {
    /// The store of `agent` in `backend`, within `grant`.
    pub fn new(agent: &str, backend: Arc<dyn KvBackend>, grant: Option<KvStoreGrant>) -> Self {
        KvStoreCtx { namespace: agent.to_string(), backend, grant: grant.unwrap_or_default() }
    }

    fn quota(&self) -> Quota {
        Quota { bytes: self.grant.quota_bytes, keys: self.grant.max_keys }
    }

    fn check_key(&self, key: &str) -> Result<(), KvError> {
        if key.is_empty() || key.len() > self.grant.max_key_bytes as usize {
            return Err(KvError::InvalidKey(self.grant.max_key_bytes));
        }
        Ok(())
    }

    fn check_value(&self, value: &[u8]) -> Result<(), KvError> {
        if value.len() > self.grant.max_value_bytes as usize {
            return Err(KvError::ValueTooLarge(self.grant.max_value_bytes));
        }
        Ok(())
    }

    fn apply(&self, key: &str, op: Op) -> Result<Outcome, KvError> {
        self.apply_in(&self.namespace, key, op)
    }

    /// The namespace of bucket `name` (for `wasi:keyvalue`), or `None` when the
    /// grant's `buckets` patterns do not include it.
    pub fn bucket_namespace(&self, name: &str) -> Option<String> {
        let granted = self.grant.buckets.iter().any(|p| crate::glob::matches(p, name));
        granted.then(|| crate::store::bucket_namespace(&self.namespace, name))
    }

    /// Read `key` of namespace `ns` (the agent's own, or one of its buckets).
    pub fn get_in(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.check_key(key)?;
        self.backend.get(ns, key).map_err(to_wit)
    }

    /// Write `key` of namespace `ns`, within the sizes and quota of the grant.
    pub fn apply_in(&self, ns: &str, key: &str, op: Op) -> Result<Outcome, KvError> {
        self.check_key(key)?;
        match &op {
            Op::Put(value) | Op::CompareAndSwap { new: Some(value), .. } => self.check_value(value)?,
            _ => {}
        }
        self.backend.apply(ns, key, op, self.quota()).map_err(to_wit)
    }

    /// One page of keys of namespace `ns` starting with `prefix`, and the cursor for the next.
    pub fn list_in(
        &self,
        ns: &str,
        prefix: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), KvError> {
        let keys = self.backend.list(ns, prefix, cursor, PAGE_SIZE).map_err(to_wit)?;
        let next = if keys.len() == PAGE_SIZE { keys.last().cloned() } else { None };
        Ok((keys, next))
    }
}

fn to_wit(e: StoreError) -> KvError {
    match e {
        StoreError::QuotaExceeded(which) => KvError::QuotaExceeded(which),
        StoreError::NotANumber => KvError::NotANumber,
        StoreError::Io(why) => KvError::Storage(why),
    }
}

impl Host for KvStoreCtx {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        Ok(self.check_key(&key).and_then(|()| self.backend.get(&self.namespace, &key).map_err(to_wit)))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        Ok(self.check_value(&value).and_then(|()| self.apply(&key, Op::Put(value))).map(|_| ()))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        Ok(self.apply(&key, Op::Delete).map(|o| matches!(o, Outcome::Written { existed: true })))
    }

    fn exists(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        Ok(self.get(key)?.map(|v| v.is_some()))
    }

    fn list_keys(&mut self, prefix: String, cursor: Option<String>) -> wasmtime::Result<Result<KeyPage, KvError>> {
        Ok(self.list_in(&self.namespace, &prefix, cursor.as_deref()).map(|(keys, cursor)| KeyPage { keys, cursor }))
    }

    fn increment(&mut self, key: String, delta: i64) -> wasmtime::Result<Result<i64, KvError>> {
        Ok(self.apply(&key, Op::Increment(delta)).map(|o| match o {
            Outcome::Counter(n) => n,
            _ => 0,
        }))
    }

    fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<bool, KvError>> {
        let checked = new.as_deref().map_or(Ok(()), |v| self.check_value(v));
        Ok(checked
            .and_then(|()| self.apply(&key, Op::CompareAndSwap { expected, new }))
            .map(|o| matches!(o, Outcome::Swapped(true))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    fn kv(agent: &str, backend: &Arc<MemoryStore>, grant: KvStoreGrant) -> KvStoreCtx {
        KvStoreCtx::new(agent, backend.clone(), Some(grant))
    }

    fn small() -> KvStoreGrant {
        KvStoreGrant { quota_bytes: 64, max_keys: 3, max_key_bytes: 8, max_value_bytes: 16, ..KvStoreGrant::default() }
    }

    #[test]
    fn set_get_delete_exists_round_trip() {
        let b = Arc::new(MemoryStore::new());
        let mut k = kv("a", &b, small());
        assert_eq!(k.get("x".into()).unwrap(), Ok(None));
        k.set("x".into(), b"1".to_vec()).unwrap().unwrap();
        assert_eq!(k.get("x".into()).unwrap(), Ok(Some(b"1".to_vec())));
        assert_eq!(k.exists("x".into()).unwrap(), Ok(true));
        assert_eq!(k.delete("x".into()).unwrap(), Ok(true));
        assert_eq!(k.delete("x".into()).unwrap(), Ok(false));
    }

    #[test]
    fn agents_do_not_see_each_others_keys() {
        let b = Arc::new(MemoryStore::new());
        let mut a = kv("a", &b, small());
        let mut other = kv("a/b", &b, small());
        a.set("b/c".into(), b"mine".to_vec()).unwrap().unwrap();
        assert_eq!(other.get("c".into()).unwrap(), Ok(None));
        assert_eq!(other.get("b/c".into()).unwrap(), Ok(None));
    }

    #[test]
    fn size_and_quota_breaches_are_typed_errors() {
        let b = Arc::new(MemoryStore::new());
        let mut k = kv("a", &b, small());
        assert_eq!(k.set("".into(), vec![]).unwrap(), Err(KvError::InvalidKey(8)));
        assert_eq!(k.set("123456789".into(), vec![]).unwrap(), Err(KvError::InvalidKey(8)));
        assert_eq!(k.set("k".into(), vec![0; 17]).unwrap(), Err(KvError::ValueTooLarge(16)));
        for key in ["k1", "k2", "k3"] {
            k.set(key.into(), vec![]).unwrap().unwrap();
        }
        assert!(matches!(k.set("k4".into(), vec![]).unwrap(), Err(KvError::QuotaExceeded(_))));
        k.delete("k1".into()).unwrap().unwrap();
        assert_eq!(k.set("k4".into(), vec![]).unwrap(), Ok(()), "deleting frees quota");
    }

    #[test]
    fn increment_and_compare_and_swap_are_atomic_read_modify_writes() {
        let b = Arc::new(MemoryStore::new());
        let mut k = kv("a", &b, small());
        assert_eq!(k.increment("n".into(), 5).unwrap(), Ok(5));
        assert_eq!(k.increment("n".into(), -2).unwrap(), Ok(3));
        k.set("s".into(), b"text".to_vec()).unwrap().unwrap();
        assert_eq!(k.increment("s".into(), 1).unwrap(), Err(KvError::NotANumber));
        assert_eq!(k.compare_and_swap("c".into(), None, Some(b"1".to_vec())).unwrap(), Ok(true));
        assert_eq!(k.compare_and_swap("c".into(), None, Some(b"2".to_vec())).unwrap(), Ok(false));
        assert_eq!(k.compare_and_swap("c".into(), Some(b"1".to_vec()), None).unwrap(), Ok(true));
        assert_eq!(k.exists("c".into()).unwrap(), Ok(false));
    }

    #[test]
    fn list_keys_pages_with_a_cursor() {
        let b = Arc::new(MemoryStore::new());
        let grant = KvStoreGrant { max_keys: 1000, ..KvStoreGrant::default() };
        let mut k = kv("a", &b, grant);
        for i in 0..(PAGE_SIZE + 5) {
            k.set(format!("k{i:04}"), vec![]).unwrap().unwrap();
        }
        let first = k.list_keys("k".into(), None).unwrap().unwrap();
        assert_eq!(first.keys.len(), PAGE_SIZE);
        let second = k.list_keys("k".into(), first.cursor).unwrap().unwrap();
        assert_eq!(second.keys.len(), 5);
        assert_eq!(second.cursor, None);
    }
}
