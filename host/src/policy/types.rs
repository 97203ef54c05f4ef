//! Agent types: the `[[agent-type]]` entries of a deployment file, whose
//! instances (virtual agents, addressed `TYPE/KEY`) exist from their first
//! message and leave memory when idle.

use super::{file, valid_agent_name, AgentSpec};
use std::path::Path;
use std::time::Duration;

/// Default of `idle-after-ms`: an instance idle for a minute is passivated.
pub const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(60);
/// Default of `max-active`.
pub const DEFAULT_MAX_ACTIVE: u32 = 1_000;
/// Longest key of an instance, in bytes.
pub const MAX_KEY_BYTES: usize = 128;

/// One agent type of a deployment.
#[derive(Debug, Clone)]
pub struct AgentTypeSpec {
    /// The type as an agent: its name is the type's, its grants and limits
    /// are each instance's (instances are named `TYPE/KEY`).
    pub agent: AgentSpec,
    /// An instance without an event for this long is passivated.
    pub idle_after: Duration,
    /// Most instances in memory at once; beyond it the least recently used
    /// idle one is passivated, and a new one waits for room.
    pub max_active: u32,
}

impl AgentTypeSpec {
    /// The type's name.
    pub fn name(&self) -> &str {
        &self.agent.name
    }

    /// The spec of the instance `TYPE/key`.
    pub fn instance(&self, key: &str) -> AgentSpec {
        AgentSpec { name: instance_name(&self.agent.name, key), ..self.agent.clone() }
    }
}

/// The name of the instance `key` of `agent_type`: `TYPE/KEY`.
pub fn instance_name(agent_type: &str, key: &str) -> String {
    format!("{agent_type}/{key}")
}

/// What a key may be, in words (see [`valid_key`]).
pub const KEY_RULE: &str = "1 to 128 characters from a-z, A-Z, 0-9, `-`, `_`, `.`, `:` and `@`";

/// Whether `key` can name an instance: 1–128 of `a-z A-Z 0-9 - _ . : @`.
pub fn valid_key(key: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    (1..=MAX_KEY_BYTES).contains(&key.len()) && key.chars().all(ok)
}

/// `name` split into its type and key when it is an instance's name (`TYPE/KEY`, both valid).
pub fn split_instance(name: &str) -> Option<(&str, &str)> {
    let (agent_type, key) = name.split_once('/')?;
    (valid_agent_name(agent_type) && valid_key(key)).then_some((agent_type, key))
}

/// Validate the `[[agent-type]]` entries of the file at `path` (components
/// next to `base`); a type may not share a name with an agent or another type.
pub(super) fn validate(
    entries: Vec<file::AgentEntry>,
    agents: &[AgentSpec],
    base: &Path,
    path: &Path,
) -> Result<Vec<AgentTypeSpec>, String> {
    let mut types: Vec<AgentTypeSpec> = Vec::with_capacity(entries.len());
    for entry in entries {
        let name = entry.name;
        if let Some(problem) = super::agent_name_problem(&name, "agent-type") {
            return Err(problem);
        }
        if agents.iter().any(|a| a.name == name) || types.iter().any(|t| t.name() == name) {
            return Err(format!("`{name}` is declared twice (agent and agent-type names share one namespace)"));
        }
        let grants = super::validate_grants(entry.grants, base).map_err(|m| format!("agent-type `{name}`: {m}"))?;
        let limits = super::validate_limits(entry.limits).map_err(|m| format!("agent-type `{name}`: {m}"))?;
        let idle_after_ms = entry.idle_after_ms.unwrap_or(DEFAULT_IDLE_AFTER.as_millis() as u64);
        if !(1..=86_400_000).contains(&idle_after_ms) {
            return Err(format!("agent-type `{name}`: idle-after-ms = {idle_after_ms} is outside 1 ..= 86400000"));
        }
        let max_active = entry.max_active.unwrap_or(DEFAULT_MAX_ACTIVE);
        if !(1..=1_000_000).contains(&max_active) {
            return Err(format!("agent-type `{name}`: max-active = {max_active} is outside 1 ..= 1000000"));
        }
        let agent =
            AgentSpec { name, component: base.join(entry.component), grants, limits, policy: path.to_path_buf() };
        types.push(AgentTypeSpec { agent, idle_after: Duration::from_millis(idle_after_ms), max_active });
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Deployment;

    fn parse(text: &str) -> Result<Deployment, crate::policy::PolicyError> {
        Deployment::parse(text, Path::new("policies/accounts.toml"))
    }

    #[test]
    fn an_agent_type_parses_with_its_grants_limits_and_memory_bounds() {
        let d = parse(
            r#"
[deployment]
name = "accounts"

[[agent-type]]
name = "account"
component = "../components/counter.wasm"
idle-after-ms = 250
max-active = 2
[agent-type.grants]
kv-store = {}
[agent-type.limits]
mailbox = 16
"#,
        )
        .unwrap();
        assert!(d.agents.is_empty());
        let account = &d.types[0];
        assert_eq!(
            (account.name(), account.idle_after, account.max_active),
            ("account", Duration::from_millis(250), 2)
        );
        assert!(account.agent.grants.kv_store.is_some() && account.agent.grants.messaging.is_none());
        assert_eq!(account.agent.limits.mailbox, 16);
        let alice = account.instance("alice@example.com");
        assert_eq!(alice.name, "account/alice@example.com");
        assert_eq!(alice.component, Path::new("policies/../components/counter.wasm"));
    }

    #[test]
    fn bad_types_and_keys_are_refused_with_the_rule() {
        let file = |extra: &str| {
            format!("[deployment]\nname = \"d\"\n[[agent]]\nname = \"bank\"\ncomponent = \"b.wasm\"\n{extra}")
        };
        let refused = |extra: &str| parse(&file(extra)).unwrap_err().to_string();
        assert!(refused("[[agent-type]]\nname = \"bank\"\ncomponent = \"c.wasm\"").contains("declared twice"));
        assert!(refused("[[agent-type]]\nname = \"Acc/x\"\ncomponent = \"c.wasm\"").contains("not valid"));
        assert!(refused("[[agent-type]]\nname = \"a\"\ncomponent = \"c.wasm\"\nidle-after-ms = 0")
            .contains("idle-after-ms"));
        assert!(refused("[[agent-type]]\nname = \"a\"\ncomponent = \"c.wasm\"\nmax-active = 0").contains("max-active"));
        assert!(refused("[[agent-type]]\nname = \"a\"\ncomponent = \"c.wasm\"\nidle = 5").contains("unknown field"));
        let plain =
            parse("[deployment]\nname = \"d\"\n[[agent]]\nname = \"b\"\ncomponent = \"b.wasm\"\nmax-active = 3");
        assert!(plain.unwrap_err().to_string().contains("belong to [[agent-type]]"));
        assert_eq!(split_instance("account/alice"), Some(("account", "alice")));
        assert_eq!(split_instance("account/a:b@c.d-e_f"), Some(("account", "a:b@c.d-e_f")));
        assert_eq!(split_instance("account/"), None);
        assert_eq!(split_instance("account/a/b"), None);
        assert_eq!(split_instance("account/white space"), None);
        assert_eq!(split_instance(&format!("account/{}", "k".repeat(129))), None);
        assert_eq!(split_instance("plain-agent"), None);
    }
}
