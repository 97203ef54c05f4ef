//! Sets timers on request and answers each request when its timer fires.
use caxton_sdk::{json, log, timers, Agent, Message, Performative};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Requests waiting for their timer, by timer id.
    static WAITING: RefCell<HashMap<u64, Message>> = RefCell::new(HashMap::new());
}

struct Ticker;

impl Agent for Ticker {
    fn handle_message(msg: Message) -> Result<(), String> {
        let content = msg.json_value();
        let reply = match (msg.performative, content["action"].as_str()) {
            (Performative::Request, Some("schedule")) => {
                let delay = content["delay_ms"].as_u64().unwrap_or(10);
                match timers::set(delay) {
                    Ok(id) => {
                        WAITING.with(|w| w.borrow_mut().insert(id, msg));
                        return Ok(());
                    }
                    Err(e) => msg.failure(&e.sentence()),
                }
            }
            (Performative::Request, Some("cancel")) => {
                let id = content["timer"].as_u64().unwrap_or(0);
                let cancelled = timers::cancel(id);
                WAITING.with(|w| w.borrow_mut().remove(&id));
                msg.inform(json!({ "cancelled": cancelled }))
            }
            _ => msg.not_understood("expected a request with action `schedule` or `cancel`"),
        };
        caxton_sdk::send(reply)
    }

    fn handle_timer(id: u64) -> Result<(), String> {
        log::info("timer", &format!("timer {id} fired"));
        match WAITING.with(|w| w.borrow_mut().remove(&id)) {
            Some(request) => caxton_sdk::send(request.inform(json!({ "timer": id, "fired_at_ms": timers::now_ms() }))),
            None => Ok(()),
        }
    }
}

caxton_sdk::agent!(Ticker);
