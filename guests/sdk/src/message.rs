//! Building and reading FIPA ACL messages.

use crate::{DirectoryQuery, KvError, Message, Performative, SendError, TimerError};
use serde_json::{json, Value};

impl Message {
    /// A new message with JSON `content` for one receiver.
    pub fn new(performative: Performative, receiver: &str, content: &Value) -> Message {
        Message {
            performative,
            sender: String::new(),
            receivers: vec![receiver.to_string()],
            content: content.to_string(),
            language: None,
            encoding: None,
            ontology: None,
            protocol: None,
            conversation_id: None,
            reply_with: None,
            in_reply_to: None,
            reply_by: None,
        }
    }

    /// A reply to this message: addressed to its sender, in the same
    /// conversation, with `in-reply-to` set to its `reply-with`.
    pub fn reply(&self, performative: Performative, content: &Value) -> Message {
        Message {
            performative,
            sender: String::new(),
            receivers: vec![self.sender.clone()],
            content: content.to_string(),
            language: None,
            encoding: None,
            ontology: self.ontology.clone(),
            protocol: self.protocol.clone(),
            conversation_id: self.conversation_id.clone(),
            reply_with: None,
            in_reply_to: self.reply_with.clone(),
            reply_by: None,
        }
    }

    /// An `inform` reply whose content is `{"result": result}`.
    pub fn inform(&self, result: Value) -> Message {
        self.reply(Performative::Inform, &json!({ "result": result }))
    }

    /// A `failure` reply whose content is `{"error": reason}`.
    pub fn failure(&self, reason: &str) -> Message {
        self.reply(Performative::Failure, &json!({ "error": reason }))
    }

    /// A `not-understood` reply whose content is `{"error": reason}`.
    pub fn not_understood(&self, reason: &str) -> Message {
        self.reply(Performative::NotUnderstood, &json!({ "error": reason }))
    }

    /// The content parsed as JSON, or `Value::Null` when it is not JSON.
    pub fn json_value(&self) -> Value {
        serde_json::from_str(&self.content).unwrap_or(Value::Null)
    }

    /// The content parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_str(&self.content).map_err(|e| format!("content is not the expected JSON: {e}"))
    }
}

impl DirectoryQuery {
    /// Matches every agent.
    pub fn any() -> DirectoryQuery {
        DirectoryQuery { service: None, ontology: None, protocol: None }
    }

    /// Matches agents offering the service `name`.
    pub fn service(name: &str) -> DirectoryQuery {
        DirectoryQuery { service: Some(name.to_string()), ..DirectoryQuery::any() }
    }
}

impl SendError {
    /// The error as a sentence a person can act on.
    pub fn sentence(&self) -> String {
        match self {
            SendError::NoReceivers => "the message has no receivers".to_string(),
            SendError::NoSuchAgent(a) => format!("no agent named `{a}` is deployed"),
            SendError::MailboxFull(a) => format!("the mailbox of `{a}` is full"),
            SendError::AccessDenied(what) => format!("access denied: `{what}` is not granted by the deployment file"),
            SendError::TooLarge(limit) => format!("the message is larger than {limit} bytes"),
            SendError::RateLimited(rate) => format!("rate limit of {rate} messages per second exceeded"),
            SendError::ProtocolViolation(v) => format!("protocol violation: {}", v.reason),
        }
    }
}

impl KvError {
    /// The error as a sentence a person can act on.
    pub fn sentence(&self) -> String {
        match self {
            KvError::InvalidKey(limit) => format!("keys must be 1 to {limit} bytes long"),
            KvError::ValueTooLarge(limit) => format!("values must be at most {limit} bytes"),
            KvError::QuotaExceeded(which) => format!("storage quota exceeded: {which}"),
            KvError::NotANumber => "the stored value is not a 64-bit integer".to_string(),
            KvError::Storage(why) => format!("storage failed: {why}"),
        }
    }
}

impl TimerError {
    /// The error as a sentence a person can act on.
    pub fn sentence(&self) -> String {
        match self {
            TimerError::TooManyTimers(limit) => format!("at most {limit} timers may be active"),
            TimerError::InvalidDelay(why) => format!("invalid delay: {why}"),
        }
    }
}
