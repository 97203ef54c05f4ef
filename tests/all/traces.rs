//! OpenTelemetry traces: `caxton serve --otlp-endpoint URL` exports a span per
//! handled message or timer over OTLP/HTTP, each the child of the span that
//! sent its message, inside the caller's trace when the first message came with
//! a `traceparent`. Checked against a real OTLP/HTTP receiver and the real binary.

use crate::support::component;
use crate::support::otlp::{Collector, Span};
use crate::support::process::{http, spawn_server, Killed};
use std::io::{Read, Write};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A deployment file in `dir` of `agents` (name, component), each granted messaging and a kv-store.
fn deployment(dir: &std::path::Path, agents: &[(&str, &str)]) -> std::path::PathBuf {
    let mut toml = String::from("[deployment]\nname = \"traced\"\n");
    for (name, wasm) in agents {
        toml.push_str(&format!(
            "[[agent]]\nname = \"{name}\"\ncomponent = {:?}\n[agent.grants]\nmessaging = {{ send-to = [\"*\"] }}\nkv-store = {{}}\n",
            component(wasm).display()
        ));
    }
    let file = dir.join("traced.toml");
    std::fs::write(&file, toml).unwrap();
    file
}

/// `caxton serve` of `agents`, exporting spans to `endpoint`.
fn serve_traced(dir: &std::path::Path, agents: &[(&str, &str)], endpoint: &str) -> (Killed, String) {
    let file = deployment(dir, agents);
    let data = dir.join("data");
    let args = ["--deployment", file.to_str().unwrap(), "--data", data.to_str().unwrap(), "--otlp-endpoint", endpoint];
    let (server, addr) = spawn_server(&args);
    (Killed(server), addr)
}

/// Stop the server as an operator would (SIGTERM) and wait for its clean exit.
fn terminate(server: Killed) {
    let mut server = server;
    let pid = server.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(server.0.wait().unwrap().success(), "SIGTERM is a clean exit");
}

/// The span of `agent` handling a `performative`, in `spans`.
fn handling<'a>(spans: &'a [Span], agent: &str, performative: &str) -> Option<&'a Span> {
    spans.iter().find(|s| s.attr("caxton.agent") == agent && s.attr("fipa.performative") == performative)
}

#[test]
fn a_conversation_started_with_a_traceparent_is_one_trace_of_chained_spans() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let relays = [("relay-a", "relay"), ("relay-b", "relay"), ("relay-c", "relay")];
    let (server, addr) = serve_traced(dir.path(), &relays, &collector.url);
    let body = serde_json::json!({
        "performative": "request", "receiver": "relay-a", "protocol": "fipa-request",
        "conversation_id": "traced-chain", "content": { "action": "count", "via": "relay-b,relay-c" }
    })
    .to_string();
    let mut client = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        client,
        "POST /v1/messages?wait_ms=10000 HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\ntraceparent: 00-{CALLER_TRACE}-{CALLER_SPAN}-01\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""performative":"inform""#), "{answer}");
    // a message without a traceparent starts a trace of its own
    let plain = r#"{"performative":"request","receiver":"relay-c","content":{"action":"total"}}"#;
    assert_eq!(http(&addr, "POST", "/v1/messages?wait_ms=10000", plain).unwrap().0, 200);
    // what is queued for export is sent before the server exits
    terminate(server);

    let spans = collector.spans();
    let in_trace: Vec<Span> = spans.iter().filter(|s| s.trace_id == CALLER_TRACE).cloned().collect();
    let a = handling(&in_trace, "relay-a", "request").expect("relay-a's span is in the caller's trace");
    let b = handling(&in_trace, "relay-b", "request").expect("relay-b's span is in the caller's trace");
    let c = handling(&in_trace, "relay-c", "request").expect("relay-c's span is in the caller's trace");
    assert_eq!(a.parent_span_id, CALLER_SPAN, "the initiator's span is the caller's span's child");
    assert_eq!(b.parent_span_id, a.span_id, "the responder's span is the initiator's child");
    assert_eq!(c.parent_span_id, b.span_id, "the third agent's span is the responder's child");
    // the answers travel back down the same trace, each a child of the span that sent it
    let b_answered = handling(&in_trace, "relay-b", "inform").expect("relay-b handled relay-c's answer");
    let a_answered = handling(&in_trace, "relay-a", "inform").expect("relay-a handled relay-b's answer");
    assert_eq!(b_answered.parent_span_id, c.span_id);
    assert_eq!(a_answered.parent_span_id, b_answered.span_id);
    assert_eq!(in_trace.len(), 5, "one span per handled message: {in_trace:#?}");

    assert_eq!(a.name, "relay-a: request");
    assert_eq!(a.attr("fipa.sender"), "http-client");
    assert_eq!(a.attr("fipa.conversation_id"), "traced-chain");
    assert_eq!(a.attr("fipa.protocol"), "fipa-request");
    assert_eq!(c.attr("fipa.sender"), "relay-b");
    for span in &in_trace {
        assert_eq!(span.attr("caxton.outcome"), "handled", "{span:#?}");
        assert!(span.attr("caxton.fuel").parse::<u64>().unwrap() > 0, "{span:#?}");
        assert!(span.instance.starts_with("caxton-"), "a process id outside a cluster: {span:#?}");
        assert_eq!(span.instance, a.instance, "one process, one instance id");
    }
    let total = spans.iter().find(|s| s.trace_id != CALLER_TRACE && s.attr("caxton.agent") == "relay-c");
    let total = total.expect("the untraced request has a span");
    assert!(total.parent_span_id.is_empty(), "it is the root of a new trace: {total:#?}");
}

#[test]
fn a_failed_handling_is_an_error_span_naming_the_reason() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let traces_url = format!("{}/v1/traces", collector.url);
    let (server, addr) = serve_traced(dir.path(), &[("misbehaver", "misbehaver")], &traces_url);
    let ask = r#"{"performative":"request","receiver":"misbehaver","content":{"action":"panic"}}"#;
    let (status, reply) = http(&addr, "POST", "/v1/messages?wait_ms=10000", ask).unwrap();
    assert_eq!((status, reply["performative"].as_str()), (200, Some("failure")), "{reply}");
    // exported while the server runs (in the batch the exporter sends every few seconds)
    let spans = collector.wait_for("span of the failed handling", |s| handling(s, "misbehaver", "request").is_some());
    terminate(server);
    let span = handling(&spans, "misbehaver", "request").unwrap();
    assert_eq!(span.attr("caxton.outcome"), "failed", "{span:#?}");
    assert_eq!(span.attr("caxton.failure_reason"), "trap", "{span:#?}");
    assert!(span.error, "the span's status is an error: {span:#?}");
}

#[test]
fn an_endpoint_that_is_not_an_http_url_stops_the_server_with_a_sentence() {
    let out = std::process::Command::new(crate::support::process::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--otlp-endpoint", "grpc://collector:4317"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("is not an OTLP/HTTP endpoint") && said.contains("4318"), "{said}");
}

#[test]
fn spans_chain_across_hosts_of_a_cluster() {
    use crate::support::nats::{key_file, Host, Nats};
    let (collector, nats, dir) = (Collector::start(), Nats::start(), tempfile::tempdir().unwrap());
    let file = deployment(dir.path(), &[("relay-a", "relay"), ("relay-b", "relay")]);
    let key = key_file(dir.path());
    let host = |id: &str, agent: &str| {
        let args = ["--deployment", file.to_str().unwrap(), "--agents", agent, "--otlp-endpoint", &collector.url];
        Host::start(&nats, id, &key, &dir.path().join(id), &args)
    };
    let (a, _b) = (host("a", "relay-a"), host("b", "relay-b"));
    a.wait_for("b", "relay-b", true);
    let body = r#"{"performative":"request","receiver":"relay-a","content":{"action":"count","via":"relay-b"}}"#;
    let mut client = std::net::TcpStream::connect(&a.addr).unwrap();
    write!(
        client,
        "POST /v1/messages?wait_ms=10000 HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\ntraceparent: 00-{CALLER_TRACE}-{CALLER_SPAN}-01\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        a.addr,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let spans = collector.wait_for("spans of both hosts", |s| {
        handling(s, "relay-b", "request").is_some() && handling(s, "relay-a", "inform").is_some()
    });
    let on_a = handling(&spans, "relay-a", "request").expect("host a exported relay-a's span");
    let on_b = handling(&spans, "relay-b", "request").unwrap();
    let back_on_a = handling(&spans, "relay-a", "inform").unwrap();
    assert_eq!((on_a.instance.as_str(), on_b.instance.as_str()), ("a", "b"), "each host exports its own spans");
    for span in [on_a, on_b, back_on_a] {
        assert_eq!(span.trace_id, CALLER_TRACE, "{span:#?}");
    }
    assert_eq!(on_a.parent_span_id, CALLER_SPAN);
    assert_eq!(on_b.parent_span_id, on_a.span_id, "host b's span is the child of host a's");
    assert_eq!(back_on_a.parent_span_id, on_b.span_id, "and the answer's span on host a is host b's child");
}

#[test]
fn a_collector_that_does_not_answer_is_reported_once_in_the_log_and_agents_carry_on() {
    use std::io::BufRead;
    // a port nothing listens on
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = deployment(dir.path(), &[("relay-a", "relay")]);
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(crate::support::process::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--deployment", file.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap(), "--otlp-endpoint", &format!("http://{closed}")])
        .env("RUST_LOG", "info")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    let server = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let next_line = |said: &mut Vec<String>| {
        let line = rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap_or_else(|_| panic!("{said:#?}"));
        said.push(line.clone());
        line
    };
    let addr = loop {
        if let Some(addr) = next_line(&mut said).split("caxton listening on http://").nth(1) {
            break addr.to_string();
        }
    };
    for _ in 0..3 {
        let ask = r#"{"performative":"request","receiver":"relay-a","content":{"action":"total"}}"#;
        assert_eq!(http(&addr, "POST", "/v1/messages?wait_ms=10000", ask).unwrap().0, 200);
    }
    while !next_line(&mut said).contains(&format!("cannot export spans to http://{closed}/v1/traces")) {}
    // the agents answer as before, and the next failed batches say nothing more
    let ask = r#"{"performative":"request","receiver":"relay-a","content":{"action":"total"}}"#;
    assert_eq!(http(&addr, "POST", "/v1/messages?wait_ms=10000", ask).unwrap().0, 200);
    terminate(server);
    let after: Vec<String> = rx.try_iter().collect();
    assert!(!after.iter().any(|l| l.contains("cannot export spans")), "reported once: {after:#?}");
}
