//! Supervision: host panics stay with their agent, crash loops end in
//! quarantine after backed-off restarts, and busy agents do not starve others.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::policy::Limits;
use caxton::runtime::stats::Status;
use caxton::runtime::Runtime;
use caxton::store::memory::MemoryStore;
use caxton::store::{KvBackend, Op, Outcome, Quota, StoreError, Usage};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A kv backend with a bug: reading the key `boom` panics.
struct PanickingKv(MemoryStore);

impl KvBackend for PanickingKv {
    fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        assert_ne!(key, "boom", "the backend hit a bug");
        self.0.get(ns, key)
    }
    fn apply(&self, ns: &str, key: &str, op: Op, quota: Quota) -> Result<Outcome, StoreError> {
        self.0.apply(ns, key, op, quota)
    }
    fn list(&self, ns: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError> {
        self.0.list(ns, prefix, after, limit)
    }
    fn usage(&self, ns: &str) -> Result<Usage, StoreError> {
        self.0.usage(ns)
    }
    fn clear(&self, owner: &str) -> Result<u64, StoreError> {
        self.0.clear(owner)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn j4_a_panicking_host_function_fails_only_its_agent() {
    let rt = runtime_on(Arc::new(PanickingKv(MemoryStore::new())));
    // a generous deadline: capturing the panic's backtrace can be slow on a loaded machine
    let mut misbehaver = spec("misbehaver", "misbehaver", all_grants());
    misbehaver.limits.deadline_micros = 30_000_000;
    deploy_all(&rt, vec![probe("canary"), misbehaver]).await;
    let reply = ask(&rt, "misbehaver", json!({ "action": "kv", "key": "boom" })).await;
    assert_eq!(reply.performative, Performative::Failure);
    assert_eq!(content(&reply)["reason"], "host-panic", "{}", reply.content);
    let ok = ask(&rt, "misbehaver", json!({ "action": "kv", "key": "fine" })).await;
    assert_eq!(content(&ok)["result"]["found"], false, "a fresh instance carries on");
    let pong = ask(&rt, "canary", json!({ "action": "ping" })).await;
    assert_eq!(content(&pong)["result"], "pong");
}

/// Send and wait with no timer of our own: under a paused clock a timeout
/// would fire as soon as the runtime is idle.
async fn ask_paused(rt: &Runtime, to: &str, content: Value) -> Message {
    let mut msg = Message::new(Performative::Request, vec![to.into()], content.to_string());
    let waiter = rt.bus().expect_reply("tester", &mut msg);
    rt.bus().send("tester", msg).unwrap();
    waiter.recv().await.unwrap()
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn j5_a_crash_loop_backs_off_then_ends_in_quarantine_until_redeployed() {
    let rt = runtime_with(vec![spec("crasher", "misbehaver", all_grants())]).await;
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        let reply = ask_paused(&rt, "crasher", json!({ "action": "panic" })).await;
        assert_eq!(content(&reply)["reason"], "trap");
    }
    let refused = ask_paused(&rt, "crasher", json!({ "action": "ping" })).await;
    assert_eq!(content(&refused)["reason"], "quarantined", "{}", refused.content);
    // four restarts waited 100 + 200 + 400 + 800 ms of (virtual) time
    assert!(started.elapsed() >= Duration::from_millis(1500), "{:?}", started.elapsed());
    let summary = rt.agents().into_iter().find(|a| a.name == "crasher").unwrap();
    assert_eq!(summary.stats.restarts, 4);
    assert!(matches!(summary.stats.status, Status::Quarantined(_)), "{:?}", summary.stats.status);
    let quarantined = rt.bus().dead_letters().into_iter().filter(|d| d.detail.contains("quarantined")).count();
    assert_eq!(quarantined, 1);

    rt.remove("crasher", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    rt.deploy(spec("crasher", "misbehaver", all_grants())).await.unwrap();
    let pong = ask_paused(&rt, "crasher", json!({ "action": "ping" })).await;
    assert_eq!(content(&pong)["result"], "pong", "a redeploy clears the quarantine");
}

#[tokio::test(flavor = "multi_thread")]
async fn a6_an_interactive_agent_keeps_answering_beside_fifty_spinning_agents() {
    let spinners: Vec<String> = (0..50).map(|i| format!("spinner-{i}")).collect();
    let mut specs = vec![probe("interactive")];
    for name in &spinners {
        let mut s = probe(name);
        s.limits = Limits {
            mailbox: 2,
            cpu_micros_per_message: 10_000_000,
            host_calls_per_message: 100_000_000,
            ..Limits::default()
        };
        specs.push(s);
    }
    let rt = Arc::new(runtime_with(specs).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let (rt, stop, spinners) = (rt.clone(), stop.clone(), spinners.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for name in &spinners {
                    let spin = Message::new(
                        Performative::Request,
                        vec![name.clone()],
                        json!({ "action": "spin", "ms": 200 }).to_string(),
                    );
                    let _ = rt.bus().send("feeder", spin); // a full mailbox just means it is busy
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let sent = std::time::Instant::now();
        let pong = ask(&rt, "interactive", json!({ "action": "ping" })).await;
        latencies.push(sent.elapsed());
        assert_eq!(content(&pong)["result"], "pong");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.await.unwrap();
    let busy: u64 = rt.agents().iter().filter(|a| a.name.starts_with("spinner-")).map(|a| a.stats.messages).sum();
    assert!(busy >= 50, "the spinners were actually spinning ({busy} spins)");
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "interactive ping beside 50 spinning agents: p50 {:?}, p99 {:?}, max {:?}",
        pct(50),
        pct(99),
        latencies[latencies.len() - 1]
    );
}
