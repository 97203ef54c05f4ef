//! The Caxton guest SDK: write an agent in a few lines of Rust.
//!
//! An agent is a type implementing [`Agent`], exported with [`agent!`]. Messages
//! are FIPA ACL records ([`Message`]); the builders on [`Message`] answer one with
//! `in-reply-to` and `conversation-id` already filled in.
//!
//! ```ignore
//! use caxton_sdk::{Agent, Message};
//! struct Echo;
//! impl Agent for Echo {
//!     fn handle_message(msg: Message) -> Result<(), String> {
//!         caxton_sdk::send(msg.inform(msg.json_value()))
//!     }
//! }
//! caxton_sdk::agent!(Echo);
//! ```
//!
//! Only the host functions an agent actually calls end up as imports of its
//! component, so an agent that never touches [`kv`] needs no `kv-store` grant.

mod message;
pub mod protocols;

/// Generated bindings for the `caxton:agent/agent` world.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "agent",
        path: "../../wit",
        pub_export_macro: true,
        default_bindings_module: "caxton_sdk::bindings",
        export_macro_name: "export_agent",
        generate_all,
    });
}

pub use bindings::caxton::agent::types::{
    AgentProfile, DirectoryQuery, KvError, Message, Performative, ProtocolBreach, ProtocolViolation, SendError,
    ServiceDescription, TimerError,
};
pub use serde_json::{json, Value};

/// What the host calls on an agent. Only `handle_message` is required.
pub trait Agent {
    /// Called once after the agent is instantiated, before any message.
    fn init() -> Result<(), String> {
        Ok(())
    }

    /// Handle one message. An `Err` reaches the sender as a `failure`.
    fn handle_message(msg: Message) -> Result<(), String>;

    /// Handle a timer set with [`timers::set`].
    fn handle_timer(_id: u64) -> Result<(), String> {
        Ok(())
    }

    /// Called before the agent is removed or the host stops.
    fn shutdown() {}

    /// What the agent registers in the host's directory.
    fn capabilities() -> AgentProfile {
        AgentProfile {
            version: String::from("0.1.0"),
            performatives: vec![Performative::Request],
            protocols: vec![String::from("fipa-request")],
            ontologies: Vec::new(),
            services: Vec::new(),
        }
    }
}

/// Export `$ty` (a type implementing [`Agent`]) as the component's agent.
#[macro_export]
macro_rules! agent {
    ($ty:ty) => {
        #[doc(hidden)]
        pub struct CaxtonAgentExport;

        impl $crate::bindings::exports::caxton::agent::guest::Guest for CaxtonAgentExport {
            fn init() -> ::core::result::Result<(), ::std::string::String> {
                <$ty as $crate::Agent>::init()
            }
            fn handle_message(
                msg: $crate::Message,
            ) -> ::core::result::Result<(), ::std::string::String> {
                <$ty as $crate::Agent>::handle_message(msg)
            }
            fn handle_timer(id: u64) -> ::core::result::Result<(), ::std::string::String> {
                <$ty as $crate::Agent>::handle_timer(id)
            }
            fn shutdown() {
                <$ty as $crate::Agent>::shutdown()
            }
            fn capabilities() -> $crate::AgentProfile {
                <$ty as $crate::Agent>::capabilities()
            }
        }

        $crate::bindings::export_agent!(CaxtonAgentExport with_types_in $crate::bindings);
    };
}

/// Send a message; the host fills in `sender`. A send error is returned as a
/// sentence, ready to be handed back from `handle_message`.
pub fn send(msg: Message) -> Result<(), String> {
    bindings::caxton::agent::messaging::send(&msg).map_err(|e| e.sentence())
}

/// Like [`send`], with the typed error: e.g. a [`ProtocolViolation`]'s state and allowed acts.
pub fn try_send(msg: Message) -> Result<(), SendError> {
    bindings::caxton::agent::messaging::send(&msg)
}

/// The agents the host's directory matches, sorted by name.
pub fn search(query: &DirectoryQuery) -> Vec<String> {
    bindings::caxton::agent::messaging::search(query)
}

/// Send a copy of `msg` to every agent `query` matches (needs `broadcast = true`);
/// returns how many received it.
pub fn broadcast(query: &DirectoryQuery, msg: Message) -> Result<u32, String> {
    bindings::caxton::agent::messaging::broadcast(query, &msg).map_err(|e| e.sentence())
}

/// Receive copies of messages published to topics matching `pattern`.
pub fn subscribe(pattern: &str) -> Result<(), String> {
    bindings::caxton::agent::messaging::subscribe(pattern).map_err(|e| e.sentence())
}

/// Stop a subscription; returns whether it existed.
pub fn unsubscribe(pattern: &str) -> bool {
    bindings::caxton::agent::messaging::unsubscribe(pattern)
}

/// Send a copy of `msg` to every subscriber of `topic`; returns how many received it.
pub fn publish(topic: &str, msg: Message) -> Result<u32, String> {
    bindings::caxton::agent::messaging::publish(topic, &msg).map_err(|e| e.sentence())
}

/// Wall-clock milliseconds since the Unix epoch, from the WASI clock every
/// agent has (no grant needed).
pub fn unix_millis() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis() as u64)
}

/// This agent's own name.
pub fn self_id() -> String {
    bindings::caxton::agent::messaging::self_id()
}

/// The agent's private key-value store (needs the `kv-store` grant).
pub mod kv {
    use crate::bindings::caxton::agent::kv_store;
    pub use kv_store::KeyPage;

    use crate::KvError;

    /// The bytes stored under `key`.
    pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv_store::get(key)
    }

    /// Store `value` under `key`.
    pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
        kv_store::set(key, value)
    }

    /// Remove `key`; returns whether it existed.
    pub fn delete(key: &str) -> Result<bool, KvError> {
        kv_store::delete(key)
    }

    /// Whether `key` holds a value.
    pub fn exists(key: &str) -> Result<bool, KvError> {
        kv_store::exists(key)
    }

    /// One page of keys starting with `prefix`, after `cursor`.
    pub fn list_keys(prefix: &str, cursor: Option<&str>) -> Result<KeyPage, KvError> {
        kv_store::list_keys(prefix, cursor)
    }

    /// Atomically add `delta` to the integer under `key` and return the new value.
    pub fn increment(key: &str, delta: i64) -> Result<i64, KvError> {
        kv_store::increment(key, delta)
    }

    /// Replace the value under `key` only if it currently equals `expected`.
    pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool, KvError> {
        kv_store::compare_and_swap(key, expected, new)
    }

    /// Read a JSON value stored with [`set_json`].
    pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
        match get(key).map_err(|e| e.sentence())? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| format!("value under `{key}` is not the expected JSON: {e}")),
            None => Ok(None),
        }
    }

    /// Store `value` as JSON under `key`.
    pub fn set_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        set(key, &bytes).map_err(|e| e.sentence())
    }
}

/// One-shot timers (needs the `timers` grant).
pub mod timers {
    use crate::bindings::caxton::agent::timers;
    use crate::TimerError;

    /// Call `handle_timer` once after `delay_ms` milliseconds; returns the timer's id.
    pub fn set(delay_ms: u64) -> Result<u64, TimerError> {
        timers::set_timer(delay_ms)
    }

    /// Cancel a timer; returns false when it already fired or never existed.
    pub fn cancel(id: u64) -> bool {
        timers::cancel_timer(id)
    }

    /// Wall-clock time in milliseconds since the Unix epoch.
    pub fn now_ms() -> u64 {
        timers::now_ms()
    }
}

/// Writing to the host's log (needs the `logging` grant).
pub mod log {
    use crate::bindings::caxton::agent::logging::{log, Level};

    /// Log at `debug` level.
    pub fn debug(context: &str, message: &str) {
        log(Level::Debug, context, message)
    }

    /// Log at `info` level.
    pub fn info(context: &str, message: &str) {
        log(Level::Info, context, message)
    }

    /// Log at `warn` level.
    pub fn warn(context: &str, message: &str) {
        log(Level::Warn, context, message)
    }

    /// Log at `error` level.
    pub fn error(context: &str, message: &str) {
        log(Level::Error, context, message)
    }
}
