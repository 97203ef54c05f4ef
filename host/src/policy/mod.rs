//! Deployment files: which agents run, what each is granted, and its limits.
//!
//! [`file`] parses the TOML as written; this module validates it into
//! [`Deployment`], whose types carry no serde and hold only checked values.
//! [`check`] compares a component's imports with its grants.

pub mod acts;
pub mod check;
pub mod definition;
pub mod file;
pub mod types;

use crate::glob;
use crate::interfaces::Capability;
use std::path::{Path, PathBuf};

/// Why a deployment file or a grant check was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read deployment file `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown keys.
    #[error("deployment file `{path}` is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("deployment file `{path}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A component imports a capability its grants leave out.
    #[error("agent `{agent}` imports `{interface}`{part}, but `{policy}` does not grant `{capability}`{also}; add a `{capability}` entry under [agent.grants] or remove the import")]
    NotGranted {
        /// The agent's name.
        agent: String,
        /// The full import name, e.g. `caxton:agent/kv-store@0.1.0`.
        interface: String,
        /// The capability the import belongs to.
        capability: Capability,
        /// For a composed component, which part needs it (` (for …)`), else empty.
        part: String,
        /// The other capabilities not granted, each with an import that needs it
        /// (` (also not granted: …)`), else empty.
        also: Box<str>,
        /// The deployment file.
        policy: PathBuf,
    },
    /// A component imports an interface Caxton provides, but at another version.
    #[error(
        "agent `{agent}` imports `{interface}`, but Caxton provides `{provided}` (deployment file `{policy}`); build the component against the WIT this host serves (`caxton:agent@{}`, WASI 0.2)",
        crate::interfaces::VERSION
    )]
    UnsupportedVersion {
        /// The agent's name.
        agent: String,
        /// The full import name, e.g. `caxton:agent/messaging@0.1.1`.
        interface: String,
        /// The interface at the version Caxton provides, e.g. `caxton:agent/messaging@0.1.0`.
        provided: String,
        /// The deployment file.
        policy: PathBuf,
    },
    /// A component imports an interface Caxton never provides.
    #[error(
        "agent `{agent}` imports `{interface}`, which Caxton does not provide to agents: compose the component with one that exports it, or remove the import (deployment file `{policy}`)"
    )]
    Unsupported {
        /// The agent's name.
        agent: String,
        /// The full import name.
        interface: String,
        /// The deployment file.
        policy: PathBuf,
    },
}

/// A validated deployment file.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// The deployment's name.
    pub name: String,
    /// Where it was read from (or a label for deployments that came over the API).
    pub path: PathBuf,
    /// Its agents, in file order.
    pub agents: Vec<AgentSpec>,
    /// Its agent types (virtual agents), in file order.
    pub types: Vec<types::AgentTypeSpec>,
}

/// One agent of a deployment.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The agent's name.
    pub name: String,
    /// The component file, resolved against the deployment file's directory.
    pub component: PathBuf,
    /// What the agent may use.
    pub grants: Grants,
    /// Its resource limits.
    pub limits: Limits,
    /// The deployment file that granted all this, for error messages.
    pub policy: PathBuf,
}

/// The capabilities granted to one agent; `None` means not granted, not linked.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    /// The `messaging` grant.
    pub messaging: Option<MessagingGrant>,
    /// The `kv-store` grant.
    pub kv_store: Option<KvStoreGrant>,
    /// The `timers` grant.
    pub timers: Option<TimersGrant>,
    /// The `logging` grant.
    pub logging: Option<LoggingGrant>,
    /// One directory the agent may use through WASI (`None`: no files at all).
    pub filesystem: Option<FilesystemGrant>,
}

/// A host directory an agent may use, opened with capability-based confinement
/// (cap-std): paths cannot escape it by `..`, absolute paths or symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesystemGrant {
    /// The host directory, resolved against the deployment file's directory.
    pub host_dir: PathBuf,
    /// Where the agent sees it, e.g. `/data`.
    pub guest_path: String,
    /// Whether the agent may only read.
    pub read_only: bool,
}

impl Grants {
    /// Whether `capability` is granted.
    pub fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::Messaging => self.messaging.is_some(),
            Capability::KvStore => self.kv_store.is_some(),
            Capability::Timers => self.timers.is_some(),
            Capability::Logging => self.logging.is_some(),
        }
    }

    /// The granted capabilities, in declaration order.
    pub fn granted(&self) -> Vec<Capability> {
        Capability::ALL.into_iter().filter(|c| self.allows(*c)).collect()
    }

    /// The names of what is granted, as the API lists them: the capabilities, then `filesystem`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.granted().into_iter().map(|c| c.name()).collect();
        if self.filesystem.is_some() {
            names.push("filesystem");
        }
        names
    }
}

/// Whom an agent may send to, and which topics it may use.
#[derive(Debug, Clone, Default)]
pub struct MessagingGrant {
    /// Receiver patterns; `*` matches any run of characters.
    pub send_to: Vec<String>,
    /// Whether `broadcast` is allowed (to receivers within `send_to`).
    pub broadcast: bool,
    /// Topic patterns the agent may publish to.
    pub publish: Vec<String>,
    /// Topic patterns the agent may subscribe within.
    pub subscribe: Vec<String>,
    /// Which acts may go to which receivers (see [`acts`]); `None`: every act.
    pub acts: Option<Vec<acts::ActRule>>,
}

impl MessagingGrant {
    /// A grant to send to anyone, with no broadcast and no topics.
    pub fn send_to_all() -> MessagingGrant {
        MessagingGrant { send_to: vec!["*".into()], ..MessagingGrant::default() }
    }

    /// Whether `receiver` matches one of the patterns.
    pub fn may_send_to(&self, receiver: &str) -> bool {
        self.send_to.iter().any(|p| glob::matches(p, receiver))
    }

    /// Whether the `acts` rules let `act` go to `receiver` (always, without rules).
    pub fn may_send_act(&self, receiver: &str, act: crate::acl::Performative) -> bool {
        match &self.acts {
            None => true,
            Some(rules) => acts::rule_for(rules, receiver).is_some_and(|rule| rule.acts.contains(&act)),
        }
    }

    /// Whether publishing to `topic` is granted.
    pub fn may_publish(&self, topic: &str) -> bool {
        self.publish.iter().any(|p| glob::matches(p, topic))
    }

    /// Whether subscribing with `pattern` stays within the granted patterns:
    /// the pattern, read as text, must match a granted pattern, so every topic
    /// it matches is granted too (`prices.eu.*` within `prices.*`, but not `*`).
    pub fn may_subscribe(&self, pattern: &str) -> bool {
        self.subscribe.iter().any(|p| glob::matches(p, pattern))
    }
}

/// Storage allowance of one agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvStoreGrant {
    /// Total bytes of keys and values.
    pub quota_bytes: u64,
    /// Number of keys.
    pub max_keys: u64,
    /// Largest key.
    pub max_key_bytes: u32,
    /// Largest value.
    pub max_value_bytes: u32,
    /// `wasi:keyvalue` buckets the agent may open (patterns).
    pub buckets: Vec<String>,
}

impl Default for KvStoreGrant {
    fn default() -> Self {
        KvStoreGrant {
            quota_bytes: 64 * 1024 * 1024,
            max_keys: 100_000,
            max_key_bytes: 512,
            max_value_bytes: 1024 * 1024,
            buckets: vec!["default".into()],
        }
    }
}

/// Timer allowance of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimersGrant {
    /// Timers pending at once; 0 grants the clock (`now-ms`) and no timers.
    pub max_active: u32,
}

/// Log levels, lowest first; the same as the WIT `logging.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            "critical" => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// Logging allowance of one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggingGrant {
    /// Records below this level are dropped.
    pub max_level: LogLevel,
}

/// Largest single linear memory; deployment files cannot grant more, and the
/// runtime's instance pool reserves this much per memory.
pub const MAX_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// Resource limits of one agent. Defaults are the product guide's.
/// (Serialized for reports only; deployment files are read through [`file`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Limits {
    /// Sum of all the agent's linear memories, in bytes.
    pub memory_bytes: u64,
    /// CPU budget per message, in (fuel-calibrated) microseconds.
    pub cpu_micros_per_message: u64,
    /// Wall-clock deadline per message, in microseconds.
    pub deadline_micros: u64,
    /// Host calls per message.
    pub host_calls_per_message: u64,
    /// Outgoing messages per second.
    pub messages_per_second: u32,
    /// Messages that may wait in the mailbox.
    pub mailbox: u32,
    /// Largest message the agent may send, in bytes.
    pub message_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 50 * 1024 * 1024,
            cpu_micros_per_message: 100_000,
            deadline_micros: 1_000_000,
            host_calls_per_message: 1_000,
            messages_per_second: 100,
            mailbox: 1_024,
            message_bytes: 256 * 1024,
        }
    }
}

/// Whether `name` is a usable agent name: 1–64 of `a-z 0-9 - _ .`, starting with a letter or digit.
pub fn valid_agent_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    (1..=64).contains(&name.len())
        && name.chars().all(ok_char)
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Why `name` cannot name an agent (or an agent type, as `what` says), as a sentence;
/// `None` when it can: [`valid_agent_name`] and not the name HTTP clients are given.
pub fn agent_name_problem(name: &str, what: &str) -> Option<String> {
    if !valid_agent_name(name) {
        return Some(format!(
            "{what} name `{name}` is not valid: use 1 to 64 characters from a-z, 0-9, `-`, `_` and `.`, starting with a letter or digit"
        ));
    }
    (name == crate::acl::DEFAULT_CLIENT).then(|| {
        format!("{what} name `{name}` is reserved for HTTP clients that do not name themselves; choose another")
    })
}

impl Deployment {
    /// Read and validate a deployment file.
    pub fn load(path: &Path) -> Result<Deployment, PolicyError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| PolicyError::Read { path: path.to_path_buf(), source })?;
        Deployment::parse(&text, path)
    }

    /// Validate deployment-file text; `path` locates the components and names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Deployment, PolicyError> {
        let file: file::DeploymentFile = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        validate(file, path)
    }
}

fn validate(file: file::DeploymentFile, path: &Path) -> Result<Deployment, PolicyError> {
    let invalid = |message: String| PolicyError::Invalid { path: path.to_path_buf(), message };
    if file.deployment.name.trim().is_empty() {
        return Err(invalid("[deployment] name must not be empty".into()));
    }
    if file.agents.is_empty() && file.agent_types.is_empty() {
        return Err(invalid("the deployment has no [[agent]] or [[agent-type]] entries".into()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut agents: Vec<AgentSpec> = Vec::with_capacity(file.agents.len());
    for entry in file.agents {
        if let Some(problem) = agent_name_problem(&entry.name, "agent") {
            return Err(invalid(problem));
        }
        if agents.iter().any(|a| a.name == entry.name) {
            return Err(invalid(format!("agent `{}` is declared twice", entry.name)));
        }
        if entry.idle_after_ms.is_some() || entry.max_active.is_some() {
            return Err(invalid(format!(
                "agent `{}`: idle-after-ms and max-active belong to [[agent-type]] entries, whose instances come and go",
                entry.name
            )));
        }
        let grants =
            validate_grants(entry.grants, base).map_err(|m| invalid(format!("agent `{}`: {m}", entry.name)))?;
        let limits = validate_limits(entry.limits).map_err(|m| invalid(format!("agent `{}`: {m}", entry.name)))?;
        agents.push(AgentSpec {
            name: entry.name,
            component: base.join(entry.component),
            grants,
            limits,
            policy: path.to_path_buf(),
        });
    }
    let types = types::validate(file.agent_types, &agents, base, path).map_err(invalid)?;
    Ok(Deployment { name: file.deployment.name, path: path.to_path_buf(), agents, types })
}

pub(crate) fn validate_grants(g: file::GrantsEntry, base: &Path) -> Result<Grants, String> {
    let messaging = match g.messaging {
        None => None,
        Some(m) => {
            let grant = MessagingGrant {
                send_to: m.send_to.unwrap_or_else(|| vec!["*".to_string()]),
                broadcast: m.broadcast.unwrap_or(false),
                publish: m.publish.unwrap_or_default(),
                subscribe: m.subscribe.unwrap_or_default(),
                acts: m.acts.map(acts::parse).transpose()?,
            };
            for (key, patterns) in
                [("send-to", &grant.send_to), ("publish", &grant.publish), ("subscribe", &grant.subscribe)]
            {
                if let Some(bad) = patterns.iter().find(|p| p.is_empty() || p.chars().any(char::is_whitespace)) {
                    return Err(format!("messaging.{key} pattern `{bad}` must be non-empty and without spaces"));
                }
            }
            Some(grant)
        }
    };
    let kv_store = match g.kv_store {
        None => None,
        Some(k) => {
            let d = KvStoreGrant::default();
            let grant = KvStoreGrant {
                quota_bytes: k.quota_bytes.unwrap_or(d.quota_bytes),
                max_keys: k.max_keys.unwrap_or(d.max_keys),
                max_key_bytes: k.max_key_bytes.unwrap_or(d.max_key_bytes),
                max_value_bytes: k.max_value_bytes.unwrap_or(d.max_value_bytes),
                buckets: k.buckets.unwrap_or(d.buckets),
            };
            if grant.max_keys == 0 || grant.quota_bytes == 0 || grant.max_key_bytes == 0 {
                return Err("kv-store quota-bytes, max-keys and max-key-bytes must be at least 1".into());
            }
            if grant.max_key_bytes > 4096 {
                return Err("kv-store max-key-bytes must be at most 4096".into());
            }
            Some(grant)
        }
    };
    let timers = match g.timers {
        None => None,
        Some(t) => {
            let max_active = t.max_active.unwrap_or(1_000);
            if max_active > 100_000 {
                return Err("timers.max-active must be between 0 (the clock only) and 100000".into());
            }
            Some(TimersGrant { max_active })
        }
    };
    let logging = match g.logging {
        None => None,
        Some(l) => {
            let name = l.max_level.unwrap_or_else(|| "info".into());
            let max_level = LogLevel::parse(&name).ok_or_else(|| {
                format!("logging.max-level `{name}` is not one of trace, debug, info, warn, error, critical")
            })?;
            Some(LoggingGrant { max_level })
        }
    };
    let filesystem = match g.filesystem {
        None => None,
        Some(f) => {
            let read_only = match f.mode.as_deref().unwrap_or("read-only") {
                "read-only" => true,
                "read-write" => false,
                other => return Err(format!("filesystem.mode `{other}` is not `read-only` or `read-write`")),
            };
            let guest_path = f.guest_path.unwrap_or_else(|| "/data".into());
            if !guest_path.starts_with('/') || guest_path.split('/').any(|part| part == "..") {
                return Err(format!("filesystem.guest-path `{guest_path}` must be absolute and without `..`"));
            }
            Some(FilesystemGrant { host_dir: base.join(f.dir), guest_path, read_only })
        }
    };
    Ok(Grants { messaging, kv_store, timers, logging, filesystem })
}

pub(crate) fn validate_limits(l: file::LimitsEntry) -> Result<Limits, String> {
    let d = Limits::default();
    let limits = Limits {
        memory_bytes: l.memory_bytes.unwrap_or(d.memory_bytes),
        cpu_micros_per_message: l.cpu_micros_per_message.unwrap_or(d.cpu_micros_per_message),
        deadline_micros: l.deadline_micros.unwrap_or(d.deadline_micros),
        host_calls_per_message: l.host_calls_per_message.unwrap_or(d.host_calls_per_message),
        messages_per_second: l.messages_per_second.unwrap_or(d.messages_per_second),
        mailbox: l.mailbox.unwrap_or(d.mailbox),
        message_bytes: l.message_bytes.unwrap_or(d.message_bytes),
    };
    let in_range = |name: &str, v: u64, lo: u64, hi: u64| {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(format!("limits.{name} = {v} is outside {lo} ..= {hi}"))
        }
    };
    in_range("memory-bytes", limits.memory_bytes, 64 * 1024, MAX_MEMORY_BYTES)?;
    in_range("cpu-micros-per-message", limits.cpu_micros_per_message, 1, 3_600_000_000)?;
    in_range("deadline-micros", limits.deadline_micros, 1_000, 3_600_000_000)?;
    in_range("host-calls-per-message", limits.host_calls_per_message, 1, 100_000_000)?;
    in_range("messages-per-second", limits.messages_per_second.into(), 1, 1_000_000)?;
    in_range("mailbox", limits.mailbox.into(), 1, 1_000_000)?;
    in_range("message-bytes", limits.message_bytes, 256, 16 * 1024 * 1024)?;
    Ok(limits)
}

#[cfg(test)]
mod tests;
