//! Exercises the message bus on request, and records what it receives, so
//! tests can check ordering, scope, directory, pub/sub, timers and loops.
//!
//! Every `inform` that is not part of a bounce is recorded as
//! `{"from", "content"}`; every fired timer as `{"timer": id}`. `dump` returns
//! the record. A `relay` passes a message back and forth between two probes a
//! given number of times and then reports to whoever asked (benchmarks time it).
//! A probe whose name starts with `listener` subscribes to `prices.*` and sets
//! a timer in `init`. A `play` answers with the acts it lists (`acts`, or its
//! own in `acts_by`), one message
//! each, in the message's conversation, and records each as
//! `{"played", "outcome"}` (after `after_ms` when it says so); a probe that
//! receives an act of a play records it. A `send` sends the message it
//! describes and answers what became of it (a protocol violation in parts).
use caxton_sdk::{
    json, kv, timers, Agent, AgentProfile, DirectoryQuery, Message, Performative, SendError, ServiceDescription, Value,
};
use std::cell::RefCell;

thread_local! {
    static EVENTS: RefCell<Vec<Value>> = const { RefCell::new(Vec::new()) };
}

fn record(event: Value) {
    EVENTS.with(|e| e.borrow_mut().push(event));
}

fn to(receiver: &str, content: Value) -> Message {
    Message::new(Performative::Inform, receiver, &content)
}

fn result<T: Into<Value>>(msg: &Message, outcome: Result<T, String>) -> Message {
    match outcome {
        Ok(v) => msg.inform(v.into()),
        Err(e) => msg.failure(&e),
    }
}

/// The next message of a relay whose content (after `relay `) is `N UNTIL
/// REPORT PAD`: the same back to the sender with `N + 1`, or, at `UNTIL`,
/// `relayed N` to REPORT. Plain text, so a hop costs the guest next to nothing.
fn relayed(msg: &Message, relay: &str) -> Message {
    let mut fields = relay.splitn(4, ' ');
    let mut number = || fields.next().and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let (n, until) = (number(), number());
    let (report, pad) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
    let mut next = if n >= until { to(report, json!(null)) } else { msg.reply(Performative::Inform, &json!(null)) };
    next.content = if n >= until { format!("relayed {n}") } else { format!("relay {} {until} {report} {pad}", n + 1) };
    next
}

/// The act named `name` (FIPA spelling).
fn act(name: &str) -> Option<Performative> {
    let all = [
        ("accept-proposal", Performative::AcceptProposal),
        ("agree", Performative::Agree),
        ("cancel", Performative::Cancel),
        ("cfp", Performative::Cfp),
        ("failure", Performative::Failure),
        ("inform", Performative::Inform),
        ("not-understood", Performative::NotUnderstood),
        ("propose", Performative::Propose),
        ("query-if", Performative::QueryIf),
        ("query-ref", Performative::QueryRef),
        ("refuse", Performative::Refuse),
        ("reject-proposal", Performative::RejectProposal),
        ("request", Performative::Request),
        ("request-when", Performative::RequestWhen),
        ("subscribe", Performative::Subscribe),
    ];
    all.into_iter().find(|(n, _)| *n == name).map(|(_, p)| p)
}

/// `value`'s variant name, e.g. `WrongAct`.
fn variant(value: impl std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    debug.rsplit("::").next().unwrap_or_default().to_string()
}

/// What became of a send: `{"sent": true}` or `{"refused": …}` with a protocol violation's parts.
fn outcome(sent: Result<(), SendError>) -> Value {
    match sent {
        Ok(()) => json!({ "sent": true }),
        Err(SendError::ProtocolViolation(v)) => json!({ "refused": {
            "protocol": v.protocol, "breach": variant(v.breach), "state": v.state,
            "allowed": v.allowed.iter().map(variant).collect::<Vec<_>>(), "reason": v.reason,
        }}),
        Err(e) => json!({ "refused": { "reason": e.sentence() } }),
    }
}

thread_local! {
    /// Plays waiting for their timer: timer id → (the message to answer, its acts).
    static LATER: RefCell<Vec<(u64, Message, Vec<Value>)>> = const { RefCell::new(Vec::new()) };
}

/// Answer `msg` with each act `acts` names (content `{"act": N}`); record what became of each.
fn play(msg: &Message, acts: &[Value]) {
    for (n, name) in acts.iter().filter_map(Value::as_str).enumerate() {
        let Some(performative) = act(name) else { continue };
        let sent = caxton_sdk::try_send(msg.reply(performative, &json!({ "act": n })));
        record(json!({ "played": name, "outcome": outcome(sent) }));
    }
}

/// The message `{"performative", "to": [..], "protocol", "conversation_id", "reply_with",
/// "reply_by_in_ms", "content"}` describes.
fn described(d: &Value) -> Message {
    let text = |key: &str| d[key].as_str().map(str::to_string);
    let performative = act(d["performative"].as_str().unwrap_or_default()).unwrap_or(Performative::Inform);
    let mut m = Message::new(performative, "", &d["content"]);
    m.receivers = d["to"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    m.protocol = text("protocol");
    m.conversation_id = text("conversation_id");
    m.reply_with = text("reply_with");
    m.reply_by = d["reply_by_in_ms"].as_u64().map(|ms| caxton_sdk::unix_millis() + ms);
    m
}

struct BusProbe;

impl Agent for BusProbe {
    /// A probe named `listener…` subscribes to `prices.*` and sets a 1 ms timer
    /// where agents naturally do: in `init`.
    fn init() -> Result<(), String> {
        if caxton_sdk::self_id().starts_with("listener") {
            caxton_sdk::subscribe("prices.*")?;
            timers::set(1).map_err(|e| e.sentence())?;
        }
        Ok(())
    }

    fn handle_message(msg: Message) -> Result<(), String> {
        if let Some(relay) = msg.content.strip_prefix("relay ") {
            return caxton_sdk::send(relayed(&msg, relay));
        }
        let c = msg.json_value();
        if let Some(n) = c["act"].as_u64() {
            // one act of another probe's play
            record(json!({ "from": msg.sender, "performative": variant(msg.performative), "act": n }));
            return Ok(());
        }
        let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
        if msg.performative == Performative::Inform {
            if let Some(n) = c["bounce"].as_u64() {
                let _ = caxton_sdk::send(msg.reply(Performative::Inform, &json!({ "bounce": n + 1 })));
            } else {
                record(json!({ "from": msg.sender, "content": c }));
            }
            return Ok(());
        }
        let reply = match c["action"].as_str() {
            Some("ping") => msg.inform(json!("pong")),
            Some("echo") => {
                // the content exactly as it arrived, not re-read as JSON
                let mut echo = msg.reply(Performative::Inform, &json!(null));
                echo.content = msg.content.clone();
                echo
            }
            Some("ignore") => return Ok(()),
            Some("play") => {
                // `acts_by` gives each receiver of the same message its own acts
                let mine = &c["acts_by"][caxton_sdk::self_id()];
                let acts = mine.as_array().or(c["acts"].as_array()).cloned().unwrap_or_default();
                match c["after_ms"].as_u64() {
                    Some(ms) => {
                        let id = timers::set(ms).map_err(|e| e.sentence())?;
                        LATER.with(|l| l.borrow_mut().push((id, msg, acts)));
                    }
                    None => play(&msg, &acts),
                }
                return Ok(());
            }
            Some("send") => msg.inform(outcome(caxton_sdk::try_send(described(&c["message"])))),
            Some("dump") => msg.inform(Value::Array(EVENTS.with(|e| e.borrow().clone()))),
            Some("bounce") => {
                result(&msg, caxton_sdk::send(to(&text("to"), json!({ "bounce": 1 }))).map(|()| "started"))
            }
            Some("relay") => {
                // start a relay of `hops` messages between us and `to`; the last one reports back
                let (hops, pad) = (c["hops"].as_u64().unwrap_or(1), text("pad"));
                let mut start = to(&text("to"), json!(null));
                start.content = format!("relay 1 {hops} {} {pad}", msg.sender);
                return caxton_sdk::send(start);
            }
            Some("forge") => {
                let mut forged = to(&text("to"), json!({ "seq": 0 }));
                forged.sender = text("as");
                result(&msg, caxton_sdk::send(forged).map(|()| "sent"))
            }
            Some("answer") => {
                // an inform to `to` claiming to answer `in_reply_to` (a reply nobody asked us for)
                let mut answer = to(&text("to"), json!({ "answered": text("in_reply_to") }));
                answer.in_reply_to = Some(text("in_reply_to"));
                result(&msg, caxton_sdk::send(answer).map(|()| "sent"))
            }
            Some("flood") => {
                let (mut sent, mut refused) = (0, Vec::new());
                for seq in 0..c["count"].as_u64().unwrap_or(1) {
                    match caxton_sdk::send(to(&text("to"), json!({ "seq": seq }))) {
                        Ok(()) => sent += 1,
                        Err(e) => refused.push(e),
                    }
                }
                msg.inform(json!({ "sent": sent, "refused": refused }))
            }
            Some("spin") => {
                let until = caxton_sdk::unix_millis() + c["ms"].as_u64().unwrap_or(100);
                while caxton_sdk::unix_millis() < until {}
                msg.inform(json!("spun"))
            }
            Some("meet") => {
                kv::set(&text("me"), b"here").map_err(|e| e.sentence())?;
                while !kv::exists(&text("peer")).map_err(|e| e.sentence())? {}
                msg.inform(json!("met"))
            }
            Some("put") => {
                kv::set(&text("key"), text("value").as_bytes()).map_err(|e| e.sentence())?;
                msg.inform(json!("stored"))
            }
            Some("get") => {
                let value = kv::get(&text("key")).map_err(|e| e.sentence())?;
                msg.inform(json!(value.map(|v| String::from_utf8_lossy(&v).into_owned())))
            }
            Some("bench-put") => {
                let count = c["count"].as_u64().unwrap_or(100);
                for n in 0..count {
                    kv::set(&format!("{}-{n}", text("key")), b"0123456789abcdef").map_err(|e| e.sentence())?;
                }
                msg.inform(json!(count))
            }
            Some("bench-get") => {
                let (key, count) = (text("key"), c["count"].as_u64().unwrap_or(100));
                let found = (0..count).filter(|_| kv::get(&key).ok().flatten().is_some()).count();
                msg.inform(json!(found))
            }
            Some("search") => msg.inform(json!(caxton_sdk::search(&DirectoryQuery::service(&text("service"))))),
            Some("broadcast") => {
                let sent = caxton_sdk::broadcast(
                    &DirectoryQuery::service(&text("service")),
                    to("", json!({ "broadcast": true })),
                );
                result(&msg, sent)
            }
            Some("subscribe") => result(&msg, caxton_sdk::subscribe(&text("pattern")).map(|()| "subscribed")),
            Some("publish") => {
                let topic = text("topic");
                result(&msg, caxton_sdk::publish(&topic, to("", json!({ "topic": topic }))))
            }
            Some("timer-behind-message") => {
                // Queue a message to ourselves first, then a timer: the timer is handled after it.
                caxton_sdk::send(to(&caxton_sdk::self_id(), json!({ "seq": "before-timer" })))?;
                let id = timers::set(c["delay_ms"].as_u64().unwrap_or(50)).map_err(|e| e.sentence())?;
                msg.inform(json!({ "timer": id }))
            }
            Some("timers") => {
                let mut ids = Vec::new();
                for delay in c["delays"].as_array().into_iter().flatten() {
                    ids.push(timers::set(delay.as_u64().unwrap_or(1)).map_err(|e| e.sentence())?);
                }
                let cancelled: Vec<bool> = c["cancel"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| ids.get(i.as_u64().unwrap_or(u64::MAX) as usize))
                    .map(|id| timers::cancel(*id))
                    .collect();
                msg.inform(json!({ "timers": ids, "cancelled": cancelled }))
            }
            _ => msg.not_understood("unknown action"),
        };
        caxton_sdk::send(reply)
    }

    fn handle_timer(id: u64) -> Result<(), String> {
        let later = LATER.with(|l| {
            let mut l = l.borrow_mut();
            l.iter().position(|(t, _, _)| *t == id).map(|at| l.remove(at))
        });
        if let Some((_, msg, acts)) = later {
            play(&msg, &acts);
            return Ok(());
        }
        record(json!({ "timer": id }));
        // also durably, so a test can see timers that fire after a restart
        let _ = kv::set(&format!("timer-fired-{id}"), caxton_sdk::unix_millis().to_string().as_bytes());
        Ok(())
    }

    fn capabilities() -> AgentProfile {
        let service = if caxton_sdk::self_id().starts_with("quoter") { "quote" } else { "probe" };
        AgentProfile {
            version: "0.1.0".into(),
            performatives: vec![Performative::Request, Performative::Inform],
            protocols: vec!["fipa-request".into()],
            ontologies: vec!["testing".into()],
            services: vec![ServiceDescription { name: service.into(), description: "answers tests".into() }],
        }
    }
}

caxton_sdk::agent!(BusProbe);
