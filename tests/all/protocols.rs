//! FIPA interaction protocols held by the host, between real components:
//! `bus-probe`s that send what a test describes (`send`) and answer with the
//! acts a message asks for (`play`). Each protocol's legal run ends `done`;
//! each class of violation is refused with the typed `protocol-violation`,
//! recorded in the conversation and dead-lettered, and changes nothing.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::bus::conversations::Conversation;
use caxton::bus::BusError;
use caxton::protocol::{Breach, Step};
use caxton::runtime::Runtime;
use serde_json::{json, Value};

/// Have the probe `agent` send the message `described` (see the probe's `send`); what became of it.
async fn have_send(rt: &Runtime, agent: &str, described: Value) -> Value {
    content(&ask(rt, agent, json!({ "action": "send", "message": described })).await)["result"].clone()
}

/// A message of `protocol` in `conversation` from a probe to `to`, asking it to answer with `acts`.
fn asking(act: &str, to: &[&str], protocol: &str, conversation: &str, acts: &[&str]) -> Value {
    json!({
        "performative": act, "to": to, "protocol": protocol, "conversation_id": conversation,
        "content": { "action": "play", "acts": acts }
    })
}

fn record(rt: &Runtime, conversation: &str) -> Option<Conversation> {
    rt.bus().conversations().get(conversation)
}

/// Wait until `conversation` has seen `count` messages; its record then.
async fn after_messages(rt: &Runtime, conversation: &str, count: u64) -> Conversation {
    eventually(async || record(rt, conversation).filter(|c| c.message_count >= count)).await
}

async fn sent(rt: &Runtime, agent: &str, described: Value) {
    let outcome = have_send(rt, agent, described).await;
    assert_eq!(outcome, json!({ "sent": true }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_legal_run_of_each_protocol_between_two_components_ends_done() {
    let rt = runtime_with(vec![probe("buyer"), probe("seller")]).await;
    let one_step: [(&str, &str, &[&str]); 3] = [
        ("fipa-request", "request", &["agree", "inform"]),
        ("fipa-query", "query-ref", &["inform"]),
        ("fipa-request-when", "request-when", &["agree", "inform"]),
    ];
    for (protocol, opening, acts) in one_step {
        sent(&rt, "buyer", asking(opening, &["seller"], protocol, protocol, acts)).await;
        let done = after_messages(&rt, protocol, 1 + acts.len() as u64).await;
        assert_eq!((done.state, done.exchanges["seller"].step), ("done", Step::Done), "{protocol}: {done:?}");
    }

    let cnet = "fipa-contract-net";
    sent(&rt, "buyer", asking("cfp", &["seller"], cnet, cnet, &["propose"])).await;
    assert_eq!(after_messages(&rt, cnet, 2).await.exchanges["seller"].step, Step::Proposed);
    sent(&rt, "buyer", asking("accept-proposal", &["seller"], cnet, cnet, &["inform"])).await;
    assert_eq!(after_messages(&rt, cnet, 4).await.state, "done");

    let iterated = "fipa-iterated-contract-net";
    for round in 1..=2 {
        sent(&rt, "buyer", asking("cfp", &["seller"], iterated, iterated, &["propose"])).await;
        after_messages(&rt, iterated, 2 * round).await;
    }
    sent(&rt, "buyer", asking("accept-proposal", &["seller"], iterated, iterated, &["inform"])).await;
    let done = after_messages(&rt, iterated, 6).await;
    assert_eq!(done.state, "done", "{done:?}");

    let subscribe = "fipa-subscribe";
    sent(&rt, "buyer", asking("subscribe", &["seller"], subscribe, subscribe, &["agree", "inform", "inform"])).await;
    assert_eq!(after_messages(&rt, subscribe, 4).await.state, "open", "a subscription runs until it is cancelled");
    sent(&rt, "buyer", asking("cancel", &["seller"], subscribe, subscribe, &["inform"])).await;
    let done = after_messages(&rt, subscribe, 6).await;
    assert_eq!((done.state, done.exchanges["seller"].step), ("done", Step::Cancelled));
    // every message of every run was delivered, none refused
    let dead: Vec<_> = rt.bus().dead_letters().into_iter().map(|d| d.reason.as_str()).collect();
    assert!(!dead.contains(&"protocol-violation"), "{dead:?}");
}

/// The last message `conversation` recorded, as (act, outcome, reason).
fn last_entry(rt: &Runtime, conversation: &str) -> (Performative, String, Option<&'static str>) {
    let c = record(rt, conversation).unwrap();
    let e = c.messages.last().unwrap();
    (e.performative, serde_json::to_value(e.outcome).unwrap().as_str().unwrap().to_string(), e.reason)
}

fn violations(rt: &Runtime) -> usize {
    rt.bus().dead_letters().iter().filter(|d| d.reason.as_str() == "protocol-violation").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_class_of_violation_is_refused_recorded_and_dead_lettered_and_changes_nothing() {
    let rt = runtime_with(vec![probe("buyer"), probe("seller"), probe("seller-2")]).await;

    // the wrong act for the state: a propose answering a request; the component sees the typed error
    sent(&rt, "buyer", asking("request", &["seller"], "fipa-request", "wrong-act", &["propose"])).await;
    let played = eventually(async || {
        dump(&rt, "seller").await.into_iter().find(|e| e["played"] == "propose" && e["outcome"]["refused"].is_object())
    })
    .await;
    let refused = &played["outcome"]["refused"];
    assert_eq!((refused["breach"].as_str(), refused["state"].as_str()), (Some("WrongAct"), Some("asked")), "{played}");
    assert_eq!(refused["allowed"], json!(["Agree", "Failure", "Inform", "NotUnderstood", "Refuse"]));
    assert!(refused["reason"].as_str().unwrap().contains("fipa-request"), "{refused}");
    assert_eq!(last_entry(&rt, "wrong-act"), (Performative::Propose, "refused".into(), Some("protocol-violation")));
    assert_eq!(record(&rt, "wrong-act").unwrap().exchanges["seller"].step, Step::Asked, "unchanged");
    assert_eq!(violations(&rt), 1);

    // the wrong sender: a party that never took part
    let mut intruder = Message::new(Performative::Inform, vec!["buyer".into()], "{}".into());
    intruder.protocol = Some("fipa-request".into());
    intruder.conversation_id = Some("wrong-act".into());
    match rt.bus().send("mallory", intruder) {
        Err(BusError::ProtocolViolation(v)) => assert_eq!(v.breach, Breach::NotAParty),
        other => panic!("expected a protocol violation, got {other:?}"),
    }
    assert_eq!(violations(&rt), 2);

    // an accept-proposal to a participant who did not propose
    let cnet = "fipa-contract-net";
    let mut cfp = asking("cfp", &["seller", "seller-2"], cnet, "award", &[]);
    cfp["content"]["acts_by"] = json!({ "seller": ["refuse"], "seller-2": ["propose"] });
    sent(&rt, "buyer", cfp).await;
    after_messages(&rt, "award", 3).await;
    let to_refuser = have_send(&rt, "buyer", asking("accept-proposal", &["seller"], cnet, "award", &[])).await;
    assert_eq!(to_refuser["refused"]["state"], "refused", "{to_refuser}");
    sent(&rt, "buyer", asking("accept-proposal", &["seller-2"], cnet, "award", &["inform"])).await;
    assert_eq!(after_messages(&rt, "award", 6).await.state, "done");

    // a message after the end
    let after = have_send(&rt, "buyer", asking("cfp", &["seller-2"], cnet, "award", &[])).await;
    assert_eq!(
        (after["refused"]["breach"].as_str(), after["refused"]["state"].as_str()),
        (Some("Ended"), Some("done"))
    );
    assert_eq!(last_entry(&rt, "award"), (Performative::Cfp, "refused".into(), Some("protocol-violation")));
    assert_eq!(violations(&rt), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proposal_after_the_cfps_reply_by_is_refused() {
    let rt = runtime_with(vec![probe("buyer"), probe("seller")]).await;
    // the seller answers from a timer set well after the cfp's reply-by: a timer never fires early
    let mut cfp = asking("cfp", &["seller"], "fipa-contract-net", "late", &["propose"]);
    cfp["reply_by_in_ms"] = json!(50);
    cfp["content"]["after_ms"] = json!(500);
    sent(&rt, "buyer", cfp).await;
    let played = eventually(async || dump(&rt, "seller").await.into_iter().find(|e| e["played"] == "propose")).await;
    let refused = &played["outcome"]["refused"];
    assert_eq!((refused["breach"].as_str(), refused["state"].as_str()), (Some("ReplyByPassed"), Some("expired")));
    let c = record(&rt, "late").unwrap();
    assert_eq!((c.state, c.exchanges["seller"].step), ("expired", Step::Expired));
}

#[tokio::test(flavor = "multi_thread")]
async fn act_rules_let_an_agent_send_only_the_acts_its_grant_lists_to_each_receiver() {
    let mut grants = all_grants();
    let rules = [("seller", vec!["cfp"]), ("*", vec!["inform"])];
    let table = rules.into_iter().map(|(p, acts)| (p.to_string(), acts.into_iter().map(String::from).collect()));
    grants.messaging.as_mut().unwrap().acts = Some(caxton::policy::acts::parse(table.collect()).unwrap());
    let rt = runtime_with(vec![spec("buyer", "bus_probe", grants), probe("seller")]).await;
    sent(&rt, "buyer", asking("cfp", &["seller"], "fipa-contract-net", "acts-1", &[])).await;
    let request = have_send(&rt, "buyer", asking("request", &["seller"], "fipa-request", "acts-1", &[])).await;
    let reason = request["refused"]["reason"].as_str().unwrap();
    assert!(reason.contains("access denied") && reason.contains("request to seller"), "{request}");
    // refused before the bus, and recorded in its conversation all the same
    assert_eq!(last_entry(&rt, "acts-1"), (Performative::Request, "refused".into(), Some("access-denied")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_conversation_id_or_protocol_is_none_so_no_two_senders_share_one() {
    let rt = runtime_with(vec![probe("seller")]).await;
    for client in ["alice", "bob"] {
        let mut request = Message::new(Performative::Request, vec!["seller".into()], r#"{"action":"ping"}"#.into());
        request.protocol = Some("fipa-request".into());
        request.conversation_id = Some(if client == "alice" { String::new() } else { " \t".into() });
        rt.bus().send(client, request).unwrap_or_else(|e| panic!("{client}: {e}"));
    }
    assert!(record(&rt, "").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_named_twice_gets_the_message_once() {
    let rt = runtime_with(vec![probe("buyer"), probe("seller")]).await;
    sent(&rt, "buyer", asking("request", &["seller", "seller", "seller"], "fipa-request", "twice", &["inform"])).await;
    let done = after_messages(&rt, "twice", 2).await;
    assert_eq!((done.state, done.messages[0].receivers.clone()), ("done", vec!["seller".to_string()]));
    // the one inform was the only answer: nothing refused, nothing dead-lettered
    assert_eq!(violations(&rt), 0);
    let played: Vec<Value> = dump(&rt, "seller").await.into_iter().filter(|e| e["played"].is_string()).collect();
    assert_eq!(played.len(), 1, "{played:?}");
}
