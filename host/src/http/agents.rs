//! Deploying and removing agents over HTTP.
//!
//! A deploy is two requests: `POST /v1/components` with the component's bytes
//! (`Content-Type: application/wasm`, see [`super::upload`]) answers its
//! SHA-256; `POST /v1/agents` with `{"name", "component": <sha256>,
//! "grants": {…}, "limits": {…}}` deploys it. `grants` and `limits` take the
//! same keys as a deployment file's `[agent.grants]` and `[agent.limits]` and
//! are validated by the same code. Deploying an existing name redeploys it.

use super::reply::{error, json_reply, parse_json, query_param, read_body, ApiError, Reply};
use super::{ApiState, MAX_BODY_BYTES};
use crate::platform::PlatformError;
use crate::policy::{Deployment, PolicyError};
use crate::runtime::{RuntimeError, StateOnRemove};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The body of `POST /v1/agents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    name: String,
    component: String,
    /// The deployment it belongs to (`caxton deploy FILE.toml` sends the file's); default `api:NAME`.
    #[serde(default)]
    deployment: Option<String>,
    #[serde(default)]
    grants: Option<Value>,
    #[serde(default)]
    limits: Option<Value>,
}

/// The deployment-file text equivalent to a deploy request, so API deploys are
/// validated, stored and restored exactly like deployment files.
fn deployment_text(req: &DeployRequest) -> Result<String, ApiError> {
    let mut agent = toml::Table::new();
    agent.insert("name".into(), toml::Value::String(req.name.clone()));
    agent.insert("component".into(), toml::Value::String(format!("{}.wasm", req.component)));
    for (key, value) in [("grants", &req.grants), ("limits", &req.limits)] {
        if let Some(value) = value {
            let table = toml::Value::try_from(value)
                .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-policy", &format!("`{key}` is not a table: {e}")))?;
            agent.insert(key.into(), table);
        }
    }
    let mut deployment = toml::Table::new();
    let name = req.deployment.clone().unwrap_or_else(|| format!("api:{}", req.name));
    deployment.insert("name".into(), toml::Value::String(name));
    let mut file = toml::Table::new();
    file.insert("deployment".into(), toml::Value::Table(deployment));
    file.insert("agent".into(), toml::Value::Array(vec![toml::Value::Table(agent)]));
    toml::to_string(&file).map_err(|e| error(StatusCode::BAD_REQUEST, "bad-policy", &e.to_string()))
}

/// `POST /v1/agents`: deploy (or redeploy) an uploaded component.
pub async fn deploy(state: &ApiState, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let body = read_body(req, MAX_BODY_BYTES, state.timeouts.body).await?;
    let request: DeployRequest = parse_json(&body, "deploy request")?;
    if !request.component.chars().all(|c| c.is_ascii_hexdigit()) || request.component.len() != 64 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-component",
            "`component` must be the SHA-256 that POST /v1/components answered",
        ));
    }
    let text = deployment_text(&request)?;
    let path = PathBuf::from(format!("api:{}", request.name));
    let spec = Deployment::parse(&text, &path)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-policy", &e.to_string()))?
        .agents
        .into_iter()
        .next()
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "bad-policy", "no agent in the request"))?;
    let bytes = state.platform.registry.component(&request.component).map_err(|_| {
        error(
            StatusCode::NOT_FOUND,
            "unknown-component",
            "no component with that SHA-256 was uploaded; POST it to /v1/components first",
        )
    })?;
    let name = spec.name.clone();
    state.platform.deploy_bytes(spec, bytes, &path, &text).await.map_err(platform_error)?;
    get(state, &name).map(|mut reply| {
        *reply.status_mut() = StatusCode::CREATED;
        reply
    })
}

/// The status and code for a failed deploy or remove.
fn platform_error(e: PlatformError) -> ApiError {
    let message = e.to_string();
    let (status, code) = match &e {
        PlatformError::Policy(PolicyError::NotGranted { .. })
        | PlatformError::Runtime(RuntimeError::Policy(PolicyError::NotGranted { .. })) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "not-granted")
        }
        PlatformError::Policy(PolicyError::Unsupported { .. } | PolicyError::UnsupportedVersion { .. })
        | PlatformError::Runtime(RuntimeError::Policy(
            PolicyError::Unsupported { .. } | PolicyError::UnsupportedVersion { .. },
        ))
        // an import the linker cannot satisfy: a function the host's version of the interface lacks
        | PlatformError::Runtime(RuntimeError::Link { .. }) => (StatusCode::UNPROCESSABLE_ENTITY, "unsupported-import"),
        PlatformError::Policy(_) | PlatformError::Runtime(RuntimeError::Policy(_)) | PlatformError::NotInFile { .. } => {
            (StatusCode::BAD_REQUEST, "bad-policy")
        }
        PlatformError::Component { .. } | PlatformError::Runtime(RuntimeError::Component { .. }) => {
            (StatusCode::BAD_REQUEST, "bad-component")
        }
        PlatformError::Runtime(RuntimeError::NotDeployed(_)) => (StatusCode::NOT_FOUND, "no-such-agent"),
        PlatformError::AgentType(_) => (StatusCode::CONFLICT, "agent-type"),
        PlatformError::Runtime(RuntimeError::AlreadyDeployed(_) | RuntimeError::RunsElsewhere { .. }) => {
            (StatusCode::CONFLICT, "conflict")
        }
        PlatformError::Runtime(
            RuntimeError::MissingExports { .. }
            | RuntimeError::GuestFunction { .. }
            | RuntimeError::Instantiate { .. }
            | RuntimeError::Init { .. }
            | RuntimeError::CompileTimeout { .. },
        ) => (StatusCode::UNPROCESSABLE_ENTITY, "agent-refused"),
        PlatformError::Runtime(RuntimeError::Internal(_) | RuntimeError::Storage { .. })
        | PlatformError::Registry(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    error(status, code, &message)
}

/// `GET /v1/agents`; with `?type=TYPE`, the instances of that agent type in memory.
pub fn list(state: &ApiState, query: Option<&str>) -> Result<Reply, ApiError> {
    let Some(agent_type) = query_param(query, "type") else {
        let deployed = state.platform.deployed().unwrap_or_default();
        let agents: Vec<Value> =
            state.platform.runtime.agents().into_iter().map(|a| with_deployed(json!(a), &deployed)).collect();
        return Ok(json_reply(StatusCode::OK, &json!({ "agents": agents })));
    };
    let instances = state.platform.runtime.agent_types().and_then(|t| t.instances(&agent_type));
    let instances = instances.ok_or_else(|| {
        error(StatusCode::NOT_FOUND, "no-such-agent-type", &format!("no agent type named `{agent_type}` is deployed"))
    })?;
    Ok(json_reply(StatusCode::OK, &json!({ "type": agent_type, "agents": instances })))
}

/// `GET /v1/agents/{type}/{key}`: an instance of an agent type, while it is in memory.
pub fn get_instance(state: &ApiState, name: &str) -> Result<Reply, ApiError> {
    let agent_type = instance_type(state, name)?;
    let instances = state.platform.runtime.agent_types().and_then(|t| t.instances(agent_type)).unwrap_or_default();
    let instance = instances.into_iter().find(|i| i.name == name).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "no-such-agent",
            &format!("no instance `{name}` is in memory (its next message activates it)"),
        )
    })?;
    Ok(json_reply(StatusCode::OK, &json!(instance)))
}

/// `DELETE /v1/agents/{type}/{key}`: purge one instance of an agent type: out of memory, its
/// timers disarmed and its kv-store deleted (the type stays).
pub async fn purge_instance(state: &ApiState, name: &str, query: Option<&str>) -> Result<Reply, ApiError> {
    if query_param(query, "keep_state").is_some() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-query",
            "a purge deletes the instance's state; an instance left alone is passivated with its state kept",
        ));
    }
    instance_type(state, name)?;
    let types = state.platform.runtime.agent_types();
    let purged = match types {
        Some(types) => types.purge(name).await,
        None => Err(RuntimeError::NotDeployed(name.to_string())),
    };
    match purged {
        Ok(keys) => Ok(json_reply(StatusCode::OK, &json!({ "purged": name, "keys_deleted": keys }))),
        Err(RuntimeError::NotDeployed(_)) => Err(error(
            StatusCode::NOT_FOUND,
            "no-such-agent-type",
            &format!("`{name}` is not an instance of a deployed agent type (TYPE/KEY)"),
        )),
        Err(e) => Err(platform_error(e.into())),
    }
}

/// The type of the instance `name` (`TYPE/KEY`): a 400 stating the rule for a bad key, a 404 for a
/// type that is not deployed.
fn instance_type<'a>(state: &ApiState, name: &'a str) -> Result<&'a str, ApiError> {
    let (agent_type, key) = name.split_once('/').unwrap_or((name, ""));
    if !state.platform.runtime.agent_types().is_some_and(|t| t.contains(agent_type)) {
        let message = format!("no agent type named `{agent_type}` is deployed");
        return Err(error(StatusCode::NOT_FOUND, "no-such-agent-type", &message));
    }
    if !crate::policy::types::valid_key(key) {
        let message = format!(
            "`{}` is not a key of an instance: use {}",
            key.chars().take(140).collect::<String>(),
            crate::policy::types::KEY_RULE
        );
        return Err(error(StatusCode::BAD_REQUEST, "bad-name", &message));
    }
    Ok(agent_type)
}

/// `GET /v1/agent-types`: the deployed agent types with their instance counts and activation times.
pub fn types(state: &ApiState) -> Reply {
    let types = state.platform.runtime.agent_types().map(|t| t.summaries()).unwrap_or_default();
    json_reply(StatusCode::OK, &json!({ "agent_types": types }))
}

/// `GET /v1/agents/{name}`.
pub fn get(state: &ApiState, name: &str) -> Result<Reply, ApiError> {
    let agent = state.platform.runtime.agents().into_iter().find(|a| a.name == name);
    let agent = agent.ok_or_else(|| {
        error(StatusCode::NOT_FOUND, "no-such-agent", &format!("no agent named `{name}` is deployed"))
    })?;
    let deployed = state.platform.deployed().unwrap_or_default();
    Ok(json_reply(StatusCode::OK, &with_deployed(json!(agent), &deployed)))
}

/// An agent's JSON with `deployed`: what it was deployed from (its component's
/// SHA-256, grants and limits as written), when the server remembers it.
fn with_deployed(mut agent: Value, deployed: &std::collections::HashMap<String, crate::platform::Deployed>) -> Value {
    let found = agent.get("name").and_then(Value::as_str).and_then(|name| deployed.get(name));
    if let (Some(found), Some(fields)) = (found, agent.as_object_mut()) {
        fields.insert("deployed".into(), json!(found));
    }
    agent
}

/// `DELETE /v1/agents/{name}[?keep_state=true]`: the agent's kv-store and
/// pending timers are deleted with it unless `keep_state=true`.
pub async fn remove(state: &ApiState, name: &str, query: Option<&str>) -> Result<Reply, ApiError> {
    let keep = match query_param(query, "keep_state").as_deref() {
        None | Some("false") => StateOnRemove::Delete,
        Some("true") => StateOnRemove::Keep,
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad-query",
                &format!("keep_state must be `true` or `false`, not `{other}`"),
            ))
        }
    };
    state.platform.remove(name, keep).await.map_err(platform_error)?;
    Ok(json_reply(StatusCode::OK, &json!({ "removed": name, "state_kept": keep == StateOnRemove::Keep })))
}
