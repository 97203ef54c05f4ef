//! Passes a client's request through a second agent and back, counting in the
//! kv-store on the way, for the soak run: four messages and one durable write
//! per request.
//!
//! - `{"action":"count","via":B}` from anyone: asks B to count, and answers the
//!   asker with B's answer once it comes (a `failure` if B cannot be asked);
//!   `"via":"B,C"` asks B to count via C, and so on down the chain;
//! - `{"action":"count"}`: adds one to the kv counter `count`, answers the total;
//! - `{"action":"total"}`: answers the counter without changing it.
use caxton_sdk::{json, kv, Agent, Message, Performative, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    /// Requests passed on and not answered yet, by the `reply-with` of the request passed on.
    static PENDING: RefCell<HashMap<String, Message>> = RefCell::new(HashMap::new());
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

fn total() -> Result<i64, String> {
    let bytes = kv::get("count").map_err(|e| e.sentence())?;
    Ok(bytes.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map_or(0, i64::from_le_bytes))
}

fn pass_on(msg: Message, via: &str) -> Result<(), String> {
    let key = NEXT.with(|n| {
        n.set(n.get() + 1);
        format!("relay-{}", n.get())
    });
    let ask_for = match via.split_once(',') {
        Some((_, rest)) => json!({ "action": "count", "via": rest }),
        None => json!({ "action": "count" }),
    };
    let next = via.split(',').next().unwrap_or(via);
    let mut ask = Message::new(Performative::Request, next, &ask_for);
    ask.conversation_id = msg.conversation_id.clone();
    ask.reply_with = Some(key.clone());
    match caxton_sdk::send(ask) {
        Ok(()) => {
            PENDING.with(|p| p.borrow_mut().insert(key, msg));
            Ok(())
        }
        Err(e) => caxton_sdk::send(msg.failure(&format!("cannot ask `{next}`: {e}"))),
    }
}

/// An answer from the agent a request was passed to goes back to the asker.
fn answered(msg: &Message) -> Result<(), String> {
    let asked = msg.in_reply_to.as_ref().and_then(|k| PENDING.with(|p| p.borrow_mut().remove(k)));
    let Some(asker) = asked else { return Ok(()) };
    let reply = match msg.performative {
        Performative::Inform => asker.inform(msg.json_value()["result"].clone()),
        _ => asker.failure(msg.json_value()["error"].as_str().unwrap_or("the relay failed")),
    };
    caxton_sdk::send(reply)
}

struct Relay;

impl Agent for Relay {
    fn handle_message(msg: Message) -> Result<(), String> {
        if msg.performative != Performative::Request {
            return answered(&msg);
        }
        let content = msg.json_value();
        match (content["action"].as_str(), content["via"].as_str()) {
            (Some("count"), Some(via)) => {
                let via = via.to_string();
                pass_on(msg, &via)
            }
            (Some("count"), None) => {
                let reply = match kv::increment("count", 1) {
                    Ok(n) => msg.inform(json!(n)),
                    Err(e) => msg.failure(&e.sentence()),
                };
                caxton_sdk::send(reply)
            }
            (Some("total"), _) => caxton_sdk::send(msg.inform(Value::from(total()?))),
            _ => caxton_sdk::send(msg.not_understood("expected `count` (with or without `via`) or `total`")),
        }
    }
}

caxton_sdk::agent!(Relay);
