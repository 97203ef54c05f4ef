//! `wasi:keyvalue` (`store`, `atomics`, `batch`; 0.2.0-draft2): the standard
//! key-value interface, served behind the `kv-store` grant by the same code.
//!
//! A bucket lives inside its agent's storage: bucket `b` of agent `a` is the
//! namespace `a` + U+0001 + `b`, which no agent name can spell (names are
//! `a-z 0-9 - _ .`), so buckets never meet another agent's keys or the agent's
//! own `kv-store` keys. `open` refuses buckets outside the grant's `buckets`
//! patterns with `access-denied`.

use super::kv_store::KvStoreCtx;
use crate::bindings::caxton::agent::types::KvError;
use crate::bindings::standard::wasi::keyvalue::{atomics, batch, store};
use crate::bindings::standard::{Bucket, Cas};
use crate::store::{Op, Outcome};
use wasmtime::component::{Resource, ResourceTable};

/// What the `wasi:keyvalue` host functions reach: the agent's kv-store and its resources.
pub struct KeyValue<'a> {
    /// The agent's kv-store capability (quota, sizes, backend).
    pub kv: &'a mut KvStoreCtx,
    /// The agent's resource table (bucket and cas handles).
    pub table: &'a mut ResourceTable,
}

fn to_store(e: KvError) -> store::Error {
    store::Error::Other(match e {
        KvError::InvalidKey(limit) => format!("keys must be 1 to {limit} bytes long"),
        KvError::ValueTooLarge(limit) => format!("values must be at most {limit} bytes"),
        KvError::QuotaExceeded(which) => format!("storage quota exceeded: {which}"),
        KvError::NotANumber => "the stored value is not a 64-bit integer".into(),
        KvError::Storage(why) => format!("storage failed: {why}"),
    })
}

impl KeyValue<'_> {
    fn namespace(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.namespace.clone())
    }
}

type Res<T> = wasmtime::Result<Result<T, store::Error>>;

impl store::Host for KeyValue<'_> {
    fn open(&mut self, identifier: String) -> Res<Resource<Bucket>> {
        let Some(namespace) = self.kv.bucket_namespace(&identifier) else {
            return Ok(Err(store::Error::AccessDenied));
        };
        Ok(Ok(self.table.push(Bucket { namespace })?))
    }
}

impl store::HostBucket for KeyValue<'_> {
    fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Res<Option<Vec<u8>>> {
        let ns = self.namespace(&bucket)?;
        Ok(self.kv.get_in(&ns, &key).map_err(to_store))
    }

    fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Res<()> {
        let ns = self.namespace(&bucket)?;
        Ok(self.kv.apply_in(&ns, &key, Op::Put(value)).map(|_| ()).map_err(to_store))
    }

    fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Res<()> {
        let ns = self.namespace(&bucket)?;
        Ok(self.kv.apply_in(&ns, &key, Op::Delete).map(|_| ()).map_err(to_store))
    }

    fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Res<bool> {
        let ns = self.namespace(&bucket)?;
        Ok(self.kv.get_in(&ns, &key).map(|v| v.is_some()).map_err(to_store))
    }

    fn list_keys(&mut self, bucket: Resource<Bucket>, cursor: Option<String>) -> Res<store::KeyResponse> {
        let ns = self.namespace(&bucket)?;
        Ok(self
            .kv
            .list_in(&ns, "", cursor.as_deref())
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor })
            .map_err(to_store))
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValue<'_> {
    fn increment(&mut self, bucket: Resource<Bucket>, key: String, delta: i64) -> Res<i64> {
        let ns = self.namespace(&bucket)?;
        Ok(self
            .kv
            .apply_in(&ns, &key, Op::Increment(delta))
            .map(|o| if let Outcome::Counter(n) = o { n } else { 0 })
            .map_err(to_store))
    }

    fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas { namespace, key, seen } = self.table.delete(cas)?;
        let op = Op::CompareAndSwap { expected: seen, new: Some(value) };
        match self.kv.apply_in(&namespace, &key, op) {
            Ok(Outcome::Swapped(true)) => Ok(Ok(())),
            Ok(_) => {
                let now = self.kv.get_in(&namespace, &key).map_err(to_store);
                match now {
                    Ok(seen) => Ok(Err(atomics::CasError::CasFailed(self.table.push(Cas { namespace, key, seen })?))),
                    Err(e) => Ok(Err(atomics::CasError::StoreError(e))),
                }
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(to_store(e)))),
        }
    }
}

impl atomics::HostCas for KeyValue<'_> {
    fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Res<Resource<Cas>> {
        let namespace = self.namespace(&bucket)?;
        match self.kv.get_in(&namespace, &key) {
            Ok(seen) => Ok(Ok(self.table.push(Cas { namespace, key, seen })?)),
            Err(e) => Ok(Err(to_store(e))),
        }
    }

    fn current(&mut self, cas: Resource<Cas>) -> Res<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.seen.clone()))
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValue<'_> {
    fn get_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Res<Vec<(String, Option<Vec<u8>>)>> {
        let ns = self.namespace(&bucket)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match self.kv.get_in(&ns, &key) {
                Ok(value) => out.push((key, value)),
                Err(e) => return Ok(Err(to_store(e))),
            }
        }
        Ok(Ok(out))
    }

    fn set_many(&mut self, bucket: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Res<()> {
        let ns = self.namespace(&bucket)?;
        for (key, value) in key_values {
            if let Err(e) = self.kv.apply_in(&ns, &key, Op::Put(value)) {
                return Ok(Err(to_store(e)));
            }
        }
        Ok(Ok(()))
    }

    fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Res<()> {
        let ns = self.namespace(&bucket)?;
        for key in keys {
            if let Err(e) = self.kv.apply_in(&ns, &key, Op::Delete) {
                return Ok(Err(to_store(e)));
            }
        }
        Ok(Ok(()))
    }
}
