use super::*;
use crate::acl::Performative;
use std::time::Duration;

fn msg(to: &[&str]) -> Message {
    Message::new(Performative::Request, to.iter().map(|s| s.to_string()).collect(), "{}".into())
}

fn next(rx: &mut mailbox::Receiver) -> Message {
    match rx.try_recv() {
        Some(Event::Message(m)) => *m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn agent(bus: &Bus, name: &str, capacity: usize) -> mailbox::Receiver {
    let (tx, rx) = mailbox::channel(capacity);
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
    assert!(rx1.try_recv().is_none(), "nothing may be queued when one receiver refuses");
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
    assert_eq!(reasons(&bus), ["no-such-agent", "unclaimed-reply"]);
}

/// `client` asks `to` with `reply_with`; returns the waiter and the token the receiver sees.
fn ask(bus: &Arc<Bus>, to: &str, reply_with: Option<&str>) -> (ReplyWaiter, String) {
    let mut request = msg(&[to]);
    request.reply_with = reply_with.map(str::to_string);
    let waiter = bus.expect_reply("client", &mut request);
    let token = request.reply_with.clone().unwrap();
    bus.send("client", request).unwrap();
    (waiter, token)
}

fn answer(bus: &Arc<Bus>, from: &str, in_reply_to: &str, content: &str) -> Result<(), BusError> {
    let mut reply = Message::new(Performative::Inform, vec!["client".into()], content.into());
    reply.in_reply_to = Some(in_reply_to.into());
    bus.send(from, reply)
}

#[tokio::test]
async fn routes_a_reply_from_the_receiver_to_the_waiting_client_under_its_own_reply_with() {
    let bus = Bus::new();
    let mut b = agent(&bus, "b", 4);
    let (waiter, token) = ask(&bus, "b", Some("r1"));
    assert_eq!(next(&mut b).reply_with.as_deref(), Some(token.as_str()));
    assert_ne!(token, "r1", "the receiver sees the host's token, not the client's reply-with");
    answer(&bus, "b", &token, "genuine").unwrap();
    let got = waiter.recv().await.unwrap();
    assert_eq!((got.sender.as_str(), got.content.as_str()), ("b", "genuine"));
    assert_eq!(got.in_reply_to.as_deref(), Some("r1"));
}

#[tokio::test]
async fn only_a_receiver_of_the_request_can_answer_it() {
    let bus = Bus::new();
    let mut b = agent(&bus, "b", 4);
    let (waiter, token) = ask(&bus, "b", Some("r1"));
    let _ = next(&mut b);
    // a forger that learnt the token, and one that guesses the client's reply-with
    answer(&bus, "forger", &token, "forged").unwrap();
    answer(&bus, "forger", "r1", "forged").unwrap();
    answer(&bus, "b", &token, "genuine").unwrap();
    let got = waiter.recv().await.unwrap();
    assert_eq!((got.sender.as_str(), got.content.as_str()), ("b", "genuine"));
    assert_eq!(reasons(&bus), ["unsolicited-reply", "unclaimed-reply"]);
    let counts = bus.dead_letter_counts();
    assert!(counts.contains(&(Reason::UnsolicitedReply, 1)), "{counts:?}");
    assert!(counts.contains(&(Reason::UnclaimedReply, 1)), "{counts:?}");
}

#[tokio::test]
async fn two_clients_with_the_same_reply_with_each_get_their_own_reply() {
    let bus = Bus::new();
    let mut b = agent(&bus, "b", 4);
    let mut c = agent(&bus, "c", 4);
    let (from_b, token_b) = ask(&bus, "b", Some("same"));
    let (from_c, token_c) = ask(&bus, "c", Some("same"));
    let (_, _) = (next(&mut b), next(&mut c));
    answer(&bus, "c", &token_c, "from c").unwrap();
    answer(&bus, "b", &token_b, "from b").unwrap();
    assert_eq!(from_b.recv().await.unwrap().content, "from b");
    assert_eq!(from_c.recv().await.unwrap().content, "from c");
}

#[test]
fn generated_ids_are_unique_and_unguessable() {
    let bus = Bus::new();
    let ids: std::collections::HashSet<String> = (0..10_000).map(|_| bus.fresh_id("conv")).collect();
    assert_eq!(ids.len(), 10_000);
    for id in &ids {
        let random = id.strip_prefix("conv-").unwrap();
        assert_eq!(random.len(), 32, "128 random bits: {id}");
        assert!(random.chars().all(|c| c.is_ascii_hexdigit()));
    }
}

#[test]
fn register_refuses_duplicates_and_unregister_removes_everything() {
    let bus = Bus::new();
    let _rx = agent(&bus, "a", 1);
    let (tx, _rx2) = mailbox::channel(1);
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
    assert!(rx.try_recv().is_none());
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
    assert!(b.try_recv().is_none());
    assert_eq!(bus.publish("c", "prices.eu", &msg(&[])), 2);
}

use crate::acl::now_ms;

#[tokio::test(start_paused = true)]
async fn an_unanswered_request_fails_at_its_reply_by_deadline() {
    let bus = Bus::new();
    let _silent = agent(&bus, "silent", 4);
    let mut request = msg(&["silent"]);
    request.reply_with = Some("q1".into());
    request.reply_by = Some(now_ms() + 60_000);
    let waiter = bus.expect_reply("client", &mut request);
    bus.send("client", request).unwrap();
    let failure = waiter.recv().await.unwrap();
    assert_eq!(failure.in_reply_to.as_deref(), Some("q1"));
    assert_eq!(failure.performative, Performative::Failure);
    assert_eq!(failure.sender, "silent");
    assert!(failure.content.contains("reply-by"), "{}", failure.content);
    assert_eq!(reasons(&bus), ["reply-by"]);
}

/// `initiator` asks `responder` (reply-with `q1`) to answer within a second;
/// the mailboxes of both.
fn request_with_reply_by(bus: &Arc<Bus>) -> (mailbox::Receiver, mailbox::Receiver) {
    let responder = agent(bus, "responder", 4);
    let initiator = agent(bus, "initiator", 4);
    let mut request = msg(&["responder"]);
    request.reply_with = Some("q1".into());
    request.reply_by = Some(now_ms() + 1_000);
    bus.send("initiator", request).unwrap();
    (initiator, responder)
}

#[tokio::test(start_paused = true)]
async fn a_reply_in_time_cancels_the_reply_by_deadline() {
    let bus = Bus::new();
    let (mut inbox, _responder) = request_with_reply_by(&bus);
    let mut reply = Message::new(Performative::Inform, vec!["initiator".into()], "{}".into());
    reply.in_reply_to = Some("q1".into());
    bus.send("responder", reply).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(next(&mut inbox).performative, Performative::Inform);
    assert!(inbox.try_recv().is_none(), "no failure after a timely reply");
    assert!(bus.dead_letters().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_third_party_cannot_cancel_a_reply_by_deadline() {
    let bus = Bus::new();
    let (mut inbox, _responder) = request_with_reply_by(&bus);
    let mut forged = Message::new(Performative::Inform, vec!["initiator".into()], "{}".into());
    forged.in_reply_to = Some("q1".into());
    bus.send("meddler", forged).unwrap();
    assert_eq!(next(&mut inbox).sender, "meddler", "an agent still receives what is sent to it");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let failure = next(&mut inbox);
    assert_eq!((failure.performative, failure.sender.as_str()), (Performative::Failure, "responder"));
    assert_eq!(reasons(&bus), ["reply-by"]);
}

#[tokio::test(start_paused = true)]
async fn a_watched_deadline_keeps_no_content_and_one_initiator_cannot_fill_the_watch() {
    let bus = Bus::new();
    let _responder = agent(&bus, "responder", 4);
    let mut big = msg(&["responder"]);
    big.content = "x".repeat(100_000);
    big.reply_with = Some("big".into());
    big.reply_by = Some(now_ms() + 1_000);
    bus.send("hoarder", big).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let letter = bus.dead_letters().pop().unwrap();
    assert_eq!((letter.reason, letter.message.content.as_str()), (Reason::ReplyBy, ""), "only the header was kept");
    // past its share an initiator's deadlines are not watched; another's still are
    for i in 0..deadlines::MAX_PER_INITIATOR {
        assert!(bus.deadlines.watch(("hoarder".into(), format!("r{i}")), msg(&["responder"])).is_ok());
    }
    let refused = bus.deadlines.watch(("hoarder".into(), "one-more".into()), msg(&["responder"]));
    assert_eq!(refused, Err(deadlines::WatchRefused::InitiatorFull("hoarder".into())));
    assert!(bus.deadlines.watch(("someone-else".into(), "r0".into()), msg(&["responder"])).is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_answered_watch_stops_its_timer_and_a_reused_reply_with_keeps_its_own_deadline() {
    let bus = Bus::new();
    let (mut inbox, mut responder) = request_with_reply_by(&bus);
    let _ = next(&mut responder);
    let mut reply = Message::new(Performative::Inform, vec!["initiator".into()], "{}".into());
    reply.in_reply_to = Some("q1".into());
    bus.send("responder", reply).unwrap();
    assert!(bus.deadlines.is_empty(), "the answer ended the watch");
    // the same reply-with again, with a later deadline: the first one's timer must not end it
    let mut again = msg(&["responder"]);
    again.reply_with = Some("q1".into());
    again.reply_by = Some(now_ms() + 10_000);
    bus.send("initiator", again).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(next(&mut inbox).performative, Performative::Inform);
    assert!(inbox.try_recv().is_none(), "no failure at the first request's deadline");
    assert_eq!(bus.deadlines.len(), 1);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(next(&mut inbox).performative, Performative::Failure, "at its own deadline");
}

#[test]
fn an_answer_from_another_host_that_crossed_its_reply_by_in_transit_still_moves_the_conversation_on() {
    let bus = Arc::new(Bus::new());
    let mut buyer = agent(&bus, "buyer", 4);
    let _seller = agent(&bus, "seller", 4);
    let mut request = msg(&["seller"]);
    request.protocol = Some("fipa-request".into());
    request.conversation_id = Some("c-late".into());
    request.reply_by = Some(crate::acl::now_ms() + 20);
    bus.send("buyer", request).unwrap();
    // the seller's host let its inform go in time; it arrives here after the reply-by
    std::thread::sleep(Duration::from_millis(50));
    let mut inform = msg(&["buyer"]);
    inform.performative = Performative::Inform;
    inform.sender = "seller".into();
    inform.protocol = Some("fipa-request".into());
    inform.conversation_id = Some("c-late".into());
    bus.deliver_from_host(inform, &["buyer".to_string()], &mut |_, _| None).unwrap();
    assert_eq!(next(&mut buyer).performative, Performative::Inform);
    assert_eq!(bus.conversations().get("c-late").unwrap().state, "done", "the record moved on as the buyer saw it");
}
