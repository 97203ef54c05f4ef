//! Misbehaves on request, so tests can show the host contains it: spins
//! forever, allocates past its memory limit, panics, recurses without end, or
//! returns an error. `ping` answers normally.
use caxton_sdk::{json, Agent, Message};

struct Misbehaver;

impl Agent for Misbehaver {
    fn handle_message(msg: Message) -> Result<(), String> {
        let content = msg.json_value();
        match content["action"].as_str() {
            Some("ping") => caxton_sdk::send(msg.inform(json!("pong"))),
            Some("spin") => loop {
                std::hint::black_box(());
            },
            Some("allocate") => {
                let size = content["size"].as_u64().unwrap_or(2 * 1024 * 1024) as usize;
                let buffer = std::hint::black_box(vec![1u8; size]);
                caxton_sdk::send(msg.inform(json!({ "allocated": buffer.len() })))
            }
            Some("panic") => panic!("asked to panic"),
            Some("recurse") => caxton_sdk::send(msg.inform(json!(recurse(u64::MAX)))),
            Some("error") => Err("asked to fail".to_string()),
            _ => caxton_sdk::send(msg.not_understood("unknown action")),
        }
    }
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    std::hint::black_box(recurse(std::hint::black_box(n - 1))) + 1
}

caxton_sdk::agent!(Misbehaver);
