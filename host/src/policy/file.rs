//! The deployment file as written: a serde DTO that only parses.
//!
//! Validation into the domain types of [`super`] happens in `TryFrom`; nothing
//! here has defaults with meaning beyond "absent".

use serde::Deserialize;
use std::path::PathBuf;

/// A whole deployment file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentFile {
    /// The `[deployment]` table.
    pub deployment: DeploymentSection,
    /// The `[[agent]]` tables.
    #[serde(default, rename = "agent")]
    pub agents: Vec<AgentEntry>,
    /// The `[[agent-type]]` tables: the keys of `[[agent]]` (its grants and limits are each
    /// instance's) plus `idle-after-ms` and `max-active`.
    #[serde(default, rename = "agent-type")]
    pub agent_types: Vec<AgentEntry>,
}

/// `[deployment]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploymentSection {
    /// The deployment's name.
    pub name: String,
}

/// One `[[agent]]` or `[[agent-type]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentEntry {
    /// The agent's (or type's) name, unique in the deployment.
    pub name: String,
    /// Path of the component, relative to the deployment file's directory.
    pub component: PathBuf,
    /// `[agent.grants]`: absent capabilities are not granted.
    #[serde(default)]
    pub grants: GrantsEntry,
    /// `[agent.limits]`: absent limits take the defaults.
    #[serde(default)]
    pub limits: LimitsEntry,
    /// An agent type's instance without an event for this long is passivated (types only).
    pub idle_after_ms: Option<u64>,
    /// Most instances of an agent type in memory at once (types only).
    pub max_active: Option<u32>,
}

/// `[agent.grants]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrantsEntry {
    /// `messaging = { … }`.
    pub messaging: Option<MessagingEntry>,
    /// `kv-store = { … }`.
    pub kv_store: Option<KvStoreEntry>,
    /// `timers = { … }`.
    pub timers: Option<TimersEntry>,
    /// `logging = { … }`.
    pub logging: Option<LoggingEntry>,
    /// `filesystem = { … }`.
    pub filesystem: Option<FilesystemEntry>,
}

/// The `filesystem` grant: one host directory, seen by the agent at `guest-path`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilesystemEntry {
    /// The host directory, relative to the deployment file.
    pub dir: PathBuf,
    /// `read-only` (default) or `read-write`.
    pub mode: Option<String>,
    /// Where the agent sees it (default `/data`).
    pub guest_path: Option<String>,
}

/// The `messaging` grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MessagingEntry {
    /// Receivers the agent may send to; `*` matches any run of characters.
    pub send_to: Option<Vec<String>>,
    /// Whether the agent may broadcast to every agent the directory matches.
    pub broadcast: Option<bool>,
    /// Topics the agent may publish to (patterns).
    pub publish: Option<Vec<String>>,
    /// Topics the agent may subscribe to (patterns).
    pub subscribe: Option<Vec<String>>,
    /// Acts the agent may send, by receiver pattern: `{ "bank-*" = ["request"], "*" = ["inform"] }`.
    pub acts: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// The `kv-store` grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KvStoreEntry {
    /// Total bytes of keys and values the agent may store.
    pub quota_bytes: Option<u64>,
    /// Number of keys the agent may store.
    pub max_keys: Option<u64>,
    /// Largest key in bytes.
    pub max_key_bytes: Option<u32>,
    /// Largest value in bytes.
    pub max_value_bytes: Option<u32>,
    /// `wasi:keyvalue` buckets the agent may open (patterns; default `["default"]`).
    pub buckets: Option<Vec<String>>,
}

/// The `timers` grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TimersEntry {
    /// Timers that may be pending at once.
    pub max_active: Option<u32>,
}

/// The `logging` grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LoggingEntry {
    /// The lowest level written: trace, debug, info, warn, error or critical.
    pub max_level: Option<String>,
}

/// `[agent.limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct LimitsEntry {
    pub memory_bytes: Option<u64>,
    pub cpu_micros_per_message: Option<u64>,
    pub deadline_micros: Option<u64>,
    pub host_calls_per_message: Option<u64>,
    pub messages_per_second: Option<u32>,
    pub mailbox: Option<u32>,
    pub message_bytes: Option<u64>,
}
