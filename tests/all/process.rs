//! The real `caxton` binary, spoken to over real HTTP, as a user would.

use crate::support::component;
use crate::support::process::{caxton, Server};
use serde_json::{json, Value};

fn request(operation: &str, text: &str, reply_with: &str) -> Value {
    json!({
        "performative": "request", "receiver": "text-processor", "reply_with": reply_with,
        "content": { "action": "process_data", "data": { "operation": operation, "data": text } }
    })
}

#[test]
fn the_demo_answers_the_guides_request_over_http() {
    component("text_processor");
    let server = Server::start("policies/demo.toml");
    let (status, reply) = server.send_and_wait(request("uppercase", "hello world", "t1"));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["performative"], "inform");
    assert_eq!(reply["in_reply_to"], "t1");
    assert_eq!(reply["sender"], "text-processor");
    assert_eq!(reply["content"]["result"]["result"], "HELLO WORLD");
    assert!(reply["content"]["result"]["timestamp"].is_u64());
    for (op, input, want) in [("lowercase", "HeLLo", "hello"), ("reverse", "hello", "olleh")] {
        let (_, reply) = server.send_and_wait(request(op, input, op));
        assert_eq!(reply["content"]["result"]["result"], want, "{op}");
    }
    let guide_spelling = json!({
        "performative": "request", "sender": "integration_test", "receiver": "text-processor",
        "reply_with": "test_001",
        "content": { "action": "process_data", "data": { "operation": "uppercase", "text": "hello world" } }
    });
    let (_, reply) = server.send_and_wait(guide_spelling);
    assert_eq!(reply["content"]["result"]["result"], "HELLO WORLD");
    assert_eq!(reply["receiver"], "integration_test");

    let (_, reply) = server
        .send_and_wait(json!({"performative": "request", "receiver": "text-processor", "content": {"action": "fly"}}));
    assert_eq!(reply["performative"], "not-understood");
    let (_, reply) = server.send_and_wait(json!({"performative": "request", "receiver": "text-processor", "content": {"action": "process_data", "data": 7}}));
    assert_eq!(reply["performative"], "failure");
}

#[test]
fn the_demo_counter_counts_and_the_ticker_ticks_over_http() {
    let server = Server::start("policies/demo.toml");
    for want in 1..=2 {
        let (_, reply) = server.send_and_wait(
            json!({"performative": "request", "receiver": "counter", "content": {"action": "increment"}}),
        );
        assert_eq!(reply["content"]["result"]["count"], want);
    }
    let (status, reply) = server.send_and_wait(
        json!({"performative": "request", "receiver": "ticker", "content": {"action": "schedule", "delay_ms": 10}}),
    );
    assert_eq!(status, 200);
    assert!(reply["content"]["result"]["fired_at_ms"].is_u64(), "{reply}");
}

#[test]
fn the_http_api_answers_bad_requests_with_json_errors() {
    let server = Server::start("policies/demo.toml");
    let (status, body) = server.request("GET", "/healthz", "");
    assert_eq!((status, body["status"].clone()), (200, json!("ok")));
    let cases = [
        ("POST", "/v1/messages", "{not json", 400, "bad-json"),
        ("POST", "/v1/messages", r#"{"performative":"request"}"#, 400, "bad-message"),
        ("POST", "/v1/messages", r#"{"performative":"yell","receiver":"counter"}"#, 400, "bad-message"),
        ("POST", "/v1/messages", r#"{"performative":"request","receiver":"nobody"}"#, 404, "no-such-agent"),
        (
            "POST",
            "/v1/messages",
            r#"{"performative":"request","receiver":"counter","sender":"ticker"}"#,
            400,
            "bad-sender",
        ),
        ("POST", "/v1/messages?wait_ms=zero", r#"{"performative":"request","receiver":"counter"}"#, 400, "bad-query"),
        ("GET", "/v1/messages", "", 405, "method-not-allowed"),
        ("GET", "/nowhere", "", 404, "not-found"),
    ];
    for (method, path, body, want_status, want_code) in cases {
        let (status, reply) = server.request(method, path, body);
        assert_eq!(status, want_status, "{method} {path} {body}: {reply}");
        assert_eq!(reply["error"]["code"], want_code, "{method} {path} {body}");
        assert!(reply["error"]["message"].is_string());
    }
    let (status, reply) = server.request(
        "POST",
        "/v1/messages",
        r#"{"performative":"request","receiver":"counter","content":{"action":"get"}}"#,
    );
    assert_eq!(status, 202);
    assert!(reply["conversation_id"].is_string());
    let slow = r#"{"performative":"request","receiver":"ticker","content":{"action":"schedule","delay_ms":60000}}"#;
    let (status, reply) = server.request("POST", "/v1/messages?wait_ms=20", slow);
    assert_eq!((status, reply["error"]["code"].clone()), (504, json!("reply-timeout")));
}

#[test]
fn caxton_send_talks_to_a_running_server() {
    let server = Server::start("policies/demo.toml");
    let url = format!("http://{}", server.addr);
    let content = r#"{"action":"process_data","data":{"operation":"uppercase","data":"hi"}}"#;
    let out = caxton(&["send", "text-processor", content, "--wait", "10000", "--server", &url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["content"]["result"]["result"], "HI");
    let out = caxton(&["send", "nobody", "{}", "--server", &url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-agent"));
}

#[test]
fn caxton_inspect_lists_imports_with_their_capability_and_exports() {
    component("text_processor");
    let out = caxton(&["inspect", "components/text_processor.wasm"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("caxton:agent/messaging@0.1.0") && text.contains("capability `messaging`"), "{text}");
    assert!(text.contains("exports:\n  caxton:agent/guest@0.1.0"), "{text}");
    let out = caxton(&["inspect", "--json", "components/counter.wasm"]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    let caps: Vec<&str> = info["imports"].as_array().unwrap().iter().filter_map(|i| i["capability"].as_str()).collect();
    assert_eq!(caps, ["messaging", "kv-store"]);
    let out = caxton(&["inspect", "Cargo.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly binary"));
}

#[test]
fn caxton_policy_check_passes_the_demo_and_points_at_a_missing_grant() {
    component("counter");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = caxton(&["policy", "check", "policies/demo.toml", "--data", data]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let file = dir.path().join("missing-grant.toml");
    std::fs::write(
        &file,
        format!(
            "[deployment]\nname='x'\n[[agent]]\nname='counter'\ncomponent='{}'\n[agent.grants]\nmessaging={{}}\ntimers={{}}\n",
            component("counter").display()
        ),
    )
    .unwrap();
    let out = caxton(&["policy", "check", file.to_str().unwrap(), "--data", data]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("caxton:agent/kv-store@0.1.0") && text.contains("`kv-store` is not granted"), "{text}");
    assert!(text.contains("`timers` is granted but not imported"), "{text}");
}

#[test]
fn caxton_policy_check_shows_act_rules_and_warns_about_acts_a_registered_protocol_needs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    // the Contract-Net society's own rules: nothing its protocols need is forbidden
    let out = caxton(&["policy", "check", "policies/contract-net.toml", "--data", data]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("    acts: initiator → propose, refuse, inform, failure, not-understood\n"), "{text}");
    assert!(!text.contains("warning"), "{text}");
    // a bidder that may only propose: the contract-net's other participant acts are forbidden
    let file = dir.path().join("mute-bidder.toml");
    let bidder = component("cnet_participant");
    let toml = format!(
        "[deployment]\nname='x'\n[[agent]]\nname='bidder'\ncomponent='{}'\n[agent.grants]\n\
         messaging={{ acts = {{ 'initiator' = ['propose'] }} }}\nlogging={{}}\n",
        bidder.display()
    );
    std::fs::write(&file, toml).unwrap();
    let out = caxton(&["policy", "check", file.to_str().unwrap(), "--data", data]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warnings do not fail the check: {text}");
    let warned: Vec<&str> = text.lines().filter(|l| l.contains("warning: takes part in")).collect();
    assert_eq!(
        warned,
        ["    warning: takes part in fipa-contract-net, but its `acts` allow it to send neither what an initiator \
          sends (missing accept-proposal, cfp, reject-proposal) nor what a participant sends (missing failure, \
          inform, not-understood, refuse)"],
        "{text}"
    );
    // an unknown act is refused with a sentence
    std::fs::write(&file, text_with_act(&bidder, "offer")).unwrap();
    let out = caxton(&["policy", "check", file.to_str().unwrap(), "--data", data]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`offer` is not a FIPA performative"), "{err}");
}

#[test]
fn a_printing_command_whose_reader_went_away_ends_without_a_panic() {
    let server = Server::start("policies/contract-net.toml");
    let url = format!("http://{}", server.addr);
    let mut child = std::process::Command::new(crate::support::process::bin())
        .args(["agents", "--server", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

fn text_with_act(component: &std::path::Path, act: &str) -> String {
    format!(
        "[deployment]\nname='x'\n[[agent]]\nname='bidder'\ncomponent='{}'\n[agent.grants]\n\
         messaging={{ acts = {{ '*' = ['{act}'] }} }}\n",
        component.display()
    )
}

#[test]
fn caxton_serve_refuses_to_start_with_an_ungranted_import() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        format!("[deployment]\nname='x'\n[[agent]]\nname='counter'\ncomponent='{}'\n", component("counter").display()),
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = caxton(&[
        "serve",
        "--deployment",
        file.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("caxton:agent/messaging@0.1.0") && err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn the_contract_net_society_answers_the_http_caller_with_the_winners_inform() {
    component("cnet_initiator");
    let server = Server::start("policies/contract-net.toml");
    let (status, directory) = server.request("GET", "/v1/directory?service=cnet-bid", "");
    assert_eq!(status, 200);
    let bidders: Vec<&str> =
        directory["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(bidders, ["bidder-1", "bidder-2", "bidder-3", "bidder-4", "bidder-5"]);
    let (status, reply) = server.send_and_wait(json!({
        "performative": "request", "receiver": "initiator",
        "content": { "action": "run", "task": "paint the fence", "budget": 100 }
    }));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["performative"], "inform");
    let winner = reply["content"]["result"]["winner"].as_str().unwrap();
    assert!(reply["content"]["result"]["result"].as_str().unwrap().contains(winner));

    let url = format!("http://{}", server.addr);
    let out = caxton(&["directory", "--service", "cnet-bid", "--server", &url]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("AGENT") && table.contains("bidder-5") && table.contains("fipa-contract-net"), "{table}");
}

#[test]
fn an_http_send_and_wait_past_its_reply_by_answers_504_and_leaves_a_dead_letter() {
    let server = Server::start("policies/demo.toml");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let (status, reply) = server.send_and_wait(json!({
        "performative": "request", "receiver": "ticker", "reply_by": now + 200,
        "content": { "action": "schedule", "delay_ms": 60000 }
    }));
    assert_eq!((status, reply["error"]["code"].clone()), (504, json!("reply-by-passed")), "{reply}");
    let (_, letters) = server.request("GET", "/v1/dead-letters", "");
    let letters = letters["dead_letters"].as_array().unwrap();
    assert!(letters.iter().any(|d| d["reason"] == "reply-by" && d["receiver"] == "ticker"), "{letters:?}");
    let out = caxton(&["dead-letters", "--server", &format!("http://{}", server.addr)]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID") && table.contains("reply-by"), "{table}");
}
