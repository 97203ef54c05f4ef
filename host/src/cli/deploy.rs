//! `caxton deploy`, `caxton remove` and `caxton agents get`: managing agents on a running server.

use super::client::{print_json, Remote};
use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The `[agent.grants]` and `[agent.limits]` of agent `name` in the deployment file at `path`
/// (a relative `filesystem.dir` made absolute, as the file means it).
fn grants_and_limits(path: &Path, name: &str) -> anyhow::Result<(Option<Value>, Option<Value>)> {
    let path = &path.canonicalize().with_context(|| format!("cannot open `{}`", path.display()))?;
    // validate the whole file the way the server will
    let deployment = crate::policy::Deployment::load(path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let Some(definition) = crate::policy::definition::AgentDefinition::of(&text, name, base) else {
        let names: Vec<&str> = deployment.agents.iter().map(|a| a.name.as_str()).collect();
        bail!("`{}` has no agent named `{name}` (it has: {})", path.display(), names.join(", "));
    };
    Ok((Some(definition.grants), Some(definition.limits)))
}

/// Where a deployed component's grants and limits come from.
pub enum Grants {
    /// Agent `--name` of this deployment file.
    Policy(PathBuf),
    /// These `--grant`s (`CAP` or `CAP = { … }`); none: what the component imports.
    Listed(Vec<String>),
}

/// The agent name a component file suggests: its stem in lower case, `_`, `.`
/// and spaces as `-` (`Text_Processor.v2.wasm` → `text-processor-v2`).
fn name_of(file: &Path) -> anyhow::Result<String> {
    let stem = file.file_stem().map(|s| s.to_string_lossy().to_lowercase()).unwrap_or_default();
    let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let name = name.trim_matches('-').to_string();
    if !crate::policy::valid_agent_name(&name) {
        bail!("`{}` suggests no agent name: give one with --name", file.display());
    }
    Ok(name)
}

/// `--grant` values as `[agent.grants]` JSON; none: the default grant of each capability `bytes` imports.
fn listed_grants(listed: &[String], bytes: &[u8], file: &Path) -> anyhow::Result<Value> {
    use crate::interfaces::Capability;
    use crate::policy::definition::{default_grant, grants_json};
    let entries: Vec<String> = if listed.is_empty() {
        let info = crate::component::inspect(bytes).with_context(|| format!("cannot inspect `{}`", file.display()))?;
        let imported: Vec<Capability> =
            info.imports.iter().filter_map(|i| crate::interfaces::capability_of(i)).collect();
        Capability::ALL.into_iter().filter(|c| imported.contains(c)).map(|c| default_grant(c).to_string()).collect()
    } else {
        let by_name = |name: &str| Capability::ALL.into_iter().find(|c| c.name() == name.trim());
        let mut entries = Vec::new();
        for grant in listed {
            match by_name(grant) {
                Some(capability) => entries.push(default_grant(capability).to_string()),
                None if grant.contains('=') => entries.push(grant.clone()),
                None => bail!("`{grant}` is not a capability; grant one of messaging, timers, kv-store, logging"),
            }
        }
        entries
    };
    grants_json(entries.iter().map(String::as_str)).map_err(anyhow::Error::msg)
}

/// Deploy the component `file` as one agent: named `name` (default: from the
/// file), granted as `grants` says.
pub fn deploy(file: &Path, name: Option<String>, grants: Grants, remote: &Remote) -> anyhow::Result<ExitCode> {
    let name = match name {
        Some(name) => name,
        None => name_of(file)?,
    };
    // the server decides how large a component may be (`serve --max-component-bytes`)
    let bytes = crate::component::read(file, usize::MAX)?;
    crate::component::check(&bytes, usize::MAX).with_context(|| format!("`{}` cannot be deployed", file.display()))?;
    let (grants, limits) = match grants {
        Grants::Policy(policy) => grants_and_limits(&policy, &name)?,
        Grants::Listed(listed) => (Some(listed_grants(&listed, &bytes, file)?), None),
    };
    // said, not refused: deploying a running name replaces it (as `POST /v1/agents` does)
    let replacing = remote.call(Method::GET, &format!("/v1/agents/{}", agent_path(&name)), None)?.0.is_success();
    let working = super::progress::Working::start(format!(
        "deploying `{name}` ({:.1} MB): uploading, and compiling when the server has not seen it",
        bytes.len() as f64 / 1e6
    ));
    let uploaded = remote.expect(Method::POST, "/v1/components", Some((Bytes::from(bytes), "application/wasm")))?;
    let sha =
        uploaded.get("component").and_then(Value::as_str).context("the server did not say where the component went")?;
    let request = json!({ "name": name, "component": sha, "grants": grants, "limits": limits });
    let agent = remote.expect(Method::POST, "/v1/agents", Remote::json_body(&request))?;
    drop(working);
    if remote.json {
        print_json(&agent)?;
    } else {
        let grants = agent
            .get("grants")
            .and_then(Value::as_array)
            .map(|g| g.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
        let done = if replacing { "replaced the running" } else { "deployed" };
        println!("{done} `{name}` ({}), grants: {}", &sha[..12.min(sha.len())], grants.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(name: &str, keep_state: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let query = if keep_state { "?keep_state=true" } else { "" };
    let removed = remote.expect(Method::DELETE, &format!("/v1/agents/{}{query}", agent_path(name)), None)?;
    if remote.json {
        print_json(&removed)?;
    } else if name.contains('/') {
        println!("purged `{name}`: its kv-store and timers are deleted; its next message starts it afresh");
    } else if keep_state {
        println!("removed `{name}`; its kv-store and timers are kept for the next agent named `{name}`");
    } else {
        println!("removed `{name}` with its kv-store and timers");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn get(name: &str, remote: &Remote) -> anyhow::Result<ExitCode> {
    let agent = remote.expect(Method::GET, &format!("/v1/agents/{}", agent_path(name)), None)?;
    print_json(&agent)?;
    Ok(ExitCode::SUCCESS)
}

/// The path of agent `name` under `/v1/agents/`: an instance `TYPE/KEY` keeps its `/` (its route
/// is `/v1/agents/{type}/{key}`), each part encoded.
fn agent_path(name: &str) -> String {
    match name.split_once('/') {
        Some((agent_type, key)) => format!("{}/{}", encode(agent_type), encode(key)),
        None => encode(name),
    }
}

/// Percent-encode a path segment or query value.
pub fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_file_suggests_an_agent_name() {
        assert_eq!(name_of(Path::new("components/text_processor_py.wasm")).unwrap(), "text-processor-py");
        assert_eq!(name_of(Path::new("Text.Processor V2.wasm")).unwrap(), "text-processor-v2");
        assert!(name_of(Path::new("___.wasm")).unwrap_err().to_string().contains("--name"));
    }
}
