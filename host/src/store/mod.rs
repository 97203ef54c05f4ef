//! Storage behind the `kv-store` capability.
//!
//! [`KvBackend`] is the seam: the runtime and the capability see only this trait,
//! so another backend can replace [`memory::MemoryStore`]. Every namespace is one
//! agent's; keys of different namespaces never meet.

pub mod memory;

/// What an [`KvBackend::update`] closure decides after seeing the current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
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
    /// The storage itself failed.
    #[error("storage failed: {0}")]
    Io(String),
}

/// A key-value store partitioned into namespaces.
pub trait KvBackend: Send + Sync {
    /// The value under `key` in `namespace`.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically read `key` and apply what `decide` returns, within `quota`.
    fn update(
        &self,
        namespace: &str,
        key: &str,
        quota: Quota,
        decide: &mut dyn FnMut(Option<&[u8]>) -> Update,
    ) -> Result<(), StoreError>;

    /// Up to `limit` keys of `namespace` starting with `prefix`, in ascending
    /// order, strictly after `after` when given.
    fn list(&self, namespace: &str, prefix: &str, after: Option<&str>, limit: usize)
        -> Result<Vec<String>, StoreError>;

    /// What `namespace` uses of its quota.
    fn usage(&self, namespace: &str) -> Result<Usage, StoreError>;
}
