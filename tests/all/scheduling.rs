//! The scheduler's guarantees through real agents: order per sender while
//! workers steal, and removal in the middle of a batch.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::bus::directory::Profile;
use caxton::bus::{mailbox, Event};
use caxton::policy::Limits;
use caxton::runtime::StateOnRemove;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn roomy(name: &str) -> caxton::policy::AgentSpec {
    let mut spec = probe(name);
    // room for floods, and for `spin`, which reads the clock in a loop (a host call each time)
    spec.limits = Limits {
        mailbox: 4_096,
        messages_per_second: 1_000_000,
        host_calls_per_message: 100_000_000,
        ..Limits::default()
    };
    spec
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receiver_fed_from_every_worker_sees_each_senders_messages_in_order() {
    // eight agents flood one recorder at once: the recorder is scheduled from every worker's
    // LIFO slot, yields after each batch and is stolen by whichever worker is free
    let flooders: Vec<String> = (0..8).map(|i| format!("flooder-{i}")).collect();
    let mut specs = vec![roomy("recorder")];
    specs.extend(flooders.iter().map(|f| roomy(f)));
    let rt = Arc::new(runtime_with(specs).await);
    let floods: Vec<_> = flooders
        .iter()
        .map(|f| {
            let (rt, f) = (rt.clone(), f.clone());
            tokio::spawn(
                async move { ask(&rt, &f, json!({ "action": "flood", "to": "recorder", "count": 300 })).await },
            )
        })
        .collect();
    for flood in floods {
        assert_eq!(content(&flood.await.unwrap())["result"]["sent"], 300);
    }
    let mut by_sender: HashMap<String, Vec<u64>> = HashMap::new();
    for event in dump(&rt, "recorder").await {
        let seq = event["content"]["seq"].as_u64().unwrap();
        by_sender.entry(event["from"].as_str().unwrap().into()).or_default().push(seq);
    }
    assert_eq!(by_sender.len(), flooders.len());
    for (sender, seqs) in by_sender {
        assert_eq!(seqs, (0..300).collect::<Vec<u64>>(), "order from {sender}");
    }
}

/// `(request number, "handled" or the failure's reason)` of a reply to `r{N}`.
fn outcome(event: Option<Event>) -> (usize, String) {
    let Some(Event::Message(reply)) = event else { panic!("expected a reply, got {event:?}") };
    let seq = reply.in_reply_to.as_deref().and_then(|r| r.strip_prefix('r')).unwrap().parse().unwrap();
    let outcome = match reply.performative {
        Performative::Inform => "handled".to_string(),
        _ => serde_json::from_str::<Value>(&reply.content).unwrap()["reason"].as_str().unwrap().to_string(),
    };
    (seq, outcome)
}

#[tokio::test(flavor = "multi_thread")]
async fn removal_during_a_batch_finishes_the_event_in_hand_and_answers_the_rest() {
    let rt = runtime_with(vec![roomy("busy")]).await;
    let (tx, mut replies) = mailbox::channel(1_000);
    rt.bus().register("tester", tx, Profile::default()).unwrap();
    const SENT: usize = 200;
    for seq in 0..SENT {
        let mut request =
            Message::new(Performative::Request, vec!["busy".into()], json!({ "action": "spin", "ms": 1 }).to_string());
        request.reply_with = Some(format!("r{seq}"));
        rt.bus().send("tester", request).unwrap();
    }
    // the first reply means a batch is under way with most of the queue still waiting
    let mut outcomes: Vec<(usize, String)> = vec![outcome(replies.recv().await)];
    rt.remove("busy", StateOnRemove::Delete).await.unwrap();
    while outcomes.len() < SENT {
        outcomes.push(outcome(replies.recv().await));
    }
    assert!(replies.try_recv().is_none(), "each request is answered exactly once");
    outcomes.sort_unstable();
    assert_eq!(outcomes.iter().map(|o| o.0).collect::<Vec<_>>(), (0..SENT).collect::<Vec<_>>());
    // handled requests form a prefix of the queue; everything after the event in hand is refused
    let handled = outcomes.iter().take_while(|o| o.1 == "handled").count();
    assert!((1..SENT).contains(&handled), "{handled} handled");
    assert!(outcomes[handled..].iter().all(|o| o.1 == "removed"), "{:?}", &outcomes[handled..]);
    let removed = rt.bus().dead_letters().iter().filter(|d| d.reason.as_str() == "removed").count();
    assert_eq!(removed, SENT - handled);
}
