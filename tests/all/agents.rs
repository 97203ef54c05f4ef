//! The example agents do what the product guide says, through the real runtime.

use crate::support::*;
use caxton::acl::Performative;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn text_processor_uppercases_lowercases_and_reverses() {
    let rt = runtime_with(vec![spec("text-processor", "text_processor", all_grants())]).await;
    for (op, field, input, want) in [
        ("uppercase", "data", "hello world", "HELLO WORLD"),
        ("uppercase", "text", "hello world", "HELLO WORLD"),
        ("lowercase", "data", "Hello World", "hello world"),
        ("reverse", "text", "abc", "cba"),
    ] {
        let reply = ask(&rt, "text-processor", process_data(op, field, input)).await;
        assert_eq!(reply.performative, Performative::Inform, "{op}");
        assert_eq!(reply.sender, "text-processor");
        let c = content(&reply);
        assert_eq!(c["result"]["result"], want, "{op} via {field}");
        assert!(c["result"]["timestamp"].as_u64().unwrap() > 1_600_000_000_000, "timestamp in ms");
    }
    let status = ask(&rt, "text-processor", json!({ "action": "get_status" })).await;
    assert_eq!(status.performative, Performative::Inform);
    assert_eq!(content(&status)["result"]["processed"], 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn text_processor_answers_unknown_actions_with_not_understood_and_bad_data_with_failure() {
    let rt = runtime_with(vec![spec("text-processor", "text_processor", all_grants())]).await;
    let reply = ask(&rt, "text-processor", json!({ "action": "dance" })).await;
    assert_eq!(reply.performative, Performative::NotUnderstood);
    for bad in [
        json!({ "action": "process_data", "data": { "operation": "uppercase" } }),
        json!({ "action": "process_data", "data": { "operation": "rot13", "data": "x" } }),
        json!({ "action": "process_data", "data": "not an object" }),
    ] {
        let reply = ask(&rt, "text-processor", bad.clone()).await;
        assert_eq!(reply.performative, Performative::Failure, "{bad}");
        assert!(content(&reply)["error"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn counter_keeps_its_count_across_messages() {
    let rt = runtime_with(vec![spec("counter", "counter", all_grants())]).await;
    for want in 1..=3 {
        let reply = ask(&rt, "counter", json!({ "action": "increment" })).await;
        assert_eq!(content(&reply)["result"]["count"], want);
    }
    let reply = ask(&rt, "counter", json!({ "action": "increment", "by": 10 })).await;
    assert_eq!(content(&reply)["result"]["count"], 13);
    let reply = ask(&rt, "counter", json!({ "action": "get" })).await;
    assert_eq!(content(&reply)["result"]["count"], 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn ticker_receives_its_timer_callback() {
    let rt = runtime_with(vec![spec("ticker", "ticker", all_grants())]).await;
    let reply = ask(&rt, "ticker", json!({ "action": "schedule", "delay_ms": 20 })).await;
    assert_eq!(reply.performative, Performative::Inform);
    assert_eq!(content(&reply)["result"]["timer"], 1, "the answer comes from handle-timer");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_stamps_the_sender_of_agent_messages() {
    // The SDK leaves `sender` empty; what arrives names the agent.
    let rt = runtime_with(vec![spec("counter", "counter", all_grants())]).await;
    let reply = ask(&rt, "counter", json!({ "action": "get" })).await;
    assert_eq!(reply.sender, "counter");
    assert!(reply.conversation_id.is_some());
}
