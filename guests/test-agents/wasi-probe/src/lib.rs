//! Reports what an ordinary Rust std program can reach through WASI: files,
//! environment variables, arguments and the working directory.
use caxton_sdk::{json, Agent, Message};

struct WasiProbe;

impl Agent for WasiProbe {
    fn handle_message(msg: Message) -> Result<(), String> {
        let passwd = match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => json!({ "ok": text.len() }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let root = match std::fs::read_dir("/") {
            Ok(entries) => json!({ "ok": entries.count() }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        println!("wasi-probe writes to stdout");
        eprintln!("wasi-probe writes to stderr");
        caxton_sdk::send(msg.inform(json!({
            "passwd": passwd,
            "root_dir": root,
            "env": std::env::vars().collect::<Vec<_>>(),
            "args": std::env::args().collect::<Vec<_>>(),
            "cwd": std::env::current_dir().ok().map(|p| p.display().to_string()),
        })))
    }
}

caxton_sdk::agent!(WasiProbe);
