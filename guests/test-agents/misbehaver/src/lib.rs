//! Misbehaves on request, so tests can show the host contains it: spins
//! forever, allocates past its memory limit, panics, recurses without end, or
//! returns an error (`message`, if given, is its text). `ping` answers normally.
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
            Some("error") => Err(content["message"].as_str().unwrap_or("asked to fail").to_string()),
            Some("hostloop") => loop {
                std::hint::black_box(caxton_sdk::self_id());
            },
            Some("sleep") => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                caxton_sdk::send(msg.inform(json!("woke up")))
            }
            Some("big") => {
                let size = content["size"].as_u64().unwrap_or(300 * 1024) as usize;
                let mut big = msg.inform(json!("x".repeat(size)));
                big.receivers = vec![msg.sender.clone()];
                let outcome = match caxton_sdk::send(big) {
                    Ok(()) => json!({ "sent": true }),
                    Err(e) => json!({ "error": e }),
                };
                caxton_sdk::send(msg.inform(outcome))
            }
            Some("many-receivers") => {
                let mut bomb = msg.inform(json!(null));
                bomb.receivers = vec![String::new(); content["count"].as_u64().unwrap_or(1_000_000) as usize];
                let outcome = caxton_sdk::send(bomb).err();
                caxton_sdk::send(msg.inform(json!({ "error": outcome })))
            }
            Some("shout") => {
                for i in 0..content["lines"].as_u64().unwrap_or(100_000) {
                    println!("\u{1b}[2J\u{1b}[31mline {i}\u{1b}[0m");
                }
                caxton_sdk::send(msg.inform(json!("shouted")))
            }
            Some("recurse-then-call") => {
                let depth = content["depth"].as_u64().unwrap_or(1000);
                let name = recurse_then_call(depth);
                caxton_sdk::send(msg.inform(json!({ "depth": depth, "self": name })))
            }
            Some("kv") => {
                let key = content["key"].as_str().unwrap_or("k");
                let found = caxton_sdk::kv::get(key).map_err(|e| e.sentence())?;
                caxton_sdk::send(msg.inform(json!({ "found": found.is_some() })))
            }
            _ => caxton_sdk::send(msg.not_understood("unknown action")),
        }
    }
}

/// Recurse `depth` frames deep, then call the host from the deepest frame.
#[inline(never)]
fn recurse_then_call(depth: u64) -> String {
    if depth == 0 {
        return caxton_sdk::self_id();
    }
    let padding = std::hint::black_box([depth; 16]);
    let name = recurse_then_call(std::hint::black_box(depth - 1));
    std::hint::black_box(padding);
    name
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    std::hint::black_box(recurse(std::hint::black_box(n - 1))) + 1
}

caxton_sdk::agent!(Misbehaver);
