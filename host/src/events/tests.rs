use super::logs::{NewLine, Source, LINES_PER_AGENT, MAX_RINGS};
use super::*;
use crate::acl::Performative;

fn message(sender: &str, receiver: &str, conversation: &str) -> Message {
    let mut m = Message::new(Performative::Request, vec![receiver.into()], "{}".into());
    m.sender = sender.into();
    m.conversation_id = Some(conversation.into());
    m
}

fn line<'a>(agent: &'a str, text: &'a str) -> NewLine<'a> {
    NewLine { agent, source: Source::Logging, level: "info", context: "", text }
}

#[test]
fn nothing_is_built_while_nobody_watches() {
    let events = Events::default();
    let mut built = false;
    events.publish(|| {
        built = true;
        Kind::Failure { agent: "a".into(), reason: "trap", detail: String::new() }
    });
    assert!(!built);
    let watcher = events.watch();
    events.publish(|| {
        built = true;
        Kind::Failure { agent: "a".into(), reason: "trap", detail: String::new() }
    });
    assert!(built);
    drop(watcher);
    assert!(!events.watched());
}

#[test]
fn a_watcher_reads_events_in_order_with_rising_sequence_numbers() {
    let events = Events::default();
    let mut watcher = events.watch();
    events.message(&message("a", "b", "c1"), &["b".into()], (Outcome::Delivered, None));
    events.lifecycle("b", Change::Quarantined, Some("trapped five times"));
    let Some(Next::Event(first)) = watcher.try_next() else { panic!("no first event") };
    let Some(Next::Event(second)) = watcher.try_next() else { panic!("no second event") };
    assert!(first.seq < second.seq);
    assert_eq!(first.kind.name(), KindName::Message);
    let json = serde_json::to_value(&*second).unwrap();
    assert_eq!(json["kind"], "lifecycle");
    assert_eq!(json["change"], "quarantined");
    assert!(watcher.try_next().is_none());
}

#[test]
fn a_watcher_that_never_reads_costs_at_most_the_ring_and_learns_what_it_missed() {
    let events = Events::default();
    let mut watcher = events.watch();
    for i in 0..(CAPACITY as u64 * 3) {
        events.failure("a", "trap", &format!("failure {i}"));
    }
    let Some(Next::Missed(missed)) = watcher.try_next() else { panic!("the lag was not reported") };
    assert_eq!(missed, CAPACITY as u64 * 2);
    let mut read = 0;
    while let Some(Next::Event(_)) = watcher.try_next() {
        read += 1;
    }
    assert_eq!(read, CAPACITY);
}

#[test]
fn message_events_serialize_the_whole_message_as_the_api_writes_it() {
    let events = Events::default();
    let mut watcher = events.watch();
    let mut m = message("a", "b", "c1");
    m.content = r#"{"text":"hi"}"#.into();
    events.undelivered(&m, "b", Outcome::DeadLettered, "mailbox-full", "the mailbox of `b` is full");
    let Some(Next::Event(event)) = watcher.try_next() else { panic!("no event") };
    let json = serde_json::to_value(&*event).unwrap();
    assert_eq!(json["kind"], "message");
    assert_eq!(json["outcome"], "dead-lettered");
    assert_eq!(json["reason"], "mailbox-full");
    assert_eq!(json["message"]["content"]["text"], "hi");
    assert_eq!(json["message"]["sender"], "a");
    assert_eq!(json["receivers"], serde_json::json!(["b"]));
}

#[test]
fn a_log_event_nests_its_line_so_the_two_sequence_numbers_stay_apart() {
    let events = Events::default();
    let mut watcher = events.watch();
    events.lifecycle("a", Change::Deployed, None);
    events.log(line("a", "hello"));
    let _ = watcher.try_next();
    let Some(Next::Event(event)) = watcher.try_next() else { panic!("no log event") };
    let text = serde_json::to_string(&*event).unwrap();
    assert_eq!(text.matches("\"seq\"").count(), 2, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!((json["seq"].as_u64(), json["line"]["seq"].as_u64()), (Some(2), Some(1)));
    assert_eq!(json["line"]["text"], "hello");
}

#[test]
fn filters_by_agent_conversation_and_kind() {
    let events = Events::default();
    let mut watcher = events.watch();
    events.message(&message("a", "b", "c1"), &["b".into()], (Outcome::Delivered, None));
    events.log(line("b", "hello"));
    let Some(Next::Event(msg)) = watcher.try_next() else { panic!() };
    let Some(Next::Event(log)) = watcher.try_next() else { panic!() };
    let f = |agent: Option<&str>, conversation: Option<&str>, kinds: &[KindName]| Filter {
        agent: agent.map(str::to_string),
        conversation: conversation.map(str::to_string),
        kinds: kinds.to_vec(),
    };
    assert!(f(Some("a"), None, &[]).admits(&msg) && f(Some("b"), None, &[]).admits(&msg));
    assert!(!f(Some("c"), None, &[]).admits(&msg));
    assert!(!f(Some("b-2"), None, &[]).admits(&msg) && !f(Some(""), None, &[]).admits(&msg));
    events.lifecycle("account/alice", Change::Activated, None);
    let Some(Next::Event(activated)) = watcher.try_next() else { panic!() };
    assert!(f(Some("account"), None, &[]).admits(&activated), "a type's filter takes in its instances");
    assert!(f(Some("account/alice"), None, &[]).admits(&activated) && !f(Some("acc"), None, &[]).admits(&activated));
    assert!(f(None, Some("c1"), &[]).admits(&msg) && !f(None, Some("c2"), &[]).admits(&msg));
    assert!(!f(None, Some("c1"), &[]).admits(&log), "log lines belong to no conversation");
    assert!(f(Some("b"), None, &[KindName::Log]).admits(&log) && !f(None, None, &[KindName::Log]).admits(&msg));
    assert_eq!("LOG".parse::<KindName>(), Ok(KindName::Log));
    assert!("gossip".parse::<KindName>().unwrap_err().contains("message, lifecycle, failure, log"));
}

#[test]
fn an_agent_keeps_its_latest_lines_and_since_pages_forward() {
    let events = Events::default();
    for i in 0..(LINES_PER_AGENT + 10) {
        events.log(line("a", &format!("line {i}")));
    }
    events.log(line("b", "other"));
    let (kept, more) = events.logs().since("a", 0, usize::MAX);
    assert_eq!((kept.len(), more), (LINES_PER_AGENT, false));
    assert_eq!(kept.first().unwrap().text, "line 10");
    let last_seq = kept.last().unwrap().seq;
    assert!(events.logs().since("a", last_seq, usize::MAX).0.is_empty());
    let (page, more) = events.logs().since("a", 0, 3);
    assert_eq!(page.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["line 10", "line 11", "line 12"]);
    assert!(more, "a page says that more follow");
    let (next, _) = events.logs().since("a", page[2].seq, 1);
    assert_eq!(next[0].text, "line 13", "paging from the last seq loses no line");
    assert_eq!(events.logs().since("a", kept[kept.len() - 2].seq, 10).0.len(), 1);
    assert!(events.logs().since("nobody", 0, 10).0.is_empty());
}

#[test]
fn rings_are_bounded_and_the_least_recently_written_goes_first() {
    let events = Events::default();
    for i in 0..MAX_RINGS {
        events.log(line(&format!("agent-{i}"), "x"));
    }
    events.log(line("agent-0", "still here"));
    events.log(line("newcomer", "y"));
    assert_eq!(events.logs().rings(), MAX_RINGS);
    assert!(events.logs().since("agent-1", 0, 10).0.is_empty(), "agent-1 wrote least recently");
    assert_eq!(events.logs().since("agent-0", 0, 10).0.len(), 2);
}
