//! A failing agent answers its sender with `failure`, and the next message runs
//! on a fresh instance.

use crate::support::*;
use caxton::acl::Performative;
use caxton::policy::Limits;
use serde_json::json;

async fn misbehaver(limits: Limits) -> caxton::runtime::Runtime {
    let mut s = spec("misbehaver", "misbehaver", all_grants());
    s.limits = limits;
    runtime_with(vec![s]).await
}

async fn assert_recovers(rt: &caxton::runtime::Runtime) {
    let pong = ask(rt, "misbehaver", json!({ "action": "ping" })).await;
    assert_eq!(pong.performative, Performative::Inform);
    assert_eq!(content(&pong)["result"], "pong");
}

#[tokio::test(flavor = "multi_thread")]
async fn exceeding_the_memory_limit_fails_with_memory_and_the_agent_recovers() {
    let rt = misbehaver(Limits { memory_bytes: 1024 * 1024 + 512 * 1024, ..Limits::default() }).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "allocate", "size": 2 * 1024 * 1024 })).await;
    assert_eq!(reply.performative, Performative::Failure);
    let c = content(&reply);
    assert!(c["error"].as_str().unwrap().contains("memory"), "{c}");
    assert_eq!(c["reason"], "memory-limit");
    assert_recovers(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_is_stopped_at_the_deadline() {
    let rt =
        misbehaver(Limits { deadline_micros: 50_000, cpu_micros_per_message: 60_000_000, ..Limits::default() }).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "spin" })).await;
    assert_eq!(reply.performative, Performative::Failure);
    assert_eq!(content(&reply)["reason"], "deadline");
    assert_recovers(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guest_panic_or_stack_overflow_is_a_trap_not_a_host_crash() {
    let rt = misbehaver(Limits::default()).await;
    for action in ["panic", "recurse"] {
        let reply = ask(&rt, "misbehaver", json!({ "action": action })).await;
        assert_eq!(reply.performative, Performative::Failure, "{action}");
        assert_eq!(content(&reply)["reason"], "trap", "{action}");
        assert_recovers(&rt).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_error_is_reported_to_the_sender() {
    let rt = misbehaver(Limits::default()).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "error" })).await;
    assert_eq!(reply.performative, Performative::Failure);
    let c = content(&reply);
    assert_eq!(c["reason"], "handler-error");
    assert!(c["error"].as_str().unwrap().contains("asked to fail"));
}

/// A guest's error text reaches the log, the dead letters and the sender, so it cannot carry
/// a line break or a terminal escape: those are written out as escapes.
#[tokio::test(flavor = "multi_thread")]
async fn a_handler_error_cannot_forge_log_lines_or_drive_a_terminal() {
    let rt = misbehaver(Limits::default()).await;
    let forged = "fine\n2026-12-02T00:00:00Z  INFO caxton::cli::serve: FORGED\u{1b}[31m\r\0";
    let reply = ask(&rt, "misbehaver", json!({ "action": "error", "message": forged })).await;
    let error = content(&reply)["error"].as_str().unwrap().to_string();
    let letter = rt.bus().dead_letters().into_iter().last().unwrap().detail;
    for text in [&error, &letter] {
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.contains("fine\\n2026") && text.contains("FORGED\\u{1b}[31m\\r\\u{0}"), "{text:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_an_agent_stops_delivery() {
    let rt = misbehaver(Limits::default()).await;
    rt.remove("misbehaver", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    let msg = caxton::acl::Message::new(Performative::Request, vec!["misbehaver".into()], "{}".into());
    assert_eq!(rt.bus().send("tester", msg), Err(caxton::bus::BusError::NoSuchAgent("misbehaver".into())));
    assert!(rt.remove("misbehaver", caxton::runtime::StateOnRemove::Delete).await.is_err());
}
