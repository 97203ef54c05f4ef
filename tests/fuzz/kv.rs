//! kv keys and values through the `kv-store` capability: random operations on
//! keys of any bytes and length (empty, over the limit, control characters,
//! look-alike prefixes) against both backends at once. No call panics, both
//! backends give the same answer to every call, and no namespace ever holds
//! more than its quota.

use crate::fuzz;
use arbtest::arbitrary::{Result, Unstructured};
use caxton::bindings::caxton::agent::kv_store::Host;
use caxton::capability::kv_store::KvStoreCtx;
use caxton::policy::KvStoreGrant;
use caxton::store::memory::MemoryStore;
use caxton::store::sqlite::SqliteStore;
use caxton::store::KvBackend;
use std::sync::Arc;

fn key(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=4)? {
        0 => u.choose(&["a", "a/b", "a\u{0}", "", "ab", "a\u{1}b", "é", "b"])?.to_string(),
        1 => "k".repeat(u.int_in_range(0..=80)?),
        _ => u.arbitrary()?,
    })
}

fn value(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(match u.int_in_range(0..=3)? {
        0 => u.arbitrary::<i64>()?.to_le_bytes().to_vec(),
        1 => vec![7; u.int_in_range(0..=300)?],
        _ => u.arbitrary()?,
    })
}

/// One call on both stores; the answers, as text, must be equal.
fn call(u: &mut Unstructured<'_>, a: &mut KvStoreCtx, b: &mut KvStoreCtx) -> Result<()> {
    let (k, v) = (key(u)?, value(u)?);
    let (left, right) = match u.int_in_range(0..=6)? {
        0 => (format!("{:?}", a.set(k.clone(), v.clone())), format!("{:?}", b.set(k, v))),
        1 => (format!("{:?}", a.get(k.clone())), format!("{:?}", b.get(k))),
        2 => (format!("{:?}", a.delete(k.clone())), format!("{:?}", b.delete(k))),
        3 => {
            let d: i64 = u.arbitrary()?;
            (format!("{:?}", a.increment(k.clone(), d)), format!("{:?}", b.increment(k, d)))
        }
        4 => {
            let (expected, new) = (u.arbitrary::<Option<Vec<u8>>>()?, u.arbitrary::<Option<Vec<u8>>>()?);
            let left = a.compare_and_swap(k.clone(), expected.clone(), new.clone());
            (format!("{left:?}"), format!("{:?}", b.compare_and_swap(k, expected, new)))
        }
        5 => {
            let cursor: Option<String> = u.arbitrary()?;
            (format!("{:?}", a.list_keys(k.clone(), cursor.clone())), format!("{:?}", b.list_keys(k, cursor)))
        }
        _ => (format!("{:?}", a.exists(k.clone())), format!("{:?}", b.exists(k))),
    };
    assert_eq!(left, right, "the two backends disagree");
    Ok(())
}

#[test]
fn kv_calls_agree_on_both_backends_and_stay_within_quota() {
    // tmpfs when there is one: the durable store syncs every commit
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    let sqlite: Arc<dyn KvBackend> = Arc::new(SqliteStore::open(&dir.path().join("kv.sqlite")).unwrap());
    let memory: Arc<dyn KvBackend> = Arc::new(MemoryStore::new());
    let mut agent = 0u64;
    fuzz("kv", |u| {
        agent += 1;
        let name = format!("fuzz-{agent}");
        let grant = KvStoreGrant {
            quota_bytes: u.int_in_range(0..=2_000)?,
            max_keys: u.int_in_range(0..=12)?,
            max_key_bytes: u.int_in_range(1..=64)?,
            max_value_bytes: u.int_in_range(0..=256)?,
            ..KvStoreGrant::default()
        };
        let mut a = KvStoreCtx::new(&name, memory.clone(), Some(grant.clone()));
        let mut b = KvStoreCtx::new(&name, sqlite.clone(), Some(grant.clone()));
        for _ in 0..u.int_in_range(1..=24)? {
            call(u, &mut a, &mut b)?;
        }
        for store in [&memory, &sqlite] {
            let usage = store.usage(&name).unwrap();
            assert!(usage.keys <= grant.max_keys && usage.bytes <= grant.quota_bytes, "{usage:?} over {grant:?}");
            let keys = store.list(&name, "", None, usize::MAX).unwrap();
            assert_eq!(keys.len() as u64, usage.keys, "usage counts every key");
        }
        Ok(())
    });
}
