//! One conformance suite for every text-processor twin: the same requests get
//! the same replies whatever language the agent is written in. Each twin is
//! granted exactly the capabilities it imports, nothing more.

use crate::support::*;
use caxton::acl::Performative;
use serde_json::json;

/// Run the suite against the text-processor built as `components/{component}.wasm`.
async fn text_processor_conforms(component: &str) {
    let rt = runtime_with(vec![spec("text-processor", component, grants_for(component))]).await;
    let cases = [
        ("uppercase", "data", "hello world", "HELLO WORLD"),
        ("uppercase", "text", "hello world", "HELLO WORLD"),
        ("lowercase", "data", "Hello World", "hello world"),
        ("reverse", "text", "abc", "cba"),
    ];
    for (op, field, input, want) in cases {
        let reply = ask(&rt, "text-processor", process_data(op, field, input)).await;
        assert_eq!(reply.performative, Performative::Inform, "{component} {op}: {}", reply.content);
        let c = content(&reply);
        assert_eq!(c["result"]["result"], want, "{component} {op} via {field}");
        assert!(c["result"]["timestamp"].is_u64(), "{component}: a timestamp");
    }
    let status = ask(&rt, "text-processor", json!({ "action": "get_status" })).await;
    assert_eq!(status.performative, Performative::Inform);
    assert_eq!(content(&status)["result"]["status"], "ready", "{component}");
    assert_eq!(content(&status)["result"]["processed"], 4, "{component}");
    let unknown = ask(&rt, "text-processor", json!({ "action": "dance" })).await;
    assert_eq!(unknown.performative, Performative::NotUnderstood, "{component}");
    for bad in [
        json!({ "action": "process_data", "data": { "operation": "uppercase" } }),
        json!({ "action": "process_data", "data": { "operation": "rot13", "data": "x" } }),
        json!({ "action": "process_data", "data": "not an object" }),
    ] {
        let reply = ask(&rt, "text-processor", bad.clone()).await;
        assert_eq!(reply.performative, Performative::Failure, "{component}: {bad}");
        assert!(content(&reply)["error"].is_string(), "{component}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_text_processor_conforms() {
    text_processor_conforms("text_processor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_text_processor_conforms() {
    text_processor_conforms("text_processor_py").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_javascript_text_processor_conforms() {
    text_processor_conforms("text_processor_js").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assemblyscript_text_processor_conforms() {
    text_processor_conforms("text_processor_as").await;
}

/// The counter twins keep their count in the kv-store.
async fn counter_conforms(component: &str) {
    let rt = runtime_with(vec![spec("counter", component, grants_for(component))]).await;
    for want in 1..=3 {
        let reply = ask(&rt, "counter", json!({ "action": "increment" })).await;
        assert_eq!(content(&reply)["result"]["count"], want, "{component}: {}", reply.content);
    }
    let reply = ask(&rt, "counter", json!({ "action": "increment", "by": 10 })).await;
    assert_eq!(content(&reply)["result"]["count"], 13, "{component}");
    let reply = ask(&rt, "counter", json!({ "action": "get" })).await;
    assert_eq!(content(&reply)["result"]["count"], 13, "{component}");
    let reply = ask(&rt, "counter", json!({ "action": "reset" })).await;
    assert_eq!(reply.performative, Performative::NotUnderstood, "{component}");
}

/// The ticker twins answer from `handle-timer`.
async fn ticker_conforms(component: &str) {
    let rt = runtime_with(vec![spec("ticker", component, grants_for(component))]).await;
    let reply = ask(&rt, "ticker", json!({ "action": "schedule", "delay_ms": 20 })).await;
    assert_eq!(reply.performative, Performative::Inform, "{component}: {}", reply.content);
    assert_eq!(content(&reply)["result"]["timer"], 1, "{component}: the answer comes from handle-timer");
    assert!(content(&reply)["result"]["fired_at_ms"].as_u64().unwrap() > 1_600_000_000_000, "{component}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_counters_conform_in_every_language() {
    for component in ["counter", "counter_py", "counter_js", "counter_as"] {
        counter_conforms(component).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tickers_conform_in_every_language() {
    for component in ["ticker", "ticker_py", "ticker_js", "ticker_as"] {
        ticker_conforms(component).await;
    }
}
