//! Counts in its kv-store, so the count outlives the instance.
use caxton_sdk::{json, kv, Agent, Message, Performative};

struct Counter;

impl Agent for Counter {
    fn handle_message(msg: Message) -> Result<(), String> {
        let content = msg.json_value();
        let reply = match (msg.performative, content["action"].as_str()) {
            (Performative::Request, Some("increment")) => {
                let by = content["by"].as_i64().unwrap_or(1);
                match kv::increment("count", by) {
                    Ok(count) => msg.inform(json!({ "count": count })),
                    Err(e) => msg.failure(&e.sentence()),
                }
            }
            (Performative::Request, Some("get")) => match kv::get("count") {
                Ok(bytes) => msg.inform(json!({ "count": decode(bytes) })),
                Err(e) => msg.failure(&e.sentence()),
            },
            _ => msg.not_understood("expected a request with action `increment` or `get`"),
        };
        caxton_sdk::send(reply)
    }
}

/// `increment` stores the count as a little-endian i64.
fn decode(bytes: Option<Vec<u8>>) -> i64 {
    bytes.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map_or(0, i64::from_le_bytes)
}

caxton_sdk::agent!(Counter);
