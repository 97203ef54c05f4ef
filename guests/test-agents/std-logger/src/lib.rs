//! Logs through the standard `wasi:logging` interface instead of Caxton's own,
//! and imports nothing else (it never replies): a test that it is linked
//! behind the `logging` grant.
use caxton_sdk::{Agent, Message};

mod standard {
    wit_bindgen::generate!({ path: "../../../wit", world: "standard-interfaces", generate_all });
}

use standard::wasi::logging::logging::{log, Level};

struct StdLogger;

impl Agent for StdLogger {
    fn handle_message(msg: Message) -> Result<(), String> {
        log(Level::Info, "std-logger", &format!("{} from {}", msg.content, msg.sender));
        Ok(())
    }
}

caxton_sdk::agent!(StdLogger);
