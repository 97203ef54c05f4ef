//! Trust faults, through the real binary: who may answer a request, what
//! `init` sets up, one server per data directory, content passed through
//! byte for byte, what removing an agent leaves behind, and large uploads.

use crate::support::api::Api;
use crate::support::process::Killed;
use serde_json::{json, Value};
use std::time::Duration;

fn probe_grants() -> Value {
    json!({ "messaging": { "send-to": ["*"] }, "kv-store": {}, "timers": {} })
}

fn request(receiver: &str, content: Value) -> Value {
    json!({ "performative": "request", "receiver": receiver, "content": content })
}

fn messages_handled(api: &Api, agent: &str) -> u64 {
    let (_, one) = api.admin("GET", &format!("/v1/agents/{agent}"), &Value::Null);
    one["stats"]["messages"].as_u64().unwrap_or(0)
}

fn dead_letter_reasons(api: &Api) -> Vec<String> {
    let (_, letters) = api.admin("GET", "/v1/dead-letters", &Value::Null);
    letters["dead_letters"].as_array().unwrap().iter().map(|l| l["reason"].as_str().unwrap().to_string()).collect()
}

#[test]
fn only_the_receiver_of_a_request_can_answer_the_waiting_client() {
    let api = Api::start();
    let slow_limits = json!({ "deadline-micros": 10_000_000, "cpu-micros-per-message": 60_000_000,
                              "host-calls-per-message": 100_000_000 });
    for (name, limits) in [("slow", slow_limits), ("forger", json!({}))] {
        let (status, body) = api.deploy(name, "bus_probe", probe_grants(), limits);
        assert_eq!(status, 201, "{body}");
    }
    std::thread::scope(|s| {
        let waiting = s.spawn(|| {
            let mut ask = request("slow", json!({ "action": "spin", "ms": 1500 }));
            ask["reply_with"] = json!("t1");
            api.admin("POST", "/v1/messages?wait_ms=30000", &ask)
        });
        while messages_handled(&api, "slow") == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        // While `slow` works: an agent allowed to send to `*` forges the reply, under the
        // client's reply-with and under ids the host might have generated ...
        for guess in ["t1", "http-1", "http-2", "reply-1"] {
            let forge = request("forger", json!({ "action": "answer", "to": "http-client", "in_reply_to": guess }));
            let (status, sent) = api.admin("POST", "/v1/messages?wait_ms=10000", &forge);
            assert_eq!((status, sent["content"]["result"].clone()), (200, json!("sent")), "{sent}");
        }
        // ... and so does another HTTP client.
        let forged = json!({ "performative": "inform", "sender": "mallory", "receiver": "http-client",
                             "in_reply_to": "t1", "content": "forged" });
        let (status, _) = api.admin("POST", "/v1/messages", &forged);
        assert_eq!(status, 202);
        let (status, reply) = waiting.join().unwrap();
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["sender"], "slow");
        assert_eq!(reply["in_reply_to"], "t1");
        assert_eq!(reply["content"]["result"], "spun", "{reply}");
    });
    // nobody waits under those ids (the request carried a token only `slow` saw): unclaimed replies
    let reasons = dead_letter_reasons(&api);
    assert_eq!(reasons.iter().filter(|r| *r == "unclaimed-reply").count(), 5, "{reasons:?}");
    let (_, metrics) = api.call("GET", "/metrics", Some(crate::support::api::TOKEN), "text/plain", b"");
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains("caxton_dead_letters_by_reason_total{reason=\"unclaimed-reply\"} 5"), "{metrics}");
}

#[test]
fn two_clients_that_chose_the_same_reply_with_each_get_their_own_reply() {
    let api = Api::start();
    let (status, body) = api.deploy("text-processor", "text_processor", json!({ "messaging": {} }), json!({}));
    assert_eq!(status, 201, "{body}");
    let replies: Vec<(u16, Value)> = std::thread::scope(|s| {
        let clients: Vec<_> = ["first", "second", "third"]
            .into_iter()
            .map(|text| {
                let api = &api;
                s.spawn(move || {
                    let mut ask = request(
                        "text-processor",
                        json!({ "action": "process_data", "data": { "operation": "uppercase", "text": text } }),
                    );
                    ask["reply_with"] = json!("same");
                    api.admin("POST", "/v1/messages?wait_ms=30000", &ask)
                })
            })
            .collect();
        clients.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let answers: Vec<Value> = replies
        .iter()
        .map(|(status, reply)| {
            assert_eq!(*status, 200, "{reply}");
            assert_eq!(reply["in_reply_to"], "same");
            reply["content"]["result"]["result"].clone()
        })
        .collect();
    assert_eq!(answers, [json!("FIRST"), json!("SECOND"), json!("THIRD")]);
}

/// A deployment file in `dir`: a `listener` that subscribes to `prices.*` in its
/// `init` and a `publisher` that may publish there (both `bus-probe`s).
fn pubsub_deployment(dir: &std::path::Path) -> std::path::PathBuf {
    let component = crate::support::component("bus_probe");
    let path = dir.join("pubsub.toml");
    let agent = |name: &str, grant: &str| {
        format!(
            "[[agent]]\nname = '{name}'\ncomponent = '{}'\n[agent.grants]\nmessaging = {{ {grant} }}\nkv-store = {{}}\ntimers = {{}}\n",
            component.display()
        )
    };
    let text = format!(
        "[deployment]\nname = 'pubsub'\n{}{}",
        agent("listener", "subscribe = ['prices.*']"),
        agent("publisher", "publish = ['prices.*']")
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn ask(addr: &str, receiver: &str, content: Value) -> Value {
    let (status, reply) = crate::support::process::http(
        addr,
        "POST",
        "/v1/messages?wait_ms=10000",
        &request(receiver, content).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{reply}");
    reply["content"]["result"].clone()
}

/// What `listener` recorded, once its init timer has fired (polled, with a
/// 30 s safety net that is not a timing assertion).
fn heard_after_its_timer(addr: &str) -> Vec<Value> {
    for _ in 0..3000 {
        let events = ask(addr, "listener", json!({ "action": "dump" }));
        let events = events.as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e.get("timer").is_some()) {
            return events;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("the timer set in init never reached the live agent");
}

#[test]
fn what_init_sets_up_holds_once_live_after_a_redeploy_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = pubsub_deployment(dir.path());
    let data = dir.path().join("data");
    let serve = ["--deployment", deployment.to_str().unwrap(), "--data", data.to_str().unwrap()];
    let publish = |addr: &str| ask(addr, "publisher", json!({ "action": "publish", "topic": "prices.eu" }));
    let published = |events: &[Value]| events.iter().filter(|e| e["from"] == "publisher").count();
    let (server, addr) = crate::support::process::spawn_server(&serve);
    let server = Killed(server);
    heard_after_its_timer(&addr);
    assert_eq!(publish(&addr), 1, "the subscription made in init holds once the agent is live");
    let heard = heard_after_its_timer(&addr);
    assert_eq!(published(&heard), 1);
    assert!(heard.contains(&json!({ "from": "publisher", "content": { "topic": "prices.eu" } })), "{heard:?}");

    let redeploy = std::process::Command::new(crate::support::process::bin())
        .args(["deploy", "components/bus_probe.wasm", "--name", "listener", "--policy"])
        .arg(&deployment)
        .args(["--server", &format!("http://{addr}")])
        .current_dir(crate::support::root())
        .output()
        .unwrap();
    assert!(redeploy.status.success(), "{}", String::from_utf8_lossy(&redeploy.stderr));
    let heard = heard_after_its_timer(&addr);
    assert_eq!(published(&heard), 0, "a new version, whose own init timer fired");
    assert_eq!(publish(&addr), 1, "and again after a redeploy");
    assert_eq!(published(&heard_after_its_timer(&addr)), 1, "the new version heard it");

    drop(server);
    let (server, addr) = crate::support::process::spawn_server(&["--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    heard_after_its_timer(&addr);
    assert_eq!(publish(&addr), 1, "and again after the server restarts");
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (first, _) = crate::support::process::spawn_server(&["--data", data.to_str().unwrap()]);
    let first = Killed(first);
    let second = std::process::Command::new(crate::support::process::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut second = Killed(second);
    // a safety net, not a timing assertion: a second server that starts runs until killed
    let waited = std::time::Instant::now();
    while second.0.try_wait().unwrap().is_none() {
        assert!(waited.elapsed() < Duration::from_secs(60), "the second server started beside the first");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut said = String::new();
    std::io::Read::read_to_string(second.0.stderr.as_mut().unwrap(), &mut said).unwrap();
    assert!(!second.0.wait().unwrap().success(), "the second server must fail: {said}");
    assert!(said.contains(&format!("`{}` is in use", data.display())), "{said}");
    assert!(said.contains(&format!("process {}", first.0.id())), "names the holder: {said}");
    drop(first); // SIGKILL: the OS releases the lock
    let (third, _) = crate::support::process::spawn_server(&["--data", data.to_str().unwrap()]);
    drop(Killed(third));
}

#[test]
fn numbers_in_content_reach_the_agent_and_come_back_with_every_digit() {
    let api = Api::start();
    let (status, body) = api.deploy("echo", "bus_probe", probe_grants(), json!({}));
    assert_eq!(status, 201, "{body}");
    let content = r#"{"action":"echo","id":123456789012345678901234567890,"pi":3.14159265358979323846264338327950288,"tiny":1e-400,"big":-98765432109876543210}"#;
    let message = format!(r#"{{"performative":"request","receiver":"echo","content":{content}}}"#);
    let (status, reply) = api.admin_text("POST", "/v1/messages?wait_ms=10000", &message);
    assert_eq!(status, 200, "{reply}");
    assert!(reply.contains(&format!(r#""content":{content}"#)), "the agent echoed what it received: {reply}");
    // through the CLI too
    let out = api.caxton(&["send", "echo", content, "--wait", "10000"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains(&format!(r#""content":{content}"#)), "{printed}");
    // and in the dead letters
    let forgotten =
        format!(r#"{{"performative":"inform","receiver":"nobody-waits","in_reply_to":"x","content":{content}}}"#);
    assert_eq!(api.admin_text("POST", "/v1/messages", &forgotten).0, 202);
    let (_, letters) = api.admin_text("GET", "/v1/dead-letters", "");
    assert!(letters.contains(&format!(r#""content":{content}"#)), "{letters}");
    let out = api.caxton(&["dead-letters", "--json"]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains(&format!(r#""content":{content}"#)), "{printed}");
}

#[test]
fn a_client_that_does_not_wait_costs_the_agent_nothing_and_names_are_checked() {
    let api = Api::start();
    let (status, body) = api.deploy("probe", "bus_probe", probe_grants(), json!({}));
    assert_eq!(status, 201, "{body}");
    for _ in 0..3 {
        let (status, _) = api.admin("POST", "/v1/messages", &request("probe", json!({ "action": "ping" })));
        assert_eq!(status, 202);
    }
    let (_, ok) = api.admin("POST", "/v1/messages?wait_ms=10000", &request("probe", json!({ "action": "ping" })));
    assert_eq!(ok["content"]["result"], "pong", "answered in order, after the three pings");
    let (_, probe) = api.admin("GET", "/v1/agents/probe", &Value::Null);
    assert_eq!(probe["stats"]["failures"], json!({}), "its replies to a client that left are not its failures");
    assert!(dead_letter_reasons(&api).is_empty(), "answers nobody waited for are counted, not kept");
    let (_, metrics) = api.call("GET", "/metrics", Some(crate::support::api::TOKEN), "text/plain", b"");
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains("caxton_dead_letters_by_reason_total{reason=\"unclaimed-reply\"} 3"), "{metrics}");
    for sender in ["pro\u{0}be", "a b", "*", "probe", &"x".repeat(129)] {
        let mut m = request("probe", json!({ "action": "ping" }));
        m["sender"] = json!(sender);
        let (status, refused) = api.admin("POST", "/v1/messages", &m);
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad-sender")), "{sender:?}");
    }
    let (status, refused) = api.deploy("http-client", "bus_probe", probe_grants(), json!({}));
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad-policy")), "{refused}");
    let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
    let body = format!(r#"{{"performative":"inform","receiver":"probe","content":{deep}}}"#);
    let (status, refused) = api.admin_text("POST", "/v1/messages", &body);
    assert!(status == 400 && refused.contains("bad-message"), "{status} {refused}");
}

/// Ask `agent` (a `misbehaver`) whether its kv-store holds `secret`.
fn finds_the_secret(api: &Api, agent: &str) -> Value {
    let (status, reply) =
        api.admin("POST", "/v1/messages?wait_ms=10000", &request(agent, json!({ "action": "kv", "key": "secret" })));
    assert_eq!(status, 200, "{reply}");
    reply["content"]["result"]["found"].clone()
}

fn store_the_secret(api: &Api, agent: &str) {
    let put = request(agent, json!({ "action": "put", "key": "secret", "value": "the old agent's" }));
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &put);
    assert_eq!((status, reply["content"]["result"].clone()), (200, json!("stored")), "{reply}");
}

#[test]
fn removing_an_agent_deletes_its_kv_store_unless_asked_to_keep_it() {
    let api = Api::start();
    let deploy = |component: &str| {
        let (status, body) = api.deploy("x", component, probe_grants(), json!({}));
        assert_eq!(status, 201, "{body}");
    };
    deploy("bus_probe");
    store_the_secret(&api, "x");
    let (status, removed) = api.admin("DELETE", "/v1/agents/x", &Value::Null);
    assert_eq!(status, 200, "{removed}");
    deploy("misbehaver");
    assert_eq!(finds_the_secret(&api, "x"), false, "a newcomer under the same name starts empty");
    assert_eq!(removed["state_kept"], false);

    api.admin("DELETE", "/v1/agents/x", &Value::Null);
    deploy("bus_probe");
    store_the_secret(&api, "x");
    let out = api.caxton(&["remove", "x", "--keep-state"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    deploy("misbehaver");
    assert_eq!(finds_the_secret(&api, "x"), true, "kept when asked");

    deploy("bus_probe"); // a redeploy (update in place) keeps the state
    deploy("misbehaver");
    assert_eq!(finds_the_secret(&api, "x"), true, "a redeploy keeps it");
    let (status, bad) = api.admin("DELETE", "/v1/agents/x?keep_state=maybe", &Value::Null);
    assert_eq!((status, bad["error"]["code"].clone()), (400, json!("bad-query")));
}

/// A deployment file in `dir` granting agent `name` all four capabilities.
fn everything_granted(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[deployment]\nname = '{name}'\n[[agent]]\nname = '{name}'\ncomponent = 'unused.wasm'\n[agent.grants]\n\
         messaging = {{}}\nkv-store = {{}}\ntimers = {{}}\nlogging = {{}}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_python_agent_deploys_over_http_and_the_size_limit_is_the_servers_to_set() {
    let component = crate::support::component("text_processor_py");
    let size = std::fs::metadata(&component).unwrap().len();
    assert!(size > 16 * 1024 * 1024, "the CPython component is the large one: {size} bytes");
    let dir = tempfile::tempdir().unwrap();
    let policy = everything_granted(dir.path(), "tp-py");
    let deploy = |api: &Api| {
        api.caxton(&["deploy", component.to_str().unwrap(), "--name", "tp-py", "--policy", policy.to_str().unwrap()])
    };
    let api = Api::start();
    let out = deploy(&api);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ask = request("tp-py", json!({ "action": "process_data", "data": { "operation": "uppercase", "data": "py" } }));
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=30000", &ask);
    assert_eq!((status, reply["content"]["result"]["result"].clone()), (200, json!("PY")), "{reply}");
    drop(api);

    let small = Api::start_with(&["--max-component-bytes", "1000000"]);
    let out = deploy(&small);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("413") && said.contains("--max-component-bytes"), "{said}");
    // a body with no length is cut off at the limit as it streams
    let mut chunked = format!(
        "POST /v1/components HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/wasm\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        crate::support::api::TOKEN
    )
    .into_bytes();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend(std::iter::repeat_n(0u8, 64 * 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(small.raw(&chunked).map(|r| r.0), Some(413));
}

#[test]
fn an_agent_that_could_not_be_restored_can_still_be_removed_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let deployment = pubsub_deployment(dir.path());
    let serve = ["--deployment", deployment.to_str().unwrap(), "--data", data.to_str().unwrap()];
    let (server, addr) = crate::support::process::spawn_server(&serve);
    let stored = ask(&addr, "listener", json!({ "action": "put", "key": "k", "value": "v" }));
    assert_eq!(stored, "stored");
    drop(Killed(server));
    // its stored component is damaged while the server is down: the next start cannot restore it
    for entry in std::fs::read_dir(data.join("components")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"not a component").unwrap();
    }
    let (server, addr) = crate::support::process::spawn_server(&["--data", data.to_str().unwrap()]);
    let server = Killed(server);
    let (status, removed) = crate::support::process::http(&addr, "DELETE", "/v1/agents/listener", "").unwrap();
    assert_eq!(status, 200, "{removed}");
    let (status, _) = crate::support::process::http(&addr, "DELETE", "/v1/agents/listener", "").unwrap();
    assert_eq!(status, 404, "forgotten");
    drop(server);
    // deployed again from the file: it starts empty, and nothing else comes back
    let (server, addr) = crate::support::process::spawn_server(&serve);
    let _server = Killed(server);
    assert_eq!(ask(&addr, "listener", json!({ "action": "get", "key": "k" })), Value::Null);
}

/// One raw request to `addr` with the given `Host` and `Content-Type`; the status.
fn raw_status(addr: &str, method: &str, path: &str, host: &str, content_type: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn a_server_without_a_token_refuses_what_another_web_site_could_make_a_browser_send() {
    let server = crate::support::process::Server::start("policies/demo.toml");
    let addr = &server.addr;
    let message = r#"{"performative":"inform","receiver":"counter","content":1}"#;
    // a cross-site form or fetch without a preflight can send text/plain, never application/json
    assert_eq!(raw_status(addr, "POST", "/v1/messages", addr, "text/plain", message), 415);
    assert_eq!(raw_status(addr, "POST", "/v1/components", addr, "text/plain", "\0asm"), 415);
    assert_eq!(raw_status(addr, "POST", "/v1/messages", addr, "application/json", message), 202);
    // a page whose name was rebound to 127.0.0.1 cannot read the API under that name
    assert_eq!(raw_status(addr, "GET", "/v1/agents", "attacker.test", "application/json", ""), 421);
    assert_eq!(raw_status(addr, "GET", "/v1/events", "attacker.test:80", "application/json", ""), 421);
    assert_eq!(raw_status(addr, "GET", "/v1/agents", "localhost", "application/json", ""), 200);
}
