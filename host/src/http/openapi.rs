//! `GET /v1/openapi.json`: an OpenAPI 3.1 description of the API, built from
//! the same route table the router uses.

use super::routes::ROUTES;
use serde_json::{json, Map, Value};

fn operation(path: &str, method: &str) -> Value {
    let (summary, ok) = match (path, method) {
        ("/", _) => ("A redirect (303) to the dashboard at /ui", "303"),
        ("/healthz", _) => ("Health: 200 while deadlines are enforced, 503 if the epoch ticker stalls", "200"),
        ("/metrics", _) => ("Prometheus text metrics per agent", "200"),
        ("/v1/openapi.json", _) => ("This document", "200"),
        ("/v1/agents", "GET") => (
            "The deployed agents with state and statistics; with ?type=TYPE, that agent type's instances in memory",
            "200",
        ),
        ("/v1/agents/{type}/{key}", "GET") => ("One instance of an agent type, while it is in memory", "200"),
        ("/v1/agents/{type}/{key}", _) => {
            ("Purge one instance of an agent type: out of memory, timers disarmed, kv-store deleted", "200")
        }
        ("/v1/conversations", _) => (
            "Conversation records, the most recently updated first, without their messages \
             (?agent=, ?protocol=, ?state=, ?limit= up to 1000, default 100)",
            "200",
        ),
        ("/v1/conversations/{id}", _) => (
            "One conversation: initiator, participants, protocol, state and its messages in order with outcomes",
            "200",
        ),
        ("/v1/agent-types", _) => {
            ("The deployed agent types (virtual agents) with active instances, activations and passivations", "200")
        }
        ("/v1/agents", _) => ("Deploy or redeploy an agent: {name, component: sha256, grants, limits}", "201"),
        ("/v1/agents/{name}", "GET") => ("One agent", "200"),
        ("/v1/agents/{name}/logs", _) => (
            "The agent's kept log lines (logging calls, stdout, stderr) numbered after ?since=, at most ?limit= \
             (default and most 256), oldest first; `{type}/{key}/logs` for an instance",
            "200",
        ),
        ("/ui", _) => ("The web dashboard (no token needed for its files; it asks for the token for the API)", "200"),
        ("/ui/{asset}", _) => ("One file of the dashboard", "200"),
        ("/v1/events", _) => (
            "The event stream (text/event-stream): messages delivered, refused and dead-lettered, agents deployed, \
             restarted, quarantined, removed, activated and passivated, failures and log lines; ?agent=, \
             ?conversation=, ?kind= (message, lifecycle, failure, log; comma-separated). A client that falls \
             behind by more than 1024 events gets `event: missed` with how many",
            "200",
        ),
        ("/v1/agents/{name}", _) => {
            ("Remove an agent with its kv-store and timers (?keep_state=true keeps them)", "200")
        }
        ("/v1/components", _) => (
            "Upload a component (application/wasm, at most the server's --max-component-bytes); answers its SHA-256",
            "201",
        ),
        ("/v1/messages", _) => (
            "Send an ACL message; with ?wait_ms=N wait for the reply (504 on timeout); 409 `protocol-violation` \
             (with protocol, state, allowed acts and breach) when it breaks its conversation's FIPA protocol",
            "202",
        ),
        ("/v1/directory", _) => ("Agents by service, ontology or protocol, on every host of a cluster", "200"),
        ("/v1/cluster", _) => (
            "The cluster's hosts with their agents, agent types and last heartbeat, and envelopes dropped by reason \
             (`cluster: null` when the server runs alone)",
            "200",
        ),
        _ => ("Dead letters with their reasons", "200"),
    };
    let mut op = json!({
        "summary": summary,
        "responses": {
            ok: { "description": "success" },
            "400": { "$ref": "#/components/responses/Error" },
            "401": { "$ref": "#/components/responses/Error" },
        },
    });
    let name = json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } });
    let in_path = |n: &str| json!({ "name": n, "in": "path", "required": true, "schema": { "type": "string" } });
    let parameters = if path.contains("{type}") {
        json!([in_path("type"), in_path("key")])
    } else if path.contains("{name}") && method == "DELETE" {
        json!([name, { "name": "keep_state", "in": "query", "required": false, "schema": { "type": "boolean" } }])
    } else if path.ends_with("/logs") {
        json!([name, { "name": "since", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } },
               { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }])
    } else if path.contains("{name}") {
        json!([name])
    } else if path == "/v1/messages" {
        json!([{ "name": "wait_ms", "in": "query", "required": false,
                 "schema": { "type": "integer", "minimum": 1, "maximum": 300000 } }])
    } else if path == "/v1/agents" && method == "GET" {
        json!([{ "name": "type", "in": "query", "required": false, "schema": { "type": "string" } }])
    } else if path == "/v1/events" {
        json!(["agent", "conversation", "kind"]
            .map(|p| json!({ "name": p, "in": "query", "required": false, "schema": { "type": "string" } })))
    } else if path == "/v1/directory" {
        json!(["service", "ontology", "protocol"]
            .map(|p| json!({ "name": p, "in": "query", "required": false, "schema": { "type": "string" } })))
    } else {
        Value::Null
    };
    if let (Some(op), false) = (op.as_object_mut(), parameters.is_null()) {
        op.insert("parameters".into(), parameters);
    }
    op
}

/// The OpenAPI document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (path, methods) in ROUTES {
        let mut item = Map::new();
        for method in *methods {
            item.insert(method.to_ascii_lowercase(), operation(path, method));
        }
        paths.insert((*path).to_string(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Caxton", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Run untrusted agents as WebAssembly components that talk FIPA ACL." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": { "Error": { "description": "An error",
                "content": { "application/json": { "schema": { "type": "object", "properties": {
                    "error": { "type": "object", "properties": {
                        "code": { "type": "string" }, "message": { "type": "string" } } } } } } } } },
        },
        "security": [{ "bearer": [] }],
    })
}
