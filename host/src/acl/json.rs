//! The JSON form of an ACL message used by the HTTP API and the CLI.
//!
//! Field names follow the product guide (`performative`, `sender`, `receiver` or
//! `receivers`, `content`, `conversation_id`, `reply_with`, `in_reply_to`,
//! `reply_by`, …). `content` is any JSON value: when `language` is absent or
//! JSON it is carried to the agent as the very JSON text the client sent, and a
//! reply whose content is JSON comes back as that text. The host never parses
//! content into numbers, so none loses precision on the way (RFC 8259 §6 leaves
//! a number's range to the implementation; Caxton leaves it to the agents).

use super::{Message, Performative};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// A message as a client writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WireMessage {
    pub performative: String,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub receiver: Option<String>,
    #[serde(default)]
    pub receivers: Option<Vec<String>>,
    /// The content as the client wrote it (absent: `null`).
    #[serde(default)]
    pub content: Option<Box<RawValue>>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
    #[serde(default)]
    pub ontology: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub reply_with: Option<String>,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub reply_by: Option<u64>,
}

/// Why a client's message cannot be accepted.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The performative is not a FIPA act.
    #[error(transparent)]
    Performative(#[from] super::UnknownPerformative),
    /// Neither `receiver` nor `receivers` names anyone.
    #[error("the message names no receiver: set `receiver` or `receivers`")]
    NoReceiver,
    /// `content` is not a string although `language` says it is not JSON.
    #[error("`content` must be a string when `language` is `{0}`")]
    ContentNotText(String),
    /// `content` nests arrays and objects deeper than [`MAX_NESTING`].
    #[error("`content` nests arrays and objects {0} deep; at most {MAX_NESTING} is accepted")]
    TooDeep(usize),
}

/// Deepest nesting of arrays and objects accepted in JSON content: 100, so
/// that with the API's own envelope around it (a dead-letter listing adds
/// four levels) a response stays within the 128 levels serde_json and most
/// clients read.
pub const MAX_NESTING: usize = 100;

/// How deeply arrays and objects nest in the JSON text `raw` (which must be
/// valid JSON: brackets inside strings are skipped, escapes honoured).
pub fn nesting(raw: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in raw.bytes() {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') | (false, _, b'"') => in_string = !in_string,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether `language` means JSON content.
fn is_json(language: Option<&str>) -> bool {
    match language {
        None => true,
        Some(l) => {
            let l = l.to_ascii_lowercase();
            l == "json" || l == "application/json"
        }
    }
}

impl WireMessage {
    /// The host message, with `sender` as the given sender (clients do not choose it freely).
    pub fn into_message(self, sender: String) -> Result<Message, WireError> {
        let performative: Performative = self.performative.parse()?;
        let mut receivers: Vec<String> = self.receiver.into_iter().collect();
        receivers.extend(self.receivers.unwrap_or_default());
        receivers.retain(|r| !r.is_empty());
        if receivers.is_empty() {
            return Err(WireError::NoReceiver);
        }
        let raw = self.content.as_deref().map_or("null", RawValue::get);
        let content = if is_json(self.language.as_deref()) {
            let depth = nesting(raw);
            if depth > MAX_NESTING {
                return Err(WireError::TooDeep(depth));
            }
            raw.to_string()
        } else {
            match serde_json::from_str::<String>(raw) {
                Ok(text) => text,
                Err(_) => return Err(WireError::ContentNotText(self.language.unwrap_or_default())),
            }
        };
        Ok(Message {
            performative,
            sender,
            receivers,
            content,
            language: self.language,
            encoding: self.encoding,
            ontology: self.ontology,
            protocol: self.protocol,
            conversation_id: self.conversation_id,
            reply_with: self.reply_with,
            in_reply_to: self.in_reply_to,
            reply_by: self.reply_by,
            hops: 0,
        })
    }
}

/// A message as the API returns it; serialize it straight to text (through
/// `serde_json::Value` its content's numbers would be re-read).
#[derive(Debug, Clone, Serialize)]
#[allow(missing_docs)]
pub struct ReplyMessage {
    pub performative: String,
    pub sender: String,
    /// The first receiver, for clients that expect a single one.
    pub receiver: String,
    pub receivers: Vec<String>,
    /// JSON content as the agent wrote it; other content as a JSON string.
    pub content: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ontology: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub conversation_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reply_with: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub in_reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reply_by: Option<u64>,
}

impl From<Message> for ReplyMessage {
    fn from(m: Message) -> Self {
        // JSON content goes out as JSON unless it nests deeper than clients are asked to read
        let json = is_json(m.language.as_deref())
            && serde_json::from_str::<&RawValue>(&m.content).is_ok()
            && nesting(&m.content) <= MAX_NESTING;
        let content =
            if json { RawValue::from_string(m.content).ok() } else { serde_json::value::to_raw_value(&m.content).ok() };
        ReplyMessage {
            performative: m.performative.as_str().to_string(),
            sender: m.sender,
            receiver: m.receivers.first().cloned().unwrap_or_default(),
            receivers: m.receivers,
            content,
            language: m.language,
            encoding: m.encoding,
            ontology: m.ontology,
            protocol: m.protocol,
            conversation_id: m.conversation_id,
            reply_with: m.reply_with,
            in_reply_to: m.in_reply_to,
            reply_by: m.reply_by,
        }
    }
}

/// The whole message as JSON, host fields included, for storing it.
pub fn to_record(m: &Message) -> Value {
    serde_json::json!({
        "performative": m.performative.as_str(), "sender": m.sender, "receivers": m.receivers,
        "content": m.content, "language": m.language, "encoding": m.encoding, "ontology": m.ontology,
        "protocol": m.protocol, "conversation_id": m.conversation_id, "reply_with": m.reply_with,
        "in_reply_to": m.in_reply_to, "reply_by": m.reply_by, "hops": m.hops,
    })
}

/// A message stored with [`to_record`]; `None` if it is not one.
pub fn from_record(v: &Value) -> Option<Message> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Message {
        performative: text("performative")?.parse().ok()?,
        sender: text("sender")?,
        receivers: v.get("receivers")?.as_array()?.iter().filter_map(|r| r.as_str().map(str::to_string)).collect(),
        content: text("content")?,
        language: text("language"),
        encoding: text("encoding"),
        ontology: text("ontology"),
        protocol: text("protocol"),
        conversation_id: text("conversation_id"),
        reply_with: text("reply_with"),
        in_reply_to: text("in_reply_to"),
        reply_by: v.get("reply_by").and_then(Value::as_u64),
        hops: v.get("hops").and_then(Value::as_u64).map_or(0, |h| u32::try_from(h).unwrap_or(u32::MAX)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(v: Value) -> WireMessage {
        serde_json::from_str(&v.to_string()).unwrap_or_else(|e| unreachable!("bad fixture: {e}"))
    }

    #[test]
    fn json_content_travels_as_json_text_and_comes_back_as_a_value() {
        let m = wire(json!({"performative": "request", "receiver": "a", "content": {"x": [1, 2]}}))
            .into_message("client".into())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(m.content, r#"{"x":[1,2]}"#);
        assert_eq!(m.sender, "client");
        let back = ReplyMessage::from(m);
        assert_eq!(back.content.as_deref().map(RawValue::get), Some(r#"{"x":[1,2]}"#));
        assert_eq!(back.receiver, "a");
    }

    #[test]
    fn nesting_is_counted_outside_strings_and_bounded() {
        assert_eq!(nesting(r#"{"a":[1,{"b":"[[[{{"}]}"#), 3);
        assert_eq!(nesting(r#""\"[""#), 0);
        assert_eq!(nesting("7"), 0);
        let deep = format!("{}{}", "[".repeat(MAX_NESTING + 1), "]".repeat(MAX_NESTING + 1));
        let body = format!(r#"{{"performative":"inform","receiver":"a","content":{deep}}}"#);
        let wire: WireMessage = serde_json::from_str(&body).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(wire.into_message("c".into()), Err(WireError::TooDeep(101))));
        let mut from_agent = Message::new(Performative::Inform, vec!["c".into()], deep.clone());
        from_agent.sender = "a".into();
        let out = serde_json::to_string(&ReplyMessage::from(from_agent)).unwrap_or_default();
        assert!(out.contains(&format!("\"content\":{}", serde_json::to_string(&deep).unwrap_or_default())), "{out}");
    }

    #[test]
    fn numbers_in_content_pass_through_with_every_digit() {
        let body = r#"{"performative":"request","receiver":"a",
            "content":{"id":123456789012345678901234567890,"pi":3.14159265358979323846264338327950288,"e":1E400}}"#;
        let m = serde_json::from_str::<WireMessage>(body)
            .unwrap_or_else(|e| unreachable!("{e}"))
            .into_message("c".into())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let digits = r#"{"id":123456789012345678901234567890,"pi":3.14159265358979323846264338327950288,"e":1E400}"#;
        assert_eq!(m.content, digits);
        let out = serde_json::to_string(&ReplyMessage::from(m)).unwrap_or_default();
        assert!(out.contains(&format!(r#""content":{digits}"#)), "{out}");
    }

    #[test]
    fn text_content_in_another_language_stays_text() {
        let m = wire(json!({"performative": "inform", "receivers": ["a"], "content": "(p)", "language": "fipa-sl"}))
            .into_message("c".into())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(m.content, "(p)");
        assert_eq!(ReplyMessage::from(m).content.as_deref().map(RawValue::get), Some(r#""(p)""#));
        let bad = wire(json!({"performative": "inform", "receiver": "a", "content": 3, "language": "fipa-sl"}));
        assert!(matches!(bad.into_message("c".into()), Err(WireError::ContentNotText(_))));
    }

    #[test]
    fn a_stored_message_comes_back_whole() {
        let mut m = Message::new(Performative::Cfp, vec!["a".into(), "b".into()], "{\"x\":1}".into());
        m.sender = "s".into();
        m.reply_by = Some(42);
        m.hops = 7;
        m.protocol = Some("fipa-contract-net".into());
        assert_eq!(from_record(&to_record(&m)), Some(m));
        assert_eq!(from_record(&serde_json::json!({"performative": "shout"})), None);
    }

    #[test]
    fn refuses_messages_without_receivers_or_with_unknown_acts() {
        let none = wire(json!({"performative": "request"}));
        assert!(matches!(none.into_message("c".into()), Err(WireError::NoReceiver)));
        let odd = wire(json!({"performative": "shout", "receiver": "a"}));
        assert!(matches!(odd.into_message("c".into()), Err(WireError::Performative(_))));
        let unknown_field: Result<WireMessage, _> =
            serde_json::from_str(r#"{"performative": "request", "receiver": "a", "colour": 1}"#);
        assert!(unknown_field.is_err());
    }
}
