//! What an operator watches, through the real server: the event stream
//! (`GET /v1/events`, `caxton watch`) and agents' log lines
//! (`GET /v1/agents/{name}/logs`, `caxton logs`).

use crate::support::api::{Api, TOKEN};
use crate::support::process::bin;
use crate::support::{process_data, root};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A subscriber of a server's event stream, read on a thread of its own: each
/// event as (its SSE event name, its data as JSON).
struct Watch {
    events: mpsc::Receiver<(String, Value)>,
}

impl Watch {
    /// Subscribe to `/v1/events?{query}` and wait until the server says the watcher is in place.
    fn open(api: &Api, query: &str) -> Watch {
        let (tx, events) = mpsc::channel();
        let (addr, path) = (api.addr.clone(), format!("/v1/events?{query}"));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                use eventsource_stream::Eventsource;
                use http_body_util::{BodyExt, Empty};
                let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let io = hyper_util::rt::TokioIo::new(stream);
                let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(conn);
                let request = hyper::Request::get(&path)
                    .header("host", &addr)
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .body(Empty::<bytes::Bytes>::new())
                    .unwrap();
                let response = sender.send_request(request).await.unwrap();
                assert_eq!(response.status(), 200);
                let mut events = response.into_body().into_data_stream().eventsource();
                while let Some(Ok(event)) = events.next().await {
                    let data = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                    if tx.send((event.event, data)).is_err() {
                        return;
                    }
                }
            });
        });
        let watch = Watch { events };
        assert_eq!(watch.next().0, "ready");
        watch
    }

    /// The next event (the 60 s bound only stops a broken test).
    fn next(&self) -> (String, Value) {
        self.events.recv_timeout(Duration::from_secs(60)).expect("no event within 60 s")
    }

    /// Events until one that `wanted` picks, which is returned.
    fn until(&self, wanted: impl Fn(&str, &Value) -> bool) -> Value {
        loop {
            let (name, data) = self.next();
            if wanted(&name, &data) {
                return data;
            }
        }
    }
}

fn uppercase(text: &str) -> Value {
    json!({ "performative": "request", "receiver": "text-processor", "content": process_data("uppercase", "data", text) })
}

fn deploy_text_processor(api: &Api) {
    let (status, body) = api.deploy("text-processor", "text_processor", json!({ "messaging": {} }), json!({}));
    assert_eq!(status, 201, "{body}");
}

#[test]
fn a_subscriber_sees_the_request_delivered_and_the_agents_answer() {
    let api = Api::start();
    deploy_text_processor(&api);
    let watch = Watch::open(&api, "agent=text-processor&kind=message");
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &uppercase("hello"));
    assert_eq!(status, 200, "{reply}");
    let request = watch.until(|name, e| name == "message" && e["message"]["performative"] == "request");
    assert_eq!(request["outcome"], "delivered");
    assert_eq!(request["message"]["sender"], "http-client");
    assert_eq!(request["receivers"], json!(["text-processor"]));
    assert_eq!(request["message"]["content"]["data"]["data"], "hello", "the whole message travels: {request}");
    let inform = watch.until(|name, e| name == "message" && e["message"]["performative"] == "inform");
    assert_eq!(inform["message"]["sender"], "text-processor");
    assert_eq!(inform["message"]["conversation_id"], request["message"]["conversation_id"]);
    assert!(inform["seq"].as_u64() > request["seq"].as_u64());
}

#[test]
fn refusals_dead_letters_failures_and_restarts_are_events() {
    let api = Api::start();
    let (status, body) = api.deploy("misbehaver", "misbehaver", json!({ "messaging": {}, "kv-store": {} }), json!({}));
    assert_eq!(status, 201, "{body}");
    let watch = Watch::open(&api, "");
    let nobody = json!({ "performative": "inform", "receiver": "nobody", "content": 1 });
    assert_eq!(api.admin("POST", "/v1/messages", &nobody).0, 404);
    let refused = watch.until(|name, _| name == "message");
    assert_eq!((refused["outcome"].as_str(), refused["reason"].as_str()), (Some("refused"), Some("no-such-agent")));
    let panic = json!({ "performative": "request", "receiver": "misbehaver", "content": { "action": "panic" } });
    let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &panic);
    assert_eq!((status, reply["performative"].as_str()), (200, Some("failure")), "{reply}");
    let failure = watch.until(|name, _| name == "failure");
    assert_eq!((failure["agent"].as_str(), failure["reason"].as_str()), (Some("misbehaver"), Some("trap")));
    let dead = watch.until(|name, e| name == "message" && e["outcome"] == "dead-lettered");
    assert_eq!(dead["reason"], "receiver-failed");
    let restarted = watch.until(|name, _| name == "lifecycle");
    assert_eq!((restarted["agent"].as_str(), restarted["change"].as_str()), (Some("misbehaver"), Some("restarted")));
    assert_eq!(api.admin("DELETE", "/v1/agents/misbehaver", &Value::Null).0, 200);
    let removed = watch.until(|name, e| name == "lifecycle" && e["change"] == "removed");
    assert_eq!(removed["agent"], "misbehaver");
}

#[test]
fn a_subscriber_that_never_reads_is_told_what_it_missed_and_sends_go_on() {
    let api = Api::start();
    deploy_text_processor(&api);
    // subscribe, then read nothing while far more than the ring and the socket buffers hold goes by
    let mut idle = TcpStream::connect(&api.addr).unwrap();
    write!(idle, "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n", api.addr).unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let big = "x".repeat(60_000);
    for _ in 0..600 {
        let (status, reply) = api.admin("POST", "/v1/messages?wait_ms=10000", &uppercase(&big));
        assert_eq!(status, 200, "a send was held up or refused: {reply}");
    }
    idle.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let needle = b"event: missed";
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let n = idle.read(&mut chunk).expect("the stream ended before telling the subscriber what it missed");
        assert!(n > 0, "the stream closed without an `event: missed`");
        seen.extend_from_slice(&chunk[..n]);
        assert!(seen.len() < 200 << 20, "more than 200 MiB buffered for one subscriber");
    }
}

#[test]
fn an_agents_log_lines_are_kept_escaped_and_read_from_where_a_tail_left_off() {
    let api = Api::start();
    let (status, body) = api.deploy("misbehaver", "misbehaver", json!({ "messaging": {}, "kv-store": {} }), json!({}));
    assert_eq!(status, 201, "{body}");
    let shout =
        json!({ "performative": "request", "receiver": "misbehaver", "content": { "action": "shout", "lines": 3 } });
    assert_eq!(api.admin("POST", "/v1/messages?wait_ms=10000", &shout).0, 200);
    let (status, logs) = api.admin("GET", "/v1/agents/misbehaver/logs", &Value::Null);
    assert_eq!(status, 200, "{logs}");
    let lines = logs["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{logs}");
    assert_eq!(lines[0]["source"], "stdout");
    assert_eq!(lines[2]["text"], "\\u{1b}[2J\\u{1b}[31mline 2\\u{1b}[0m", "control characters arrive escaped");
    let since = lines[1]["seq"].as_u64().unwrap();
    let (_, rest) = api.admin("GET", &format!("/v1/agents/misbehaver/logs?since={since}"), &Value::Null);
    assert_eq!(rest["lines"].as_array().unwrap().len(), 1, "{rest}");
    let (status, bad) = api.admin("GET", "/v1/agents/misbehaver/logs?since=yesterday", &Value::Null);
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("bad-query")));
    let (status, missing) = api.admin("GET", "/v1/agents/nobody/logs", &Value::Null);
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("no-such-agent")));

    let out = api.caxton(&["logs", "misbehaver"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.lines().count(), 3, "{printed}");
    assert!(printed.contains("[stdout] \\u{1b}[2J") && !printed.contains('\u{1b}'), "{printed}");

    let mut follow = Command::new(bin())
        .args(["logs", "-f", "misbehaver", "--server", &format!("http://{}", api.addr), "--token", TOKEN])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut followed = BufReader::new(follow.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        followed.next().unwrap().unwrap(); // the kept lines: it watches from here on
    }
    let shout =
        json!({ "performative": "request", "receiver": "misbehaver", "content": { "action": "shout", "lines": 2 } });
    assert_eq!(api.admin("POST", "/v1/messages?wait_ms=10000", &shout).0, 200);
    let new = [followed.next().unwrap().unwrap(), followed.next().unwrap().unwrap()];
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(new[0].contains("line 0") && new[1].contains("line 1"), "{new:?}");
}

#[test]
fn a_logging_call_lands_in_the_ring_with_its_level_and_context() {
    let api = Api::start();
    let grants = json!({ "messaging": {}, "logging": { "max-level": "info" } });
    let (status, body) = api.deploy("std-logger", "std_logger", grants, json!({}));
    assert_eq!(status, 201, "{body}");
    let note = json!({ "performative": "inform", "receiver": "std-logger", "content": "note" });
    let watch = Watch::open(&api, "kind=log");
    assert_eq!(api.admin("POST", "/v1/messages", &note).0, 202);
    let event = watch.until(|name, _| name == "log");
    let line = &event["line"];
    assert_eq!((line["agent"].as_str(), line["source"].as_str()), (Some("std-logger"), Some("logging")));
    assert_eq!((line["level"].as_str(), line["context"].as_str()), (Some("info"), Some("std-logger")));
    let (_, logs) = api.admin("GET", "/v1/agents/std-logger/logs", &Value::Null);
    assert_eq!(&logs["lines"][0], line, "the ring keeps what the stream showed");
}

#[test]
fn caxton_watch_prints_events_live_and_follows_filters() {
    let api = Api::start();
    deploy_text_processor(&api);
    let mut watch = Command::new(bin())
        .args(["watch", "--agent", "text-processor", "--server", &format!("http://{}", api.addr), "--token", TOKEN])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = BufReader::new(watch.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(line.starts_with("watching"), "{line}");
    assert_eq!(api.admin("POST", "/v1/messages?wait_ms=10000", &uppercase("hi")).0, 200);
    let mut printed = BufReader::new(watch.stdout.take().unwrap()).lines();
    let first = printed.next().unwrap().unwrap();
    let second = printed.next().unwrap().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(first.contains("delivered") && first.contains("request") && first.contains("http-client → text-processor"));
    assert!(second.contains("inform") && second.contains("text-processor → http-client"), "{second}");

    let out = api.caxton(&["watch", "--kind", "gossip"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`gossip` is not an event kind"));
}

#[test]
fn a_callers_traceparent_follows_the_conversation_from_agent_to_agent() {
    let api = Api::start();
    for name in ["relay-a", "relay-b"] {
        let (status, body) = api.deploy(name, "relay", json!({ "messaging": {}, "kv-store": {} }), json!({}));
        assert_eq!(status, 201, "{body}");
    }
    let watch = Watch::open(&api, "kind=message");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let body = json!({ "performative": "request", "receiver": "relay-a",
                       "content": { "action": "count", "via": "relay-b" } })
    .to_string();
    let request = format!(
        "POST /v1/messages?wait_ms=10000 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\ntraceparent: {traceparent}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        api.addr,
        body.len()
    );
    let (status, reply) = api.raw(request.as_bytes()).unwrap();
    assert_eq!(status, 200, "{reply}");
    // client → relay-a → relay-b → relay-a → client: four messages, one trace
    let mut hops = Vec::new();
    while hops.len() < 4 {
        let event = watch.until(|name, _| name == "message");
        hops.push((event["message"]["sender"].clone(), event["receivers"][0].clone(), event["traceparent"].clone()));
    }
    let parties: Vec<(&str, &str)> = hops.iter().map(|(s, r, _)| (s.as_str().unwrap(), r.as_str().unwrap())).collect();
    assert_eq!(
        parties,
        [("http-client", "relay-a"), ("relay-a", "relay-b"), ("relay-b", "relay-a"), ("relay-a", "http-client")]
    );
    for (_, _, trace) in &hops {
        assert_eq!(
            trace.as_str(),
            Some(traceparent),
            "every message of the chain carries the caller's trace: {hops:?}"
        );
    }
    // without the header (or with one that is not a traceparent) a message belongs to no trace
    let plain = json!({ "performative": "request", "receiver": "relay-b", "content": { "action": "total" } });
    assert_eq!(api.admin("POST", "/v1/messages?wait_ms=10000", &plain).0, 200);
    let untraced = watch.until(|name, _| name == "message");
    assert!(untraced.get("traceparent").is_none(), "{untraced}");
}
