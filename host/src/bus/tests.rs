use super::*;
use crate::acl::Performative;

fn msg(to: &[&str]) -> Message {
    Message::new(Performative::Request, to.iter().map(|s| s.to_string()).collect(), "{}".into())
}

fn next(rx: &mut mpsc::Receiver<Event>) -> Message {
    match rx.try_recv() {
        Ok(Event::Message(m)) => *m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn agent(bus: &Bus, name: &str, capacity: usize) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(capacity);
    bus.register(name, tx, Profile::default()).unwrap();
    rx
}

fn reasons(bus: &Bus) -> Vec<&'static str> {
    bus.dead_letters().iter().map(|d| d.reason.as_str()).collect()
}

#[test]
fn stamps_the_true_sender_and_starts_a_conversation() {
    let bus = Bus::new();
    let mut rx = agent(&bus, "b", 4);
    let mut m = msg(&["b"]);
    m.sender = "somebody-else".into();
    bus.send("a", m).unwrap();
    let got = next(&mut rx);
    assert_eq!(got.sender, "a");
    assert!(got.conversation_id.is_some());
}

#[test]
fn a_full_mailbox_refuses_the_whole_send_and_dead_letters_it() {
    let bus = Bus::new();
    let mut rx1 = agent(&bus, "roomy", 4);
    let _rx2 = agent(&bus, "full", 1);
    bus.send("a", msg(&["full"])).unwrap();
    assert_eq!(bus.send("a", msg(&["roomy", "full"])), Err(BusError::MailboxFull("full".into())));
    assert!(rx1.try_recv().is_err(), "nothing may be queued when one receiver refuses");
    assert_eq!(reasons(&bus), ["mailbox-full"]);
}

#[test]
fn unknown_receivers_are_refused_and_unclaimed_replies_dead_lettered() {
    let bus = Bus::new();
    assert_eq!(bus.send("a", msg(&["ghost"])), Err(BusError::NoSuchAgent("ghost".into())));
    let mut reply = msg(&["gone-client"]);
    reply.in_reply_to = Some("r1".into());
    assert_eq!(bus.send("a", reply), Ok(()));
    assert_eq!(bus.send("a", msg(&[])), Err(BusError::NoReceivers));
    assert_eq!(reasons(&bus), ["no-such-agent", "no-such-agent"]);
}

#[tokio::test]
async fn routes_replies_to_the_waiting_client() {
    let bus = Bus::new();
    let waiter = bus.expect_reply("client", "r1").unwrap();
    assert!(matches!(bus.expect_reply("client", "r1"), Err(BusError::AlreadyWaiting { .. })));
    let mut reply = msg(&["client"]);
    reply.in_reply_to = Some("r1".into());
    bus.send("agent", reply).unwrap();
    let got = waiter.recv().await.unwrap();
    assert_eq!(got.sender, "agent");
    assert!(bus.expect_reply("client", "r1").is_ok(), "the key is free again once answered");
}

#[test]
fn register_refuses_duplicates_and_unregister_removes_everything() {
    let bus = Bus::new();
    let _rx = agent(&bus, "a", 1);
    let (tx, _rx2) = mpsc::channel(1);
    assert_eq!(bus.register("a", tx, Profile::default()), Err(BusError::AlreadyRegistered("a".into())));
    assert!(bus.topics().subscribe("a", "t.*"));
    assert_eq!(bus.search(&Query::default()), ["a"]);
    assert!(bus.unregister("a"));
    assert!(!bus.is_agent("a"));
    assert!(bus.search(&Query::default()).is_empty());
    assert!(bus.topics().subscribers("t.x").is_empty());
}

#[test]
fn messages_past_the_hop_limit_are_dead_lettered() {
    let bus = Bus::new();
    let mut rx = agent(&bus, "b", 4);
    let mut m = msg(&["b"]);
    m.hops = MAX_HOPS;
    bus.send("a", m.clone()).unwrap();
    assert_eq!(next(&mut rx).hops, MAX_HOPS);
    m.hops = MAX_HOPS + 1;
    bus.send("a", m).unwrap();
    assert!(rx.try_recv().is_err());
    assert_eq!(reasons(&bus), ["hop-limit"]);
}

#[test]
fn publish_reaches_matching_subscribers_but_not_the_publisher() {
    let bus = Bus::new();
    let mut a = agent(&bus, "a", 4);
    let mut b = agent(&bus, "b", 4);
    let _c = agent(&bus, "c", 4);
    bus.topics().subscribe("a", "prices.*");
    bus.topics().subscribe("b", "prices.eu");
    bus.topics().subscribe("c", "news.*");
    assert_eq!(bus.publish("b", "prices.eu", &msg(&[])), 1);
    assert_eq!(next(&mut a).receivers, ["a"]);
    assert!(b.try_recv().is_err());
    assert_eq!(bus.publish("c", "prices.eu", &msg(&[])), 2);
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_request_fails_at_its_reply_by_deadline() {
    let bus = Bus::new();
    let _silent = agent(&bus, "silent", 4);
    let waiter = bus.expect_reply("client", "q1").unwrap();
    let mut request = msg(&["silent"]);
    request.reply_with = Some("q1".into());
    request.reply_by = Some(now_ms() + 60_000);
    bus.send("client", request).unwrap();
    let failure = waiter.recv().await.unwrap();
    assert_eq!(failure.performative, Performative::Failure);
    assert_eq!(failure.sender, "silent");
    assert!(failure.content.contains("reply-by"), "{}", failure.content);
    assert_eq!(reasons(&bus), ["reply-by"]);
}

#[tokio::test(start_paused = true)]
async fn a_reply_in_time_cancels_the_reply_by_deadline() {
    let bus = Bus::new();
    let _silent = agent(&bus, "responder", 4);
    let mut inbox = agent(&bus, "initiator", 4);
    let mut request = msg(&["responder"]);
    request.reply_with = Some("q1".into());
    request.reply_by = Some(now_ms() + 1_000);
    bus.send("initiator", request).unwrap();
    let mut reply = Message::new(Performative::Inform, vec!["initiator".into()], "{}".into());
    reply.in_reply_to = Some("q1".into());
    bus.send("responder", reply).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(next(&mut inbox).performative, Performative::Inform);
    assert!(inbox.try_recv().is_err(), "no failure after a timely reply");
    assert!(bus.dead_letters().is_empty());
}
