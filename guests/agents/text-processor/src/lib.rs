//! The product guide's `process_data` agent: uppercase, lowercase and reverse text.
use caxton_sdk::{json, Agent, Message, Performative, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static PROCESSED: AtomicU64 = AtomicU64::new(0);

struct TextProcessor;

impl Agent for TextProcessor {
    fn handle_message(msg: Message) -> Result<(), String> {
        let content = msg.json_value();
        let reply = match (msg.performative, content["action"].as_str()) {
            (Performative::Request, Some("process_data")) => match process(&content["data"]) {
                Ok(result) => msg.inform(result),
                Err(why) => msg.failure(&why),
            },
            (Performative::Request, Some("get_status")) => msg.inform(json!({
                "status": "ready", "processed": PROCESSED.load(Relaxed), "version": "0.1.0"
            })),
            _ => msg.not_understood("expected a request with action `process_data` or `get_status`"),
        };
        caxton_sdk::send(reply)
    }
}

fn process(data: &Value) -> Result<Value, String> {
    let op = data["operation"].as_str().ok_or("data.operation must be a string")?;
    let text = data["data"].as_str().or(data["text"].as_str()).ok_or("data.data must be a string")?;
    let result: String = match op {
        "uppercase" => text.to_uppercase(),
        "lowercase" => text.to_lowercase(),
        "reverse" => text.chars().rev().collect(),
        other => return Err(format!("unknown operation `{other}`; use uppercase, lowercase or reverse")),
    };
    PROCESSED.fetch_add(1, Relaxed);
    Ok(json!({ "result": result, "timestamp": caxton_sdk::unix_millis() }))
}

caxton_sdk::agent!(TextProcessor);
