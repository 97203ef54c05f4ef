//! Reads and writes files on request, so tests can check what a granted
//! directory allows and what it keeps out.
use caxton_sdk::{json, Agent, Message};

struct FsProbe;

impl Agent for FsProbe {
    fn handle_message(msg: Message) -> Result<(), String> {
        let c = msg.json_value();
        let path = c["path"].as_str().unwrap_or_default();
        let outcome = match c["action"].as_str() {
            Some("read") => std::fs::read_to_string(path).map(|text| json!(text)),
            Some("write") => std::fs::write(path, c["text"].as_str().unwrap_or_default()).map(|()| json!("written")),
            Some("list") => std::fs::read_dir(path).map(|entries| {
                json!(entries
                    .filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>())
            }),
            _ => return caxton_sdk::send(msg.not_understood("expected read, write or list")),
        };
        let result = match outcome {
            Ok(value) => json!({ "ok": value }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        caxton_sdk::send(msg.inform(result))
    }
}

caxton_sdk::agent!(FsProbe);
