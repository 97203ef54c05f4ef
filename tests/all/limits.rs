//! Resource limits and fault isolation: every attack of the catalogue is
//! contained, and a canary agent keeps answering throughout.

use crate::support::hostile_wat::WatAgent;
use crate::support::*;
use caxton::acl::Performative;
use caxton::policy::Limits;
use caxton::runtime::{Runtime, RuntimeError};
use serde_json::{json, Value};

/// A runtime with a canary (`bus-probe`) and the given agents.
async fn with_canary(specs: Vec<caxton::policy::AgentSpec>) -> Runtime {
    let mut all = vec![probe("canary")];
    all.extend(specs);
    runtime_with(all).await
}

/// The canary answers a ping, untouched by whatever else happened.
async fn canary_is_fine(rt: &Runtime) {
    let pong = ask(rt, "canary", json!({ "action": "ping" })).await;
    assert_eq!(pong.performative, Performative::Inform);
    assert_eq!(content(&pong)["result"], "pong");
    let stats = rt.agents().into_iter().find(|a| a.name == "canary").unwrap().stats;
    assert!(stats.failures.is_empty(), "the canary failed: {:?}", stats.failures);
}

fn misbehaver(limits: Limits) -> caxton::policy::AgentSpec {
    let mut s = spec("misbehaver", "misbehaver", all_grants());
    s.limits = limits;
    s
}

async fn failure_of(rt: &Runtime, agent: &str, request: Value) -> Value {
    let reply = ask(rt, agent, request).await;
    assert_eq!(reply.performative, Performative::Failure, "{}", reply.content);
    content(&reply)
}

async fn recovers(rt: &Runtime) {
    let pong = ask(rt, "misbehaver", json!({ "action": "ping" })).await;
    assert_eq!(content(&pong)["result"], "pong", "a fresh instance answers the next message");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guides_memory_scenario_a_1_mib_agent_asked_for_2_mib() {
    let rt = with_canary(vec![misbehaver(Limits { memory_bytes: 1024 * 1024, ..Limits::default() })]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "allocate", "size": 2 * 1024 * 1024 })).await;
    assert!(failure["error"].as_str().unwrap().contains("memory"), "{failure}");
    assert_eq!(failure["reason"], "memory-limit");
    assert!(failure["error"].as_str().unwrap().contains("memory limit of 1048576 bytes exceeded"));
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a1_an_infinite_loop_is_stopped_at_the_deadline() {
    let limits = Limits { deadline_micros: 100_000, cpu_micros_per_message: 60_000_000, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "spin" })).await;
    assert_eq!(failure["reason"], "deadline");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_runs_out_of_cpu_before_a_long_deadline() {
    let limits = Limits { deadline_micros: 60_000_000, cpu_micros_per_message: 20_000, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "spin" })).await;
    assert_eq!(failure["reason"], "cpu-limit");
    assert!(failure["error"].as_str().unwrap().contains("CPU limit of 20000 µs"));
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a2_an_infinite_loop_in_init_fails_the_deploy_and_registers_nothing() {
    let rt = with_canary(vec![]).await;
    let bytes = WatAgent { init: "(loop $l (br $l))", ..WatAgent::default() }.bytes();
    let mut s = spec("looper", "misbehaver", all_grants());
    s.limits = Limits { deadline_micros: 50_000, ..Limits::default() };
    let err = rt.deploy_bytes(s, bytes).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Init { .. }), "{err}");
    assert!(err.to_string().contains("deadline") || err.to_string().contains("CPU"), "{err}");
    assert_eq!(rt.agents().len(), 1, "only the canary");
    assert!(!rt.bus().is_agent("looper"));
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a3_a_host_call_loop_is_stopped_at_the_cap_and_the_cap_resets() {
    let limits = Limits { host_calls_per_message: 500, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "hostloop" })).await;
    assert_eq!(failure["reason"], "host-call-limit");
    assert!(failure["error"].as_str().unwrap().contains("500"));
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a4_a_guest_blocked_in_a_host_call_is_released_at_the_deadline() {
    let limits = Limits { deadline_micros: 200_000, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "sleep" })).await;
    assert_eq!(failure["reason"], "deadline");
    assert!(failure["error"].as_str().unwrap().contains("blocked in a host call"), "{failure}");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b1_a_memory_bomb_is_refused_at_the_cap() {
    let rt = with_canary(vec![misbehaver(Limits { memory_bytes: 8 * 1024 * 1024, ..Limits::default() })]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "allocate", "size": 64 * 1024 * 1024 })).await;
    assert_eq!(failure["reason"], "memory-limit");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b2_an_initial_memory_larger_than_the_cap_is_refused_at_instantiation() {
    let rt = with_canary(vec![]).await;
    let bytes = WatAgent { memory: "(memory (export \"memory\") 100)".into(), ..WatAgent::default() }.bytes();
    let mut s = spec("fat", "misbehaver", all_grants());
    s.limits = Limits { memory_bytes: 1024 * 1024, ..Limits::default() };
    let err = rt.deploy_bytes(s, bytes).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Instantiate { .. }), "{err}");
    assert!(err.to_string().contains("memory limit"), "{err}");
    canary_is_fine(&rt).await;
}

/// Send `content` to `agent` without waiting for a reply, then wait until the
/// agent has handled it; returns its statistics.
async fn deliver_and_settle(rt: &Runtime, agent: &str, content: Value) -> caxton::runtime::stats::AgentStats {
    let stats = || rt.agents().into_iter().find(|a| a.name == agent).unwrap().stats;
    let calls = |s: &caxton::runtime::stats::AgentStats| s.handle_time.counts.iter().sum::<u64>();
    let before = calls(&stats());
    let msg = caxton::acl::Message::new(Performative::Request, vec![agent.into()], content.to_string());
    rt.bus().send("tester", msg).unwrap();
    for _ in 0..3000 {
        let now = stats();
        // the call has finished (and any failure is counted) and a restart, if any, is done
        if calls(&now) > before && now.status == caxton::runtime::stats::Status::Running {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{agent} did not handle the message");
}

#[tokio::test(flavor = "multi_thread")]
async fn b4_a_table_bomb_is_refused_without_harm() {
    let rt = with_canary(vec![]).await;
    let wat = WatAgent {
        core: "(table $t 1 funcref)".into(),
        // table.grow returns -1 when refused; trap if it was allowed, so the test sees it
        handle: "(if (i32.ne (table.grow $t (ref.null func) (i32.const 10000000)) (i32.const -1)) (then unreachable))",
        ..WatAgent::default()
    };
    rt.deploy_bytes(spec("tables", "misbehaver", all_grants()), wat.bytes()).await.unwrap();
    let stats = deliver_and_settle(&rt, "tables", json!({})).await;
    assert!(stats.failures.is_empty(), "{:?}", stats.failures);
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b6_payload_bombs_are_refused_before_the_host_copies_them() {
    let limits = Limits { memory_bytes: 128 * 1024 * 1024, cpu_micros_per_message: 30_000_000, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "big", "size": 20 * 1024 * 1024 })).await;
    assert_eq!(failure["reason"], "message-too-large", "{failure}");
    recovers(&rt).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "many-receivers", "count": 1_000_000 })).await;
    assert_eq!(failure["reason"], "message-too-large", "{failure}");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b8_an_output_flood_with_terminal_escapes_is_contained() {
    let rt = with_canary(vec![misbehaver(Limits { host_calls_per_message: 1_000_000, ..Limits::default() })]).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "shout", "lines": 20_000 })).await;
    assert_eq!(content(&reply)["result"], "shouted");
    let stats = rt.agents().into_iter().find(|a| a.name == "misbehaver").unwrap().stats;
    assert!(stats.log_lines_dropped >= 10_000, "lines over the budget are dropped: {}", stats.log_lines_dropped);
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c1_unbounded_recursion_is_a_trap_not_an_abort() {
    let rt = with_canary(vec![misbehaver(Limits::default())]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "recurse" })).await;
    assert_eq!(failure["reason"], "trap");
    assert!(failure["error"].as_str().unwrap().contains("stack"), "{failure}");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c2_a_host_call_from_the_deepest_frame_never_aborts_the_host() {
    let rt = with_canary(vec![misbehaver(Limits::default())]).await;
    let (mut depth, mut deepest_ok) = (256u64, 0u64);
    loop {
        let reply = ask(&rt, "misbehaver", json!({ "action": "recurse-then-call", "depth": depth })).await;
        match reply.performative {
            Performative::Inform => {
                assert_eq!(content(&reply)["result"]["self"], "misbehaver");
                deepest_ok = depth;
                depth += depth / 8;
            }
            _ => {
                assert_eq!(content(&reply)["reason"], "trap", "{}", reply.content);
                break;
            }
        }
        assert!(depth < 10_000_000, "recursion never overflowed");
    }
    assert!(deepest_ok > 0, "even shallow recursion failed");
    recovers(&rt).await;
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d7_a_trapping_start_function_fails_the_deploy_cleanly() {
    let rt = with_canary(vec![]).await;
    let wat = WatAgent { core: "(func $boom unreachable) (start $boom)".into(), ..WatAgent::default() };
    let err = rt.deploy_bytes(spec("bad-start", "misbehaver", all_grants()), wat.bytes()).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Instantiate { .. }), "{err}");
    assert!(!rt.bus().is_agent("bad-start"));
    assert_eq!(rt.agents().len(), 1);
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g1_an_oversize_message_is_refused_synchronously() {
    let rt = with_canary(vec![misbehaver(Limits::default())]).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "big", "size": 300 * 1024 })).await;
    assert_eq!(content(&reply)["result"]["error"], "the message is larger than 262144 bytes");
    assert!(rt.bus().dead_letters().is_empty(), "nothing was queued or dropped");
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g2_a_send_flood_is_held_to_burst_plus_rate() {
    let mut flooder = probe("flooder");
    flooder.limits = Limits { messages_per_second: 50, host_calls_per_message: 10_000, ..Limits::default() };
    let mut sink = probe("sink");
    sink.limits = Limits { mailbox: 10_000, ..Limits::default() };
    let rt = with_canary(vec![flooder, sink]).await;
    let started = std::time::Instant::now();
    let reply = ask(&rt, "flooder", json!({ "action": "flood", "to": "sink", "count": 1000 })).await;
    let elapsed = started.elapsed().as_secs_f64();
    // the flood spent every token: the flooder's own answer is refused too, unless a token came
    // back while it flooded (one every 20 ms), and then the answer lists the refused sends
    let limit = "rate limit of 50 messages per second";
    match reply.performative {
        Performative::Failure => assert!(content(&reply)["error"].as_str().unwrap().contains(limit)),
        _ => {
            let refused = content(&reply)["result"]["refused"].as_array().unwrap().clone();
            assert!(refused.len() >= 800 && refused[0].as_str().unwrap().contains(limit), "{refused:?}");
        }
    }
    let sent = dump(&rt, "sink").await.len() as f64;
    let allowed = 100.0 + 50.0 * elapsed;
    assert!(sent <= allowed + 1.0, "sent {sent}, burst + rate × time allows {allowed:.0}");
    assert!(sent >= 100.0, "the burst of twice the rate goes through, got {sent}");
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_a_poison_message_is_dropped_after_one_failure() {
    let rt = with_canary(vec![misbehaver(Limits::default())]).await;
    let failure = failure_of(&rt, "misbehaver", json!({ "action": "panic" })).await;
    assert_eq!(failure["reason"], "trap");
    let letters = rt.bus().dead_letters();
    assert_eq!(letters.len(), 1, "dead-lettered once, never redelivered");
    assert_eq!(letters[0].reason.as_str(), "receiver-failed");
    recovers(&rt).await;
    let stats = rt.agents().into_iter().find(|a| a.name == "misbehaver").unwrap().stats;
    assert_eq!((stats.messages, stats.restarts), (2, 1));
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn j2_removing_a_busy_agent_answers_its_queue_and_runs_nothing_after() {
    let limits = Limits { deadline_micros: 300_000, cpu_micros_per_message: 60_000_000, ..Limits::default() };
    let rt = with_canary(vec![misbehaver(limits)]).await;
    let bus = rt.bus();
    let started = |rt: &Runtime| rt.agents().into_iter().find(|a| a.name == "misbehaver").unwrap().stats.messages;
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let reply_with = format!("queued-{i}");
            let action = if i == 0 { "spin" } else { "ping" };
            let mut msg = caxton::acl::Message::new(
                Performative::Request,
                vec!["misbehaver".into()],
                json!({ "action": action }).to_string(),
            );
            msg.reply_with = Some(reply_with);
            let waiter = bus.expect_reply("tester", &mut msg);
            bus.send("tester", msg).unwrap();
            waiter
        })
        .collect();
    while started(&rt) == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    rt.remove("misbehaver", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    let mut reasons = Vec::new();
    for w in waiters {
        let reply = w.recv().await.unwrap();
        assert_eq!(reply.performative, Performative::Failure);
        reasons.push(content(&reply)["reason"].as_str().unwrap().to_string());
    }
    assert_eq!(reasons, ["deadline", "removed", "removed"], "the spin in hand ran out, the queue was answered");
    let removed = rt.bus().dead_letters().into_iter().filter(|d| d.reason.as_str() == "removed").count();
    assert_eq!(removed, 2);
    assert!(!rt.bus().is_agent("misbehaver"));
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d4_a_compile_bomb_times_out_while_the_platform_stays_responsive() {
    let rt = std::sync::Arc::new(with_canary(vec![]).await);
    rt.set_compile_timeout(std::time::Duration::from_millis(1));
    let body = "i32.const 1 i32.add ".repeat(100_000);
    let bomb =
        WatAgent { core: format!("(func (export \"bomb\") (result i32) i32.const 0 {body})"), ..WatAgent::default() };
    let deploying = {
        let (rt, bytes) = (rt.clone(), bomb.bytes());
        tokio::spawn(async move { rt.deploy_bytes(spec("bomb", "misbehaver", all_grants()), bytes).await })
    };
    canary_is_fine(&rt).await;
    let err = deploying.await.unwrap().unwrap_err();
    assert!(matches!(err, RuntimeError::CompileTimeout { .. }), "{err}");
    assert!(err.to_string().contains("too complex"), "{err}");
    assert_eq!(rt.agents().len(), 1, "only the canary");
    // the compile slots are free again
    rt.set_compile_timeout(std::time::Duration::from_secs(60));
    rt.deploy(probe("second")).await.unwrap();
    canary_is_fine(&rt).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b5_resource_handle_exhaustion_stops_at_the_table_cap() {
    let rt = with_canary(vec![]).await;
    let wat = WatAgent {
        imports: r#"
  (import "wasi:io/streams@0.2.6" (instance $streams (export "output-stream" (type (sub resource)))))
  (alias export $streams "output-stream" (type $os))
  (import "wasi:cli/stdout@0.2.6" (instance $stdout
    (alias outer 1 $os (type $os-inner))
    (export "get-stdout" (func (result (own $os-inner))))))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core instance $host (export "get-stdout" (func $get-stdout)))"#,
        instantiate_with: r#"(with "host" (instance $host))"#,
        core_imports: r#"(import "host" "get-stdout" (func $get-stdout (result i32)))"#,
        // take handles forever, never dropping one
        handle: "(loop $more (drop (call $get-stdout)) (br $more))",
        ..WatAgent::default()
    };
    let mut s = spec("hoarder", "misbehaver", all_grants());
    s.limits = Limits { host_calls_per_message: 1_000_000, ..Limits::default() };
    rt.deploy_bytes(s, wat.bytes()).await.unwrap();
    let stats = deliver_and_settle(&rt, "hoarder", json!({})).await;
    assert_eq!(
        stats.failures.get(&caxton::runtime::failure::FailureReason::ResourceLimit),
        Some(&1),
        "{:?}",
        stats.failures
    );
    canary_is_fine(&rt).await;
}
