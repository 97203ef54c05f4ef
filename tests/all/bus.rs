//! Message semantics through real components: ordering, identity, deadlines,
//! the directory, broadcast, pub/sub, back-pressure, loops, dead letters, timers.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::bus::{BusError, MAX_HOPS};
use caxton::policy::{Limits, MessagingGrant};
use caxton::runtime::Runtime;
use caxton::store::memory::MemoryStore;
use caxton::store::{KvBackend, Op, Outcome, Quota, StoreError, Usage};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn reasons(rt: &Runtime) -> Vec<&'static str> {
    rt.bus().dead_letters().iter().map(|d| d.reason.as_str()).collect()
}

fn inform(to: &str, content: Value) -> Message {
    Message::new(Performative::Inform, vec![to.into()], content.to_string())
}

/// Limits generous enough for agents that spin on purpose.
fn unlimited() -> Limits {
    Limits {
        deadline_micros: 60_000_000,
        cpu_micros_per_message: 60_000_000,
        host_calls_per_message: 100_000_000,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_from_each_sender_arrive_in_order_under_concurrency() {
    let rt = Arc::new(runtime_with(vec![probe("recorder"), probe("flood-a"), probe("flood-b")]).await);
    let mut tasks = Vec::new();
    for client in 0..4 {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..100 {
                rt.bus().send(&format!("client-{client}"), inform("recorder", json!({ "seq": seq }))).unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    let floods: Vec<_> = ["flood-a", "flood-b"]
        .into_iter()
        .map(|f| {
            let rt = rt.clone();
            tokio::spawn(async move { ask(&rt, f, json!({ "action": "flood", "to": "recorder", "count": 100 })).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for f in floods {
        assert_eq!(content(&f.await.unwrap())["result"]["sent"], 100);
    }
    let mut by_sender: HashMap<String, Vec<u64>> = HashMap::new();
    for event in dump(&rt, "recorder").await {
        by_sender
            .entry(event["from"].as_str().unwrap().into())
            .or_default()
            .push(event["content"]["seq"].as_u64().unwrap());
    }
    assert_eq!(by_sender.len(), 6);
    for (sender, seqs) in by_sender {
        assert_eq!(seqs, (0..100).collect::<Vec<u64>>(), "order from {sender}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_cannot_forge_its_sender() {
    let rt = runtime_with(vec![probe("recorder"), probe("forger")]).await;
    ask(&rt, "forger", json!({ "action": "forge", "to": "recorder", "as": "ceo" })).await;
    let events = dump(&rt, "recorder").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["from"], "forger");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_request_unanswered_by_its_reply_by_gets_a_failure() {
    let rt = runtime_with(vec![probe("silent")]).await;
    let bus = rt.bus();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let mut request =
        Message::new(Performative::Request, vec!["silent".into()], json!({ "action": "ignore" }).to_string());
    request.reply_with = Some("q1".into());
    request.reply_by = Some(now + 60_000);
    let waiter = bus.expect_reply("tester", &mut request);
    bus.send("tester", request).unwrap();
    // The paused clock jumps to the deadline as soon as nothing else is running.
    let failure = waiter.recv().await.unwrap();
    assert_eq!(failure.performative, Performative::Failure);
    assert_eq!(failure.sender, "silent");
    assert_eq!(failure.in_reply_to.as_deref(), Some("q1"));
    assert_eq!(content(&failure)["reason"], "reply-by");
    assert!(content(&failure)["error"].as_str().unwrap().contains("reply-by deadline"));
    assert_eq!(reasons(&rt), ["reply-by"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn replies_are_correlated_by_in_reply_to() {
    let rt = runtime_with(vec![probe("echo")]).await;
    // `ask` checks that in-reply-to equals the request's reply-with.
    for _ in 0..3 {
        let reply = ask(&rt, "echo", json!({ "action": "ping" })).await;
        assert_eq!(reply.performative, Performative::Inform);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_directory_finds_agents_by_service_and_broadcast_counts_receivers() {
    let mut caster = probe("caster");
    caster.grants.messaging = Some(MessagingGrant { broadcast: true, ..MessagingGrant::send_to_all() });
    let rt = runtime_with(vec![probe("quoter-1"), probe("quoter-2"), probe("quiet"), caster]).await;
    let found = ask(&rt, "caster", json!({ "action": "search", "service": "quote" })).await;
    assert_eq!(content(&found)["result"], json!(["quoter-1", "quoter-2"]));
    let sent = ask(&rt, "caster", json!({ "action": "broadcast", "service": "quote" })).await;
    assert_eq!(content(&sent)["result"], 2);
    for quoter in ["quoter-1", "quoter-2"] {
        let events = dump(&rt, quoter).await;
        assert_eq!(events, [json!({ "from": "caster", "content": { "broadcast": true } })]);
    }
    assert!(dump(&rt, "quiet").await.is_empty());
    // without the grant, broadcast is refused with a typed error
    let refused = ask(&rt, "quiet", json!({ "action": "broadcast", "service": "quote" })).await;
    assert_eq!(refused.performative, Performative::Failure);
    assert!(content(&refused)["error"].as_str().unwrap().contains("not granted"));
    // entries leave with their agent
    rt.remove("quoter-2", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    let found = ask(&rt, "caster", json!({ "action": "search", "service": "quote" })).await;
    assert_eq!(content(&found)["result"], json!(["quoter-1"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn published_messages_reach_matching_subscribers_within_their_scope() {
    let topics = |subscribe: &[&str], publish: &[&str]| MessagingGrant {
        subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
        publish: publish.iter().map(|s| s.to_string()).collect(),
        ..MessagingGrant::send_to_all()
    };
    let mut wide = probe("wide");
    wide.grants.messaging = Some(topics(&["prices.*"], &[]));
    let mut narrow = probe("narrow");
    narrow.grants.messaging = Some(topics(&["prices.eu"], &[]));
    let mut publisher = probe("publisher");
    publisher.grants.messaging = Some(topics(&[], &["prices.*"]));
    let rt = runtime_with(vec![wide, narrow, publisher]).await;
    for (agent, pattern) in [("wide", "prices.*"), ("narrow", "prices.eu")] {
        let ok = ask(&rt, agent, json!({ "action": "subscribe", "pattern": pattern })).await;
        assert_eq!(ok.performative, Performative::Inform, "{agent} {pattern}");
    }
    for (agent, pattern) in [("wide", "news.*"), ("wide", "*"), ("narrow", "prices.*")] {
        let denied = ask(&rt, agent, json!({ "action": "subscribe", "pattern": pattern })).await;
        assert_eq!(denied.performative, Performative::Failure, "{agent} {pattern}");
        assert!(content(&denied)["error"].as_str().unwrap().contains("not granted"));
    }
    let eu = ask(&rt, "publisher", json!({ "action": "publish", "topic": "prices.eu" })).await;
    assert_eq!(content(&eu)["result"], 2);
    let us = ask(&rt, "publisher", json!({ "action": "publish", "topic": "prices.us" })).await;
    assert_eq!(content(&us)["result"], 1);
    let denied = ask(&rt, "publisher", json!({ "action": "publish", "topic": "news.today" })).await;
    assert_eq!(denied.performative, Performative::Failure);
    assert_eq!(dump(&rt, "wide").await.len(), 2);
    assert_eq!(dump(&rt, "narrow").await, [json!({ "from": "publisher", "content": { "topic": "prices.eu" } })]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_mailbox_refuses_sends_with_a_typed_error() {
    let mut slow = probe("slow");
    slow.limits = Limits { mailbox: 4, ..unlimited() };
    let rt = runtime_with(vec![slow, probe("flooder")]).await;
    // keep `slow` busy, then flood it
    rt.bus()
        .send(
            "tester",
            Message::new(
                Performative::Request,
                vec!["slow".into()],
                json!({ "action": "spin", "ms": 3000 }).to_string(),
            ),
        )
        .unwrap();
    let reply = ask(&rt, "flooder", json!({ "action": "flood", "to": "slow", "count": 50 })).await;
    let result = &content(&reply)["result"];
    let sent = result["sent"].as_u64().unwrap();
    let refused = result["refused"].as_array().unwrap();
    assert!(sent <= 5, "a mailbox of 4 (plus the message in hand) took {sent}");
    assert_eq!(sent + refused.len() as u64, 50);
    assert!(refused[0].as_str().unwrap().contains("mailbox of `slow` is full"), "{refused:?}");
    assert_eq!(reasons(&rt).iter().filter(|r| **r == "mailbox-full").count(), refused.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ping_pong_loop_stops_at_the_hop_limit() {
    let rt = runtime_with(vec![probe("ping"), probe("pong")]).await;
    ask(&rt, "ping", json!({ "action": "bounce", "to": "pong" })).await;
    let letter =
        eventually(async || rt.bus().dead_letters().into_iter().find(|d| d.reason.as_str() == "hop-limit")).await;
    assert_eq!(letter.message.hops, MAX_HOPS + 1);
    assert_eq!(content(&letter.message)["bounce"], u64::from(MAX_HOPS) + 1, "one hop per bounce");
}

#[tokio::test(flavor = "multi_thread")]
async fn sending_to_a_removed_agent_is_refused_and_dead_lettered() {
    let rt = runtime_with(vec![probe("gone"), probe("sender")]).await;
    rt.remove("gone", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    assert_eq!(rt.bus().send("tester", inform("gone", json!({}))), Err(BusError::NoSuchAgent("gone".into())));
    let reply = ask(&rt, "sender", json!({ "action": "flood", "to": "gone", "count": 1 })).await;
    assert!(content(&reply)["result"]["refused"][0].as_str().unwrap().contains("no agent named `gone`"));
    let letters = rt.bus().dead_letters();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().all(|d| d.reason.as_str() == "no-such-agent" && d.receiver == "gone"));
}

#[tokio::test(flavor = "multi_thread")]
async fn timers_fire_in_delay_order_and_cancelled_ones_never_fire() {
    let rt = runtime_with(vec![probe("timed")]).await;
    let set = ask(&rt, "timed", json!({ "action": "timers", "delays": [300, 100, 200, 150], "cancel": [3] })).await;
    let ids: Vec<u64> =
        content(&set)["result"]["timers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(content(&set)["result"]["cancelled"], json!([true]));
    let fired = eventually(async || {
        let events = dump(&rt, "timed").await;
        (events.len() >= 3).then_some(events)
    })
    .await;
    let fired: Vec<u64> = fired.iter().map(|e| e["timer"].as_u64().unwrap()).collect();
    assert_eq!(fired, [ids[1], ids[2], ids[0]], "the 150 ms timer was cancelled and the 300 ms one fired last");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timer_waits_behind_messages_already_in_the_mailbox() {
    let rt = runtime_with(vec![probe("timed")]).await;
    let set = ask(&rt, "timed", json!({ "action": "timer-behind-message", "delay_ms": 50 })).await;
    let id = content(&set)["result"]["timer"].as_u64().unwrap();
    let events = eventually(async || {
        let events = dump(&rt, "timed").await;
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert_eq!(events[0]["content"]["seq"], "before-timer");
    assert_eq!(events[1]["timer"], id);
}

/// A kv backend every agent shares, so two agents can see each other's progress.
struct SharedKv(MemoryStore);

impl KvBackend for SharedKv {
    fn get(&self, _: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get("shared", key)
    }
    fn apply(&self, _: &str, key: &str, op: Op, quota: Quota) -> Result<Outcome, StoreError> {
        self.0.apply("shared", key, op, quota)
    }
    fn list(&self, _: &str, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError> {
        self.0.list("shared", prefix, after, limit)
    }
    fn usage(&self, _: &str) -> Result<Usage, StoreError> {
        self.0.usage("shared")
    }
    fn clear(&self, _: &str) -> Result<u64, StoreError> {
        self.0.clear("shared")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_busy_agents_make_progress_at_the_same_time() {
    // Each agent spins until it sees the other has started: run one after the
    // other, the first would spin into its deadline; run in parallel, both meet.
    let rt = Arc::new(runtime_on(Arc::new(SharedKv(MemoryStore::new()))));
    let busy = |name: &str| {
        let mut s = probe(name);
        s.limits = unlimited();
        s
    };
    deploy_all(&rt, vec![busy("left"), busy("right")]).await;
    let meet = |me: &'static str, peer: &'static str| {
        let rt = rt.clone();
        tokio::spawn(async move { ask(&rt, me, json!({ "action": "meet", "me": me, "peer": peer })).await })
    };
    let (left, right) = (meet("left", "right"), meet("right", "left"));
    for reply in [left.await.unwrap(), right.await.unwrap()] {
        assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
        assert_eq!(content(&reply)["result"], "met");
    }
}
