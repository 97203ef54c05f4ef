//! The HTTP API and CLI against the real binary: deploy, send-and-wait, remove;
//! the token on every admin route; no 500 for malformed input; slow and
//! oversized clients; metrics; the OpenAPI document.

use crate::support::api::{Api, TOKEN};
use crate::support::component;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn uppercase(text: &str) -> Value {
    json!({ "performative": "request", "receiver": "text-processor",
            "content": { "action": "process_data", "data": { "operation": "uppercase", "text": text } } })
}

#[test]
fn the_guides_deploy_send_and_wait_remove_scenario_over_http() {
    let api = Api::start();
    let (status, agent) = api.deploy("text-processor", "text_processor", json!({ "messaging": {} }), json!({}));
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["name"], "text-processor");
    assert_eq!(agent["grants"], json!(["messaging"]));
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &uppercase("hello world"));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["performative"], "inform");
    assert_eq!(reply["content"]["result"]["result"], "HELLO WORLD");
    let (status, one) = api.admin("GET", "/v1/agents/text-processor", &Value::Null);
    assert_eq!((status, one["stats"]["messages"].clone()), (200, json!(1)));
    let (status, _) = api.admin("DELETE", "/v1/agents/text-processor", &Value::Null);
    assert_eq!(status, 200);
    let (status, gone) = api.admin("POST", "/v1/messages?wait_ms=1000", &uppercase("x"));
    assert_eq!((status, gone["error"]["code"].clone()), (404, json!("no-such-agent")));
    let (status, _) = api.admin("GET", "/v1/agents/text-processor", &Value::Null);
    assert_eq!(status, 404);
}

#[test]
fn the_guides_memory_scenario_over_http() {
    let api = Api::start();
    let (status, _) = api.deploy(
        "memory_test_agent",
        "misbehaver",
        json!({ "messaging": {}, "kv-store": {} }),
        json!({ "memory-bytes": 1048576 }),
    );
    assert_eq!(status, 201);
    let request = json!({ "performative": "request", "receiver": "memory_test_agent", "reply_with": "memory_test_001",
                          "content": { "action": "allocate", "size": 2 * 1024 * 1024 } });
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &request);
    assert_eq!(status, 200);
    assert_eq!(reply["performative"], "failure");
    assert!(reply["content"]["error"].as_str().unwrap().contains("memory"), "{reply}");
}

#[test]
fn the_guides_scenario_through_the_cli() {
    let api = Api::start();
    let out = api.caxton(&[
        "deploy",
        "components/text_processor.wasm",
        "--name",
        "text-processor",
        "--policy",
        "policies/demo.toml",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployed `text-processor`"));
    let content = r#"{"action":"process_data","data":{"operation":"uppercase","data":"hello world"}}"#;
    let out = api.caxton(&["send", "text-processor", content, "--wait", "10000"]);
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["content"]["result"]["result"], "HELLO WORLD");
    // a request in an interaction protocol: the host records the conversation under it
    let out = api.caxton(&["send", "text-processor", content, "--wait", "10000", "--protocol", "fipa-request"]);
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    let conversation = reply["conversation_id"].as_str().unwrap();
    let out = api.caxton(&["conversations", conversation, "--json"]);
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (record["protocol"].as_str(), record["state"].as_str()),
        (Some("fipa-request"), Some("done")),
        "{record}"
    );
    let out = api.caxton(&["agents"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("AGENT") && table.contains("text-processor") && table.contains("running"), "{table}");
    let out = api.caxton(&["agents", "get", "text-processor", "--json"]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap()["stats"]["messages"], 2);
    let out = api.caxton(&["remove", "text-processor"]);
    assert!(out.status.success());
    let out = api.caxton(&["remove", "text-processor"]);
    assert_eq!(out.status.code(), Some(1), "removing twice fails with exit code 1");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-agent"));
    let out = api.caxton(&["deploy", "components/counter.wasm", "--name", "nobody", "--policy", "policies/demo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no agent named `nobody`"));
}

#[test]
fn every_admin_route_needs_the_token_and_health_does_not() {
    let api = Api::start();
    let admin: Vec<(&str, String)> = caxton::http::routes::ROUTES
        .iter()
        .filter(|(p, _)| !matches!(*p, "/" | "/healthz" | "/v1/openapi.json") && !p.starts_with("/ui"))
        .flat_map(|(p, methods)| methods.iter().map(move |m| (*m, p.replace("{name}", "someone"))))
        .collect();
    assert!(admin.len() >= 9);
    let wrong = [None, Some("wrong"), Some(&TOKEN.to_uppercase()[..]), Some("")];
    for (method, path) in &admin {
        for token in wrong {
            let (status, body) = api.call(method, path, token, "application/json", b"{}");
            assert_eq!(status, 401, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
        let (status, _) =
            api.call(method, &format!("{path}?token={TOKEN}&access_token={TOKEN}"), None, "application/json", b"{}");
        assert_eq!(status, 401, "{method} {path}: a token in the query string does not count");
        let (status, _) = api.call(method, path, Some(TOKEN), "application/json", b"{}");
        assert_ne!(status, 401, "{method} {path} with the token");
    }
    // Host and X-Forwarded-For do not change who the client is
    let tricked = api.raw(
        b"GET /v1/agents HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(tricked.map(|r| r.0), Some(401));
    let (status, health) = api.call("GET", "/healthz", None, "application/json", b"");
    assert_eq!((status, health["status"].clone()), (200, json!("ok")));
}

#[test]
fn with_the_token_every_admin_route_succeeds() {
    let api = Api::start_with(&["--deployment", "policies/accounts.toml"]);
    let wasm = std::fs::read(component("text_processor")).unwrap();
    let mut exercised = Vec::new();
    let mut expect_2xx = |method: &'static str, pattern: &'static str, path: &str, content_type: &str, body: &[u8]| {
        let (status, reply) = api.call(method, path, Some(TOKEN), content_type, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {reply}");
        exercised.push((method, pattern));
        reply
    };
    let uploaded = expect_2xx("POST", "/v1/components", "/v1/components", "application/wasm", &wasm);
    let deploy = json!({ "name": "tp", "component": uploaded["component"], "grants": { "messaging": {} } });
    expect_2xx("POST", "/v1/agents", "/v1/agents", "application/json", deploy.to_string().as_bytes());
    expect_2xx("GET", "/v1/agents", "/v1/agents", "application/json", b"");
    expect_2xx("GET", "/v1/agents/{name}", "/v1/agents/tp", "application/json", b"");
    expect_2xx("GET", "/v1/agents/{name}/logs", "/v1/agents/tp/logs", "application/json", b"");
    expect_2xx("GET", "/v1/events", "/v1/events?kind=message", "application/json", b"");
    let types = expect_2xx("GET", "/v1/agent-types", "/v1/agent-types", "application/json", b"");
    assert_eq!(types["agent_types"][0]["name"], "account", "{types}");
    let message = json!({
        "performative": "request", "receiver": "tp", "conversation_id": "c-1", "protocol": "fipa-request",
        "content": { "action": "get_status" }
    });
    expect_2xx("POST", "/v1/messages", "/v1/messages", "application/json", message.to_string().as_bytes());
    let listed = expect_2xx("GET", "/v1/conversations", "/v1/conversations", "application/json", b"");
    assert!(listed["conversations"].as_array().is_some_and(|c| !c.is_empty()), "{listed}");
    let one = expect_2xx("GET", "/v1/conversations/{id}", "/v1/conversations/c-1", "application/json", b"");
    assert_eq!(one["messages"][0]["performative"], "request", "{one}");
    expect_2xx("GET", "/v1/directory", "/v1/directory", "application/json", b"");
    expect_2xx("GET", "/v1/dead-letters", "/v1/dead-letters", "application/json", b"");
    expect_2xx("GET", "/metrics", "/metrics", "application/json", b"");
    let alone = expect_2xx("GET", "/v1/cluster", "/v1/cluster", "application/json", b"");
    assert_eq!(alone["cluster"], Value::Null, "a server without --cluster runs alone: {alone}");
    assert_eq!(alone["hosts"][0]["agents"], json!(["tp"]));
    expect_2xx("DELETE", "/v1/agents/{name}", "/v1/agents/tp", "application/json", b"");
    let increment =
        json!({ "performative": "request", "receiver": "account/alice", "content": { "action": "increment" } });
    expect_2xx(
        "POST",
        "/v1/messages",
        "/v1/messages?wait_ms=10000",
        "application/json",
        increment.to_string().as_bytes(),
    );
    let alice = expect_2xx("GET", "/v1/agents/{type}/{key}", "/v1/agents/account/alice", "application/json", b"");
    assert_eq!(alice["name"], "account/alice", "{alice}");
    let purged = expect_2xx("DELETE", "/v1/agents/{type}/{key}", "/v1/agents/account/alice", "application/json", b"");
    assert_eq!(purged["keys_deleted"], 1, "{purged}");
    let (status, gone) = api.call("GET", "/v1/agents/account/alice", Some(TOKEN), "application/json", b"");
    assert_eq!(status, 404, "a purged instance is out of memory: {gone}");
    let again = expect_2xx(
        "POST",
        "/v1/messages",
        "/v1/messages?wait_ms=10000",
        "application/json",
        increment.to_string().as_bytes(),
    );
    assert_eq!(again["content"]["result"]["count"], 1, "a purged instance starts afresh: {again}");
    for (pattern, methods) in caxton::http::routes::ROUTES {
        for method in *methods {
            let open = matches!(*pattern, "/" | "/healthz" | "/v1/openapi.json") || pattern.starts_with("/ui");
            assert!(open || exercised.contains(&(*method, *pattern)), "{method} {pattern} was not exercised");
        }
    }
}

#[test]
fn no_malformed_request_gets_a_500() {
    let api = Api::start();
    api.deploy("text-processor", "text_processor", json!({ "messaging": {} }), json!({}));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/v1/messages", b"{".to_vec(), 400),
        ("POST", "/v1/messages", b"[]".to_vec(), 400),
        ("POST", "/v1/messages", b"null".to_vec(), 400),
        ("POST", "/v1/messages", br#"{"performative": 7, "receiver": "text-processor"}"#.to_vec(), 400),
        ("POST", "/v1/messages", br#"{"performative": "request", "receiver": ["a"]}"#.to_vec(), 400),
        (
            "POST",
            "/v1/messages",
            br#"{"performative": "request", "receiver": "text-processor", "reply_by": -1}"#.to_vec(),
            400,
        ),
        ("POST", "/v1/messages", b"{\"performative\": \"request\", \"receiver\": \"\xff\xfe\"}".to_vec(), 400),
        ("POST", "/v1/messages", deep.clone().into_bytes(), 400),
        ("POST", "/v1/messages?wait_ms=-5", br#"{"performative":"request","receiver":"text-processor"}"#.to_vec(), 400),
        ("POST", "/v1/agents", b"{".to_vec(), 400),
        ("POST", "/v1/agents", br#"{"name": "x"}"#.to_vec(), 400),
        ("POST", "/v1/agents", br#"{"name": "x", "component": "zz"}"#.to_vec(), 400),
        ("POST", "/v1/agents", json!({"name": "x", "component": "a".repeat(64)}).to_string().into_bytes(), 404),
        ("POST", "/v1/agents", json!({"name": "Bad Name", "component": "a".repeat(64)}).to_string().into_bytes(), 400),
        (
            "POST",
            "/v1/agents",
            json!({"name": "x", "component": "a".repeat(64), "grants": {"sockets": {}}}).to_string().into_bytes(),
            400,
        ),
        (
            "POST",
            "/v1/agents",
            json!({"name": "x", "component": "a".repeat(64), "limits": 5}).to_string().into_bytes(),
            400,
        ),
        ("POST", "/v1/agents", deep.into_bytes(), 400),
        ("POST", "/v1/components", b"not wasm".to_vec(), 400),
        ("POST", "/v1/components", wat::parse_str("(module)").unwrap(), 400),
        ("POST", "/v1/components", b"\x7fELF\x02\x01\x01\0precompiled".to_vec(), 400),
        ("GET", "/v1/agents/%ff%fe", Vec::new(), 404),
        ("DELETE", "/v1/agents/nobody", Vec::new(), 404),
        ("PUT", "/v1/messages", Vec::new(), 405),
        ("GET", "/nowhere/../etc/passwd", Vec::new(), 404),
    ];
    for (method, path, body, want) in cases {
        let content_type = if path == "/v1/components" { "application/wasm" } else { "application/json" };
        let (status, reply) = api.call(method, path, Some(TOKEN), content_type, &body);
        assert_eq!(status, want, "{method} {path} {}: {reply}", String::from_utf8_lossy(&body[..body.len().min(80)]));
        assert!(reply["error"]["code"].is_string() && reply["error"]["message"].is_string(), "{reply}");
    }
}

#[test]
fn oversize_bodies_are_refused_before_they_are_read() {
    let api = Api::start();
    // declared too large: refused from the headers alone
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        2 * 1024 * 1024
    );
    assert_eq!(api.raw(head.as_bytes()).map(|r| r.0), Some(413));
    // chunked, no length: cut off at the limit
    let mut chunked = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(b' ', 64 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(api.raw(&chunked).map(|r| r.0), Some(413));
    let big = vec![0u8; caxton::component::MAX_COMPONENT_BYTES + 1];
    let (status, _) = api.call("POST", "/v1/components", Some(TOKEN), "application/wasm", &big);
    assert_eq!(status, 413, "components are capped at 64 MiB by default");
}

#[test]
fn header_bombs_and_huge_uris_are_refused() {
    let api = Api::start();
    let bomb =
        format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bomb: {}\r\nConnection: close\r\n\r\n", "a".repeat(200_000));
    let answer = api.raw(bomb.as_bytes()).map(|r| r.0);
    assert!(matches!(answer, None | Some(400 | 414 | 431)), "{answer:?}");
    let uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "a".repeat(200_000));
    let answer = api.raw(uri.as_bytes()).map(|r| r.0);
    assert!(matches!(answer, None | Some(400 | 404 | 414 | 431)), "{answer:?}");
    let (status, _) = api.call("GET", "/healthz", None, "application/json", b"");
    assert_eq!(status, 200, "the server is still fine");
}

#[test]
fn a_client_sending_headers_at_one_byte_a_second_is_disconnected() {
    let api = Api::start();
    let mut slow = TcpStream::connect(&api.addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    let mut closed = false;
    for byte in request {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match slow.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {} // a 408 before closing is fine too
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the slow client was never disconnected");
        std::thread::sleep(Duration::from_millis(900));
    }
    assert!(closed);
    // meanwhile and afterwards, real requests are served
    let (status, _) = api.call("GET", "/healthz", None, "application/json", b"");
    assert_eq!(status, 200);
}

#[test]
fn a_body_sent_at_one_byte_a_second_times_out() {
    let api = Api::start();
    let mut slow = TcpStream::connect(&api.addr).unwrap();
    let head = format!(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    loop {
        let _ = slow.write_all(b"{");
        let mut buf = [0u8; 1024];
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the slow body was never cut off");
        std::thread::sleep(Duration::from_millis(900));
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[test]
fn a_redeploy_swaps_code_and_grants_and_keeps_the_agents_state() {
    let api = Api::start();
    let grants = json!({ "messaging": {}, "kv-store": {} });
    assert_eq!(api.deploy("counter", "counter", grants.clone(), json!({})).0, 201);
    let increment = json!({ "performative": "request", "receiver": "counter", "content": { "action": "increment" } });
    for want in 1..=2 {
        let (_, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &increment);
        assert_eq!(reply["content"]["result"]["count"], want);
    }
    let (status, agent) = api.deploy("counter", "counter", grants, json!({ "mailbox": 16 }));
    assert_eq!(status, 201, "{agent}");
    assert_eq!(agent["limits"]["mailbox"], 16, "the new limits apply");
    let (_, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &increment);
    assert_eq!(reply["content"]["result"]["count"], 3, "the kv-store carried over");
    // narrowing the grant below what the component imports is refused, and the old version keeps running
    let (status, refused) = api.deploy("counter", "counter", json!({ "messaging": {} }), json!({}));
    assert_eq!((status, refused["error"]["code"].clone()), (422, json!("not-granted")), "{refused}");
    let (_, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &increment);
    assert_eq!(reply["content"]["result"]["count"], 4);
    // narrowing a scope applies to the very next call
    let narrow = json!({ "messaging": { "send-to": ["nobody"] }, "kv-store": {} });
    assert_eq!(api.deploy("counter", "counter", narrow, json!({})).0, 201);
    let (_, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &increment);
    assert_eq!(reply["performative"], "failure", "the counter may no longer answer the client itself");
    assert!(reply["content"]["error"].as_str().unwrap().contains("access denied"), "{reply}");
}

#[test]
fn many_idle_sockets_do_not_stop_real_requests() {
    let api = Api::start();
    let idle: Vec<TcpStream> = (0..1100).filter_map(|_| TcpStream::connect(&api.addr).ok()).collect();
    assert!(idle.len() > 1000);
    // beyond the connection cap, a real request waits at most for idle ones to time out
    let (status, _) = api.call("GET", "/healthz", None, "application/json", b"");
    assert_eq!(status, 200);
    drop(idle);
}

/// `name{labels} value` lines as (name with labels, value); panics on anything else.
fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .filter(|l| {
            if let Some(comment) = l.strip_prefix("# ") {
                assert!(comment.starts_with("HELP ") || comment.starts_with("TYPE "), "bad comment: {l}");
                return false;
            }
            true
        })
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {l}"));
            let name_end = series.find('{').unwrap_or(series.len());
            let name = &series[..name_end];
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad name: {l}");
            if name_end < series.len() {
                assert!(series.ends_with('}'), "bad labels: {l}");
            }
            (series.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value: {l}")))
        })
        .collect()
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_when_messages_flow() {
    let api = Api::start();
    api.deploy("text-processor", "text_processor", json!({ "messaging": {} }), json!({}));
    let scrape = || {
        let (status, body) = api.call("GET", "/metrics", Some(TOKEN), "application/json", b"");
        assert_eq!(status, 200);
        parse_prometheus(body.as_str().unwrap())
    };
    let value = |metrics: &[(String, f64)], series: &str| metrics.iter().find(|(s, _)| s == series).map(|(_, v)| *v);
    let before = scrape();
    let series = r#"caxton_agent_messages_total{agent="text-processor"}"#;
    assert_eq!(value(&before, series), Some(0.0));
    for _ in 0..3 {
        api.admin("POST", "/v1/messages?wait_ms=10000", &uppercase("x"));
    }
    let after = scrape();
    assert_eq!(value(&after, series), Some(3.0));
    let count = value(&after, r#"caxton_agent_handle_seconds_count{agent="text-processor"}"#).unwrap();
    assert!(count >= 4.0, "init, capabilities and three messages were timed: {count}");
    assert!(value(&after, r#"caxton_agent_handle_seconds_bucket{agent="text-processor",le="+Inf"}"#).is_some());
}

#[test]
fn the_openapi_document_matches_the_routes() {
    let api = Api::start();
    let (status, doc) = api.call("GET", "/v1/openapi.json", None, "application/json", b"");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (path.clone(), m.to_uppercase())))
        .collect();
    let routed: Vec<(String, String)> = caxton::http::routes::ROUTES
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(move |m| (p.to_string(), m.to_string())))
        .collect();
    let (mut d, mut r) = (documented.clone(), routed.clone());
    d.sort();
    r.sort();
    assert_eq!(d, r, "the document lists exactly the routes");
    for (path, method) in routed {
        let (status, body) =
            api.call(&method, &path.replace("{name}", "nobody"), Some(TOKEN), "application/json", b"{}");
        assert!(
            status != 405 && !(status == 404 && body["error"]["code"] == "not-found"),
            "{method} {path} is documented but not served: {status}"
        );
    }
}
