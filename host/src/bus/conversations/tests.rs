//! The records: order, outcomes, protocol moves, bounds.

use super::*;
use crate::acl::Performative;

fn msg(conversation: &str, act: Performative, from: &str, to: &str) -> Message {
    let mut m = Message::new(act, vec![to.into()], String::new());
    m.sender = from.into();
    m.conversation_id = Some(conversation.into());
    m.protocol = Some("fipa-request".into());
    m
}

#[test]
fn a_conversation_keeps_its_messages_in_order_with_their_outcomes() {
    let records = Conversations::default();
    let request = msg("c1", Performative::Request, "buyer", "seller");
    records.record(&request, &request.receivers, (Outcome::Delivered, None), None);
    let agree = msg("c1", Performative::Agree, "seller", "buyer");
    records.record(&agree, &agree.receivers, (Outcome::Refused, Some("mailbox-full")), None);
    let c = records.get("c1").unwrap();
    assert_eq!((c.initiator.as_str(), c.participants.clone()), ("buyer", vec!["seller".to_string()]));
    assert_eq!(c.protocol.as_deref(), Some("fipa-request"));
    let acts: Vec<_> = c.messages.iter().map(|e| (e.performative, e.outcome, e.reason)).collect();
    assert_eq!(
        acts,
        [
            (Performative::Request, Outcome::Delivered, None),
            (Performative::Agree, Outcome::Refused, Some("mailbox-full"))
        ]
    );
    // a message without a protocol joins a kept conversation, and starts none
    let mut inform = msg("c1", Performative::Inform, "seller", "buyer");
    inform.protocol = None;
    records.record(&inform, &inform.receivers, (Outcome::Delivered, None), None);
    inform.conversation_id = Some("c2".into());
    records.record(&inform, &inform.receivers, (Outcome::Delivered, None), None);
    assert!(records.get("c2").is_none());
    let listed = records.list(&Filter { agent: Some("seller".into()), ..Filter::default() }, 10);
    assert_eq!((listed.len(), listed[0].messages.len(), listed[0].message_count), (1, 0, 3));
    assert!(records.list(&Filter { protocol: Some("fipa-query".into()), ..Filter::default() }, 10).is_empty());
}

/// Admit `m` and record it delivered, as the bus does.
fn deliver(records: &Conversations, m: &Message) -> Result<(), Violation> {
    let admitted = records.admit(m)?;
    records.record(m, &m.receivers, (Outcome::Delivered, None), admitted);
    Ok(())
}

#[test]
fn a_reply_that_crossed_its_reply_by_between_hosts_still_moves_the_record_on() {
    let records = Conversations::default();
    let mut request = msg("c1", Performative::Request, "buyer", "seller");
    request.reply_by = Some(now_ms() + 60_000);
    deliver(&records, &request).unwrap();
    // the exchange's deadline passed here while the seller's host was letting its inform go
    let inform = msg("c1", Performative::Inform, "seller", "buyer");
    assert!(records.admit_at(&inform, u64::MAX).is_err(), "sent from here, it would be refused as late");
    let admitted = records.admit_from_host(&inform).unwrap();
    records.record(&inform, &inform.receivers, (Outcome::Delivered, None), admitted);
    assert_eq!(records.get("c1").unwrap().state, "done");
}

#[test]
fn a_protocol_moves_on_only_with_delivered_messages_and_shows_its_state() {
    let records = Conversations::default();
    let request = msg("c1", Performative::Request, "buyer", "seller");
    deliver(&records, &request).unwrap();
    let inform = msg("c1", Performative::Inform, "seller", "buyer");
    // admitted, then refused by a full mailbox: the exchange did not move
    let admitted = records.admit(&inform).unwrap();
    assert!(admitted.is_some());
    records.record(&inform, &inform.receivers, (Outcome::Refused, Some("mailbox-full")), None);
    assert_eq!(records.get("c1").unwrap().state, "open");
    // a protocol-less message from a party is held to the protocol; from anyone else it is not
    let mut stray = msg("c1", Performative::Propose, "seller", "buyer");
    stray.protocol = None;
    assert!(records.admit(&stray).is_err());
    stray.sender = "bystander".into();
    assert!(records.admit(&stray).unwrap().is_none());
    deliver(&records, &inform).unwrap();
    let c = records.get("c1").unwrap();
    assert_eq!((c.state, c.exchanges["seller"].step), ("done", crate::protocol::Step::Done));
    let done = Filter { state: Some("done".into()), ..Filter::default() };
    assert_eq!(records.list(&done, 10).len(), 1);
}

#[test]
fn ended_conversations_are_forgotten_before_open_ones() {
    let records = Conversations::with_caps(Caps { conversations: 2 * SHARDS, messages: 8 });
    // two kept per shard: the open one, and each new one while it runs
    deliver(&records, &msg("open", Performative::Request, "a", "b")).unwrap();
    for i in 0..1_000 {
        let id = format!("c{i}");
        deliver(&records, &msg(&id, Performative::Request, "a", "b")).unwrap();
        deliver(&records, &msg(&id, Performative::Inform, "b", "a")).unwrap();
    }
    assert_eq!(records.get("open").map(|c| c.state), Some("open"), "the open one outlived 1,000 ended ones");
    assert!(records.len() <= 2 * SHARDS, "{} kept", records.len());
}

#[test]
fn memory_stays_bounded_under_a_flood_of_conversations_and_messages() {
    let caps = Caps { conversations: 64, messages: 8 };
    let records = Conversations::with_caps(caps);
    for i in 0..100_000 {
        let m = msg(&format!("c{i}"), Performative::Inform, "a", "b");
        records.record(&m, &m.receivers, (Outcome::Delivered, None), None);
    }
    assert!(records.len() <= caps.conversations + SHARDS, "{} kept", records.len());
    assert!(records.get("c99999").is_some(), "the newest is kept");
    assert!(records.get("c0").is_none(), "the oldest went first");
    let (slots, tickets) = records.footprint();
    let per_shard = caps.conversations.div_ceil(SHARDS);
    assert!(
        slots <= per_shard,
        "a shard holds {slots} slots for {per_shard} records: forgotten ones' slots are reused"
    );
    assert!(tickets <= 2 * (2 * per_shard + 16), "a shard's order lists hold {tickets} entries");
    for _ in 0..100 {
        let m = msg("long", Performative::Inform, "a", "b");
        records.record(&m, &m.receivers, (Outcome::Delivered, None), None);
    }
    let long = records.get("long").unwrap();
    assert_eq!((long.messages.len(), long.message_count, long.dropped), (8, 100, 92));
}

#[test]
fn a_delivered_message_dead_lettered_later_changes_its_entry_and_adds_none() {
    let records = Conversations::default();
    deliver(&records, &msg("c1", Performative::Request, "buyer", "seller")).unwrap();
    let inform = msg("c1", Performative::Inform, "seller", "buyer");
    deliver(&records, &inform).unwrap();
    records.record(&inform, &["buyer".to_string()], (Outcome::DeadLettered, Some("unclaimed-reply")), None);
    let c = records.get("c1").unwrap();
    let last = c.messages.last().unwrap();
    assert_eq!((c.message_count, last.outcome, last.reason), (2, Outcome::DeadLettered, Some("unclaimed-reply")));
}

#[test]
fn refused_messages_make_nobody_a_participant_start_no_record_and_crowd_out_no_entries() {
    let records = Conversations::with_caps(Caps { conversations: 2 * SHARDS, messages: 8 });
    deliver(&records, &msg("real", Performative::Request, "a", "b")).unwrap();
    let intruder = msg("real", Performative::Inform, "eve", "a");
    assert!(records.admit(&intruder).is_err());
    records.record(&intruder, &intruder.receivers, (Outcome::Refused, Some("protocol-violation")), None);
    let c = records.get("real").unwrap();
    assert_eq!((c.participants.clone(), c.message_count), (vec!["b".to_string()], 2));
    let eves = Filter { agent: Some("eve".into()), ..Filter::default() };
    assert!(records.list(&eves, 10).is_empty(), "a refused sender took no part");
    // a flood of refused openers starts no record, and pushes out no open conversation
    for i in 0..1_000 {
        let junk = msg(&format!("junk-{i}"), Performative::Inform, "eve", "a");
        records.record(&junk, &junk.receivers, (Outcome::Refused, Some("protocol-violation")), None);
    }
    assert!(records.get("junk-0").is_none());
    assert_eq!(records.get("real").map(|c| c.state), Some("open"));
    // refusals in a kept conversation keep at most a quarter of its entries: the parties' answer still shows
    for _ in 0..20 {
        records.record(&intruder, &intruder.receivers, (Outcome::Refused, Some("protocol-violation")), None);
    }
    deliver(&records, &msg("real", Performative::Inform, "b", "a")).unwrap();
    let c = records.get("real").unwrap();
    assert_eq!(
        c.messages.last().map(|e| (e.performative, e.outcome)),
        Some((Performative::Inform, Outcome::Delivered))
    );
}

#[test]
fn a_message_without_a_protocol_to_someone_outside_the_conversation_is_not_held_to_it() {
    let records = Conversations::default();
    deliver(&records, &msg("c1", Performative::Request, "a", "b")).unwrap();
    deliver(&records, &msg("c1", Performative::Inform, "b", "a")).unwrap();
    // the conversation ended; b answers an outsider's plain question in it
    let mut answer = msg("c1", Performative::Inform, "b", "bob");
    answer.protocol = None;
    assert!(records.admit(&answer).unwrap().is_none());
    answer.receivers = vec!["a".into()];
    assert!(records.admit(&answer).is_err(), "among its parties it is held to the ended protocol");
}

#[test]
fn a_conversation_under_an_unlisted_protocol_cannot_be_taken_over_by_a_listed_one() {
    let records = Conversations::default();
    let mut custom = msg("c1", Performative::Inform, "alice", "bob");
    custom.protocol = Some("custom-auction".into());
    deliver(&records, &custom).unwrap();
    let takeover = msg("c1", Performative::Request, "mallory", "bob");
    assert!(records.admit(&takeover).unwrap().is_none(), "recorded, not checked, and no machine opens");
    deliver(&records, &takeover).unwrap();
    let c = records.get("c1").unwrap();
    assert_eq!((c.protocol.as_deref(), c.initiator.as_str()), (Some("custom-auction"), "alice"));
}

#[test]
fn ids_the_host_mints_are_kept_apart_from_other_spellings_and_shown_as_given() {
    let records = Conversations::default();
    let minted = crate::ids::fresh("conv");
    let shouted = format!("conv-{}", minted["conv-".len()..].to_uppercase());
    let ids = [minted.as_str(), shouted.as_str(), "conv-42", "conv-0123456789abcdef0123456789abcdeg"];
    for id in ids {
        deliver(&records, &msg(id, Performative::Request, "buyer", "seller")).unwrap();
    }
    deliver(&records, &msg(&minted, Performative::Inform, "seller", "buyer")).unwrap();
    let states: Vec<_> = ids.iter().map(|id| records.get(id).map(|c| (c.id, c.state))).collect();
    let expected: Vec<_> =
        ids.iter().zip(["done", "open", "open", "open"]).map(|(id, s)| Some((id.to_string(), s))).collect();
    assert_eq!(states, expected);
    assert_eq!(records.len(), 4);
}
