//! The JSON form of an ACL message, used by the HTTP API, the CLI and the journal.
//!
//! [`WireMessage`] is the one place the fields are named for JSON: what a client
//! sends, what the API returns (a `From<Message>`), and, with the host's hop
//! count beside it, what the journal stores ([`to_record`], [`from_record`]).
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

/// An ACL message as JSON. `C` is the content: the JSON as written
/// (`Box<RawValue>`) in the API, the host's text (`String`) in the journal.
///
/// Absent optional fields are left out when writing. A client's message names
/// no field besides these (`deny_unknown_fields`) and no hop count.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMessage<C = Box<RawValue>> {
    /// The act, e.g. `request`; a client may write it in any case, with `_` for `-`.
    pub performative: String,
    /// Who sends it. A client may name itself; the API always fills it in.
    #[serde(default)]
    pub sender: Option<String>,
    /// One receiver, for clients that name a single one; the API returns the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// The receivers, besides `receiver`.
    #[serde(default)]
    pub receivers: Option<Vec<String>>,
    /// The content (absent: `null`); in the API, JSON content as written and
    /// other content as a JSON string.
    #[serde(default)]
    pub content: Option<C>,
    /// The content language; absent or `json` means JSON content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The content encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// The ontology the content's terms come from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ontology: Option<String>,
    /// The interaction protocol, e.g. `fipa-contract-net`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The conversation the message belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// The token a reply should carry in `in_reply_to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_with: Option<String>,
    /// The `reply_with` of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Milliseconds since the Unix epoch by which a reply is wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_by: Option<u64>,
}

impl<C> WireMessage<C> {
    /// The JSON form of `m` with `content` as its content and no `receiver`:
    /// the one place host fields become JSON fields. `m.hops` is left out.
    fn from_host(m: Message, content: Option<C>) -> Self {
        WireMessage {
            performative: m.performative.as_str().to_string(),
            sender: Some(m.sender),
            receiver: None,
            receivers: Some(m.receivers),
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

    /// The host message with the given act, parties, content and hops (which
    /// the caller took from this form and checked) and the optional fields as
    /// they are: the one place JSON fields become host fields.
    fn into_host(
        self,
        performative: Performative,
        sender: String,
        receivers: Vec<String>,
        content: String,
        hops: u32,
    ) -> Message {
        Message {
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
            hops,
            trace: None,
        }
    }
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
    /// `content` is a JSON string that holds no valid text (e.g. a lone surrogate escape, `"\ud83d"`).
    #[error("`content` is a string that is not valid Unicode text (a lone surrogate escape such as `\\ud83d`, half an emoji?): {0}")]
    ContentNotValidText(#[source] serde_json::Error),
    /// `content` nests arrays and objects deeper than [`MAX_NESTING`].
    #[error("`content` nests arrays and objects {0} deep; at most {MAX_NESTING} is accepted")]
    TooDeep(usize),
    /// A name or identifier field is longer than [`MAX_FIELD_BYTES`].
    #[error("`{field}` is {bytes} bytes long; at most {MAX_FIELD_BYTES} is accepted")]
    FieldTooLong {
        /// The field, e.g. `conversation_id`.
        field: &'static str,
        /// Its length in bytes.
        bytes: usize,
    },
}

/// Longest name or identifier a client may put in a message (`receiver`,
/// `conversation_id`, `reply_with`, `in_reply_to`, `protocol`, `language`,
/// `encoding`, `ontology`), in bytes: the host keeps them in its records,
/// so they are bounded as the content is.
pub const MAX_FIELD_BYTES: usize = 256;

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
    pub fn into_message(mut self, sender: String) -> Result<Message, WireError> {
        let performative: Performative = self.performative.parse()?;
        self.check_lengths()?;
        let mut receivers: Vec<String> = self.receiver.take().into_iter().collect();
        receivers.extend(self.receivers.take().unwrap_or_default());
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
                Err(e) if raw.trim_start().starts_with('"') => return Err(WireError::ContentNotValidText(e)),
                Err(_) => return Err(WireError::ContentNotText(self.language.unwrap_or_default())),
            }
        };
        Ok(self.into_host(performative, sender, receivers, content, 0))
    }

    /// `Err(FieldTooLong)` for the first name or identifier over [`MAX_FIELD_BYTES`].
    fn check_lengths(&self) -> Result<(), WireError> {
        let fields = [
            ("receiver", &self.receiver),
            ("protocol", &self.protocol),
            ("conversation_id", &self.conversation_id),
            ("reply_with", &self.reply_with),
            ("in_reply_to", &self.in_reply_to),
            ("language", &self.language),
            ("encoding", &self.encoding),
            ("ontology", &self.ontology),
        ];
        let receivers = self.receivers.iter().flatten().map(|r| ("receivers", r));
        let named = fields.into_iter().filter_map(|(field, v)| v.as_ref().map(|v| (field, v))).chain(receivers);
        match named.into_iter().find(|(_, v)| v.len() > MAX_FIELD_BYTES) {
            Some((field, v)) => Err(WireError::FieldTooLong { field, bytes: v.len() }),
            None => Ok(()),
        }
    }
}

/// The API's form of a message; serialize it straight to text (through
/// `serde_json::Value` its content's numbers would be re-read).
impl From<Message> for WireMessage {
    fn from(mut m: Message) -> Self {
        // JSON content goes out as JSON unless it nests deeper than clients are asked to read
        let json = is_json(m.language.as_deref())
            && serde_json::from_str::<&RawValue>(&m.content).is_ok()
            && nesting(&m.content) <= MAX_NESTING;
        let text = std::mem::take(&mut m.content);
        let content = if json { RawValue::from_string(text).ok() } else { serde_json::value::to_raw_value(&text).ok() };
        let receiver = m.receivers.first().cloned().unwrap_or_default();
        WireMessage { receiver: Some(receiver), ..WireMessage::from_host(m, content) }
    }
}

/// A message as the journal stores it: its JSON form with the content as
/// text, and the hop count the API leaves out.
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    message: WireMessage<String>,
    #[serde(default)]
    hops: u64,
}

/// The whole message as JSON, host fields included, for storing it.
pub fn to_record(m: &Message) -> Value {
    let mut m = m.clone();
    let hops = u64::from(m.hops);
    let content = std::mem::take(&mut m.content);
    serde_json::to_value(Stored { message: WireMessage::from_host(m, Some(content)), hops }).unwrap_or_default()
}

/// A message stored with [`to_record`] (or with `null` for its absent fields,
/// as journals written before did); `None` if it is not one.
pub fn from_record(v: &Value) -> Option<Message> {
    let Stored { mut message, hops } = Stored::deserialize(v).ok()?;
    let performative = message.performative.parse().ok()?;
    let (sender, receivers, content) = (message.sender.take()?, message.receivers.take()?, message.content.take()?);
    Some(message.into_host(performative, sender, receivers, content, u32::try_from(hops).unwrap_or(u32::MAX)))
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
        let back = WireMessage::from(m);
        assert_eq!(back.content.as_deref().map(RawValue::get), Some(r#"{"x":[1,2]}"#));
        assert_eq!(back.receiver.as_deref(), Some("a"));
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
        let out = serde_json::to_string(&WireMessage::from(from_agent)).unwrap_or_default();
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
        let out = serde_json::to_string(&WireMessage::from(m)).unwrap_or_default();
        assert!(out.contains(&format!(r#""content":{digits}"#)), "{out}");
    }

    #[test]
    fn text_content_in_another_language_stays_text() {
        let m = wire(json!({"performative": "inform", "receivers": ["a"], "content": "(p)", "language": "fipa-sl"}))
            .into_message("c".into())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(m.content, "(p)");
        assert_eq!(WireMessage::from(m).content.as_deref().map(RawValue::get), Some(r#""(p)""#));
        let bad = wire(json!({"performative": "inform", "receiver": "a", "content": 3, "language": "fipa-sl"}));
        assert!(matches!(bad.into_message("c".into()), Err(WireError::ContentNotText(_))));
        // a string, but half an emoji: said as such, not as "must be a string"
        let body = r#"{"performative": "inform", "receiver": "a", "content": "\ud83d", "language": "text"}"#;
        let half: WireMessage = serde_json::from_str(body).unwrap_or_else(|e| unreachable!("{e}"));
        let error = half.into_message("c".into()).map(|_| ()).unwrap_err();
        assert!(matches!(error, WireError::ContentNotValidText(_)), "{error}");
        assert!(error.to_string().contains("lone surrogate"), "{error}");
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

    #[test]
    fn the_api_form_names_the_fields_in_order_and_leaves_out_absent_ones() {
        let mut m = Message::new(Performative::Inform, vec!["a".into(), "b".into()], r#"{"x":1}"#.into());
        m.sender = "s".into();
        m.reply_by = Some(5);
        m.conversation_id = Some("c".into());
        m.hops = 3;
        assert_eq!(
            serde_json::to_string(&WireMessage::from(m)).unwrap_or_default(),
            r#"{"performative":"inform","sender":"s","receiver":"a","receivers":["a","b"],"content":{"x":1},"conversation_id":"c","reply_by":5}"#
        );
        let mut m = Message::new(Performative::Inform, vec![], "(p)".into());
        m.language = Some("fipa-sl".into());
        m.encoding = Some("e".into());
        m.ontology = Some("o".into());
        m.protocol = Some("p".into());
        m.reply_with = Some("rw".into());
        m.in_reply_to = Some("irt".into());
        assert_eq!(
            serde_json::to_string(&WireMessage::from(m)).unwrap_or_default(),
            r#"{"performative":"inform","sender":"","receiver":"","receivers":[],"content":"(p)","language":"fipa-sl","encoding":"e","ontology":"o","protocol":"p","reply_with":"rw","in_reply_to":"irt"}"#
        );
    }

    #[test]
    fn a_client_is_told_which_fields_a_message_has() {
        let err = |body: &str| serde_json::from_str::<WireMessage>(body).err().map(|e| e.to_string());
        let fields = "`performative`, `sender`, `receiver`, `receivers`, `content`, `language`, `encoding`, \
                      `ontology`, `protocol`, `conversation_id`, `reply_with`, `in_reply_to`, `reply_by`";
        assert_eq!(
            err(r#"{"performative":"request","hops":1}"#),
            Some(format!("unknown field `hops`, expected one of {fields} at line 1 column 32"))
        );
        assert_eq!(err(r#"{"receiver":"a"}"#).as_deref(), Some("missing field `performative` at line 1 column 16"));
        assert_eq!(
            err(r#""x""#).as_deref(),
            Some(r#"invalid type: string "x", expected struct WireMessage at line 1 column 3"#)
        );
    }

    #[test]
    fn a_message_stored_by_an_earlier_host_with_nulls_still_loads() {
        let stored = json!({"content":"(p)","conversation_id":null,"encoding":"e","hops":4,"in_reply_to":"irt",
            "language":"fipa-sl","ontology":null,"performative":"inform","protocol":null,"receivers":["a"],
            "reply_by":null,"reply_with":null,"sender":"s"});
        let mut want = Message::new(Performative::Inform, vec!["a".into()], "(p)".into());
        want.sender = "s".into();
        want.encoding = Some("e".into());
        want.in_reply_to = Some("irt".into());
        want.language = Some("fipa-sl".into());
        want.hops = 4;
        assert_eq!(from_record(&stored), Some(want));
    }
}
