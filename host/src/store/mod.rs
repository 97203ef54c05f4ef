//! Storage behind the `kv-store` capability and the platform's own state.
//!
//! [`KvBackend`] is the seam: the runtime and the capability see only this
//! trait, so a networked backend can replace [`sqlite::SqliteStore`] (durable,
//! the default) or [`memory::MemoryStore`] (tests, scratch). Every namespace is
//! one agent's: its own (the agent's name) or one of its `wasi:keyvalue`
//! buckets ([`bucket_namespace`]); keys of different namespaces never meet.
//! Writes are expressed as [`Op`]s so a backend can apply many in one transaction.

#[cfg(test)]
mod conformance;
pub mod memory;
pub mod sqlite;

/// Separates an agent's name from a bucket's in a bucket's namespace; no
/// agent name can contain it (names are `a-z 0-9 - _ .`).
pub const BUCKET_SEPARATOR: char = '\u{1}';

/// The namespace of `owner`'s `wasi:keyvalue` bucket `bucket`.
pub fn bucket_namespace(owner: &str, bucket: &str) -> String {
    format!("{owner}{BUCKET_SEPARATOR}{bucket}")
}

/// Whether `namespace` is `owner`'s own or one of its buckets.
pub fn owned_by(namespace: &str, owner: &str) -> bool {
    namespace.strip_prefix(owner).is_some_and(|rest| rest.is_empty() || rest.starts_with(BUCKET_SEPARATOR))
}

/// A write to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Store this value.
    Put(Vec<u8>),
    /// Remove the key.
    Delete,
    /// Add to the signed 64-bit little-endian integer stored (absent counts as 0).
    Increment(i64),
    /// Replace the value with `new` (absent deletes) only if it equals `expected`
    /// (absent means the key must not exist).
    CompareAndSwap {
        /// The value the key must hold now.
        expected: Option<Vec<u8>>,
        /// The value to store.
        new: Option<Vec<u8>>,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A put or delete; whether the key existed before.
    Written {
        /// Whether the key held a value before the write.
        existed: bool,
    },
    /// The counter's new value after an increment.
    Counter(i64),
    /// Whether a compare-and-swap swapped.
    Swapped(bool),
}

/// The change an [`Op`] makes to a key, decided from its current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Leave the key as it is.
    Keep,
    /// Store this value.
    Put(Vec<u8>),
    /// Remove the key.
    Delete,
}

/// Limits on one namespace, checked atomically with each write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Total bytes of keys plus values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

/// How much of its quota a namespace uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Total bytes of keys plus values.
    pub bytes: u64,
    /// Number of keys.
    pub keys: u64,
}

/// Why a storage operation failed; a failed write changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The write would take the namespace over its quota.
    #[error("{0}")]
    QuotaExceeded(String),
    /// `increment` found a value that is not an 8-byte integer.
    #[error("the stored value is not a 64-bit integer")]
    NotANumber,
    /// The storage itself failed (I/O error, disk full); nothing was written.
    #[error("storage failed: {0}")]
    Io(String),
}

/// Decide what `op` does to a key whose value is `current`.
pub fn decide(current: Option<&[u8]>, op: Op) -> Result<(Change, Outcome), StoreError> {
    let existed = current.is_some();
    Ok(match op {
        Op::Put(value) => (Change::Put(value), Outcome::Written { existed }),
        Op::Delete => (Change::Delete, Outcome::Written { existed }),
        Op::Increment(delta) => {
            let old = match current.map(<[u8; 8]>::try_from) {
                None => 0,
                Some(Ok(bytes)) => i64::from_le_bytes(bytes),
                Some(Err(_)) => return Err(StoreError::NotANumber),
            };
            let new = old.wrapping_add(delta);
            (Change::Put(new.to_le_bytes().to_vec()), Outcome::Counter(new))
        }
        Op::CompareAndSwap { expected, new } => {
            if current != expected.as_deref() {
                (Change::Keep, Outcome::Swapped(false))
            } else {
                (new.map_or(Change::Delete, Change::Put), Outcome::Swapped(true))
            }
        }
    })
}

/// The namespace's usage after `change` to `key` (whose value was `current`),
/// or the quota it would break.
pub fn usage_after(
    usage: Usage,
    key: &str,
    current: Option<&[u8]>,
    change: &Change,
    quota: Quota,
) -> Result<Usage, StoreError> {
    let old = current.map_or(0, |v| (key.len() + v.len()) as u64);
    match change {
        Change::Keep => Ok(usage),
        Change::Delete => Ok(Usage {
            bytes: usage.bytes.saturating_sub(old),
            keys: usage.keys.saturating_sub(u64::from(current.is_some())),
        }),
        Change::Put(value) => {
            let after = Usage {
                bytes: usage.bytes.saturating_sub(old) + (key.len() + value.len()) as u64,
                keys: usage.keys + u64::from(current.is_none()),
            };
            if after.keys > quota.keys {
                return Err(StoreError::QuotaExceeded(format!("at most {} keys", quota.keys)));
            }
            if after.bytes > quota.bytes {
                return Err(StoreError::QuotaExceeded(format!("at most {} bytes", quota.bytes)));
            }
            Ok(after)
        }
    }
}

/// A key-value store partitioned into namespaces.
pub trait KvBackend: Send + Sync {
    /// The value under `key` in `namespace`.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Apply `op` to `key` atomically, within `quota`. When this returns `Ok`,
    /// the write is durable (for durable backends).
    fn apply(&self, namespace: &str, key: &str, op: Op, quota: Quota) -> Result<Outcome, StoreError>;

    /// Up to `limit` keys of `namespace` starting with `prefix`, in ascending
    /// order, strictly after `after` when given.
    fn list(&self, namespace: &str, prefix: &str, after: Option<&str>, limit: usize)
        -> Result<Vec<String>, StoreError>;

    /// What `namespace` uses of its quota.
    fn usage(&self, namespace: &str) -> Result<Usage, StoreError>;

    /// `owner` left memory (a passivated virtual agent): what the backend
    /// keeps in memory about its namespaces may go; the data stays.
    fn release(&self, _owner: &str) {}

    /// Delete every key of `owner`'s namespaces (its own and its buckets, see
    /// [`owned_by`]) atomically; returns how many keys went. Durable when it returns.
    fn clear(&self, owner: &str) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increment_and_swap_decide_from_the_current_value() {
        assert_eq!(decide(None, Op::Increment(5)), Ok((Change::Put(5i64.to_le_bytes().to_vec()), Outcome::Counter(5))));
        assert_eq!(decide(Some(b"text"), Op::Increment(1)), Err(StoreError::NotANumber));
        let swap = |cur: Option<&[u8]>, exp: Option<&[u8]>| {
            decide(cur, Op::CompareAndSwap { expected: exp.map(<[u8]>::to_vec), new: None }).map(|(_, o)| o)
        };
        assert_eq!(swap(Some(b"a"), Some(b"a")), Ok(Outcome::Swapped(true)));
        assert_eq!(swap(Some(b"a"), Some(b"b")), Ok(Outcome::Swapped(false)));
        assert_eq!(swap(None, None), Ok(Outcome::Swapped(true)));
    }

    #[test]
    fn an_owner_holds_its_own_namespace_and_its_buckets_only() {
        assert!(owned_by("pricer", "pricer"));
        assert!(owned_by(&bucket_namespace("pricer", "cache"), "pricer"));
        assert!(!owned_by("pricer-2", "pricer"));
        assert!(!owned_by(&bucket_namespace("pricer-2", "cache"), "pricer"));
        assert!(!owned_by("price", "pricer"));
    }

    #[test]
    fn quota_counts_keys_and_bytes_and_deletes_free_them() {
        let q = Quota { bytes: 10, keys: 2 };
        let u = usage_after(Usage::default(), "k1", None, &Change::Put(b"123".to_vec()), q).unwrap();
        assert_eq!(u, Usage { bytes: 5, keys: 1 });
        assert!(usage_after(u, "k2", None, &Change::Put(b"123456".to_vec()), q).is_err());
        let u = usage_after(u, "k1", Some(b"123"), &Change::Delete, q).unwrap();
        assert_eq!(u, Usage::default());
    }
}
