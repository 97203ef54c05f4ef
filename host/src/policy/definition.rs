//! An agent's definition as written in a deployment file: its `grants` and
//! `limits` tables as JSON (the shape `POST /v1/agents` takes), so a file and
//! what a server runs can be compared key by key.

use crate::interfaces::Capability;
use serde_json::Value;

/// The grant a capability gets when a command grants it without saying how
/// (`caxton new --capability`, `caxton deploy FILE.wasm --grant CAP`), as the
/// TOML of a deployment file's `[agent.grants]` entry.
pub fn default_grant(capability: Capability) -> &'static str {
    match capability {
        Capability::Messaging => r#"messaging = { send-to = ["*"] }"#,
        Capability::Timers => "timers = { max-active = 16 }",
        Capability::KvStore => "kv-store = { quota-bytes = 1_048_576 }",
        Capability::Logging => r#"logging = { max-level = "info" }"#,
    }
}

/// `[agent.grants]` entries (`key = value` TOML lines) as the JSON object
/// `POST /v1/agents` takes; errors name the entry that is not TOML.
pub fn grants_json<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Value, String> {
    let mut grants = serde_json::Map::new();
    for entry in entries {
        let table: toml::Table =
            toml::from_str(entry).map_err(|e| format!("`{entry}` is not a grant (`CAP` or `CAP = {{ … }}`): {e}"))?;
        for (key, value) in table {
            let value = serde_json::to_value(value).map_err(|e| e.to_string())?;
            grants.insert(key, value);
        }
    }
    Ok(Value::Object(grants))
}

/// The `[agent.grants]` and `[agent.limits]` of one `[[agent]]`, as written
/// (absent tables are empty objects; defaults are not filled in).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentDefinition {
    /// `[agent.grants]`.
    pub grants: Value,
    /// `[agent.limits]`.
    pub limits: Value,
}

impl AgentDefinition {
    /// The definition of agent `name` in the deployment-file `text` found in
    /// the directory `base`; `None` when the text is not TOML or has no
    /// `[[agent]]` of that name. A relative `filesystem.dir` is made relative
    /// to `base`, as the file means it, so it means the same to any server.
    pub fn of(text: &str, name: &str, base: &std::path::Path) -> Option<AgentDefinition> {
        let file: toml::Table = toml::from_str(text).ok()?;
        let agents = file.get("agent")?.as_array()?;
        let agent = agents.iter().find(|a| a.get("name").and_then(toml::Value::as_str) == Some(name))?;
        let table = |key: &str| {
            agent
                .get(key)
                .and_then(|t| serde_json::to_value(t).ok())
                .unwrap_or_else(|| Value::Object(Default::default()))
        };
        let mut grants = table("grants");
        if let Some(dir) = grants.pointer_mut("/filesystem/dir") {
            if let Some(relative) = dir.as_str().filter(|d| std::path::Path::new(d).is_relative()) {
                *dir = Value::String(base.join(relative).display().to_string());
            }
        }
        Some(AgentDefinition { grants, limits: table("limits") })
    }

    /// The `[deployment] name` of deployment-file `text`.
    pub fn deployment_name(text: &str) -> Option<String> {
        let file: toml::Table = toml::from_str(text).ok()?;
        Some(file.get("deployment")?.get("name")?.as_str()?.to_string())
    }

    /// What differs from `other`, by part (`grants`, `limits`); empty when nothing does.
    pub fn differences(&self, other: &AgentDefinition) -> Vec<&'static str> {
        let mut parts = Vec::new();
        if self.grants != other.grants {
            parts.push("grants");
        }
        if self.limits != other.limits {
            parts.push("limits");
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[deployment]
name = "d"

[[agent]]
name = "a"
component = "a.wasm"
[agent.grants]
messaging = { send-to = ["*"] }
kv-store = { quota-bytes = 1_048_576 }

[[agent]]
name = "b"
component = "b.wasm"
"#;

    #[test]
    fn an_agents_tables_are_read_as_written() {
        let here = std::path::Path::new("/srv/d");
        let a = AgentDefinition::of(FILE, "a", here).unwrap();
        assert_eq!(a.grants["kv-store"]["quota-bytes"], 1_048_576);
        assert_eq!(a.limits, serde_json::json!({}));
        let b = AgentDefinition::of(FILE, "b", here).unwrap();
        assert_eq!(b.grants, serde_json::json!({}));
        assert_eq!(a.differences(&b), ["grants"]);
        assert!(a.differences(&a.clone()).is_empty());
        assert!(AgentDefinition::of(FILE, "c", here).is_none());
        assert!(AgentDefinition::of("not toml [", "a", here).is_none());
        assert_eq!(AgentDefinition::deployment_name(FILE).as_deref(), Some("d"));
        let files = FILE.replace(
            "[[agent]]\nname = \"b\"",
            "filesystem = { dir = \"files\", guest-path = \"/d\" }\n[[agent]]\nname = \"b\"",
        );
        let a = AgentDefinition::of(&files, "a", here).unwrap();
        assert_eq!(a.grants["filesystem"]["dir"], "/srv/d/files", "relative to the file: {}", a.grants);
    }

    #[test]
    fn default_grants_are_grants_a_deployment_accepts() {
        let lines: Vec<&str> = Capability::ALL.into_iter().map(default_grant).collect();
        let grants = grants_json(lines.iter().copied()).unwrap();
        assert_eq!(grants["kv-store"]["quota-bytes"], 1_048_576);
        let text = format!(
            "[deployment]\nname = \"d\"\n[[agent]]\nname = \"a\"\ncomponent = \"a.wasm\"\n[agent.grants]\n{}\n",
            lines.join("\n")
        );
        let deployment = crate::policy::Deployment::parse(&text, std::path::Path::new("d.toml")).unwrap();
        assert_eq!(deployment.agents[0].grants.granted(), Capability::ALL);
        assert!(grants_json(["kv-store = {"]).unwrap_err().contains("is not a grant"));
    }
}
