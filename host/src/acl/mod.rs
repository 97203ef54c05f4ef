//! FIPA ACL messages as the host sees them, free of any wasm or HTTP types.
//!
//! [`json`] converts them to and from the JSON form the HTTP API speaks;
//! [`Message`] itself serializes with every field the host keeps (the hop
//! count among them), the form hosts of a cluster exchange.

pub mod json;
pub mod trace;

use std::fmt;
use std::str::FromStr;

/// The 22 communicative acts of the FIPA ACL Communicative Act Library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Performative {
    AcceptProposal,
    Agree,
    Cancel,
    Cfp,
    Confirm,
    Disconfirm,
    Failure,
    Inform,
    InformIf,
    InformRef,
    NotUnderstood,
    Propagate,
    Propose,
    Proxy,
    QueryIf,
    QueryRef,
    Refuse,
    RejectProposal,
    Request,
    RequestWhen,
    RequestWhenever,
    Subscribe,
}

impl Performative {
    /// Every performative, in the order the WIT enum declares them.
    pub const ALL: [Performative; 22] = [
        Self::AcceptProposal,
        Self::Agree,
        Self::Cancel,
        Self::Cfp,
        Self::Confirm,
        Self::Disconfirm,
        Self::Failure,
        Self::Inform,
        Self::InformIf,
        Self::InformRef,
        Self::NotUnderstood,
        Self::Propagate,
        Self::Propose,
        Self::Proxy,
        Self::QueryIf,
        Self::QueryRef,
        Self::Refuse,
        Self::RejectProposal,
        Self::Request,
        Self::RequestWhen,
        Self::RequestWhenever,
        Self::Subscribe,
    ];

    /// The FIPA spelling, e.g. `not-understood`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AcceptProposal => "accept-proposal",
            Self::Agree => "agree",
            Self::Cancel => "cancel",
            Self::Cfp => "cfp",
            Self::Confirm => "confirm",
            Self::Disconfirm => "disconfirm",
            Self::Failure => "failure",
            Self::Inform => "inform",
            Self::InformIf => "inform-if",
            Self::InformRef => "inform-ref",
            Self::NotUnderstood => "not-understood",
            Self::Propagate => "propagate",
            Self::Propose => "propose",
            Self::Proxy => "proxy",
            Self::QueryIf => "query-if",
            Self::QueryRef => "query-ref",
            Self::Refuse => "refuse",
            Self::RejectProposal => "reject-proposal",
            Self::Request => "request",
            Self::RequestWhen => "request-when",
            Self::RequestWhenever => "request-whenever",
            Self::Subscribe => "subscribe",
        }
    }
}

impl fmt::Display for Performative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A performative name that is not one of the 22 FIPA acts.
#[derive(Debug, Clone, thiserror::Error)]
#[error("`{0}` is not a FIPA performative (expected one of request, inform, failure, not-understood, cfp, propose, …)")]
pub struct UnknownPerformative(pub String);

impl FromStr for Performative {
    type Err = UnknownPerformative;

    /// Accepts the FIPA spelling in any case, with `-` or `_` between words.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|p| p.as_str() == wanted).ok_or_else(|| UnknownPerformative(s.to_string()))
    }
}

impl serde::Serialize for Performative {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Performative {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The host's wall clock in milliseconds since the Unix epoch: the clock of
/// `reply-by` deadlines, timers' `now-ms` and every record's time (0 before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The sender name given to HTTP clients that do not name themselves; no
/// agent may be deployed under it.
pub const DEFAULT_CLIENT: &str = "http-client";

/// Whether `name` may be a client's sender name: 1–128 visible ASCII
/// characters, none of them `*` (which send-to patterns read as a wildcard).
pub fn valid_client_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic() && b != b'*')
}

/// A FIPA ACL message. `content` is a string: JSON unless `language` says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[allow(missing_docs)]
pub struct Message {
    pub performative: Performative,
    pub sender: String,
    pub receivers: Vec<String>,
    pub content: String,
    pub language: Option<String>,
    pub encoding: Option<String>,
    pub ontology: Option<String>,
    pub protocol: Option<String>,
    pub conversation_id: Option<String>,
    pub reply_with: Option<String>,
    pub in_reply_to: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub reply_by: Option<u64>,
    /// How many messages led to this one (host-managed, not visible to agents):
    /// a message sent while handling a message of `n` hops has `n + 1`.
    pub hops: u32,
    /// The W3C trace it belongs to (host-managed, not visible to agents): a
    /// client's `traceparent`, inherited by what agents send while handling it.
    pub trace: Option<trace::TraceContext>,
}

impl Message {
    /// A message with the given act, receivers and content and nothing else set.
    pub fn new(performative: Performative, receivers: Vec<String>, content: String) -> Message {
        Message {
            performative,
            sender: String::new(),
            receivers,
            content,
            language: None,
            encoding: None,
            ontology: None,
            protocol: None,
            conversation_id: None,
            reply_with: None,
            in_reply_to: None,
            reply_by: None,
            hops: 0,
            trace: None,
        }
    }

    /// A reply from the host on behalf of `from`: addressed to this message's
    /// sender, in its conversation, answering its `reply-with`.
    pub fn host_reply(&self, performative: Performative, content: String) -> Message {
        let mut reply = Message::new(performative, vec![self.sender.clone()], content);
        reply.conversation_id = self.conversation_id.clone();
        reply.in_reply_to = self.reply_with.clone();
        reply.protocol = self.protocol.clone();
        reply.hops = self.hops.saturating_add(1);
        reply.trace = self.trace;
        reply
    }

    /// A copy without the content: enough to answer the message.
    pub fn header(&self) -> Message {
        Message {
            performative: self.performative,
            sender: self.sender.clone(),
            receivers: self.receivers.clone(),
            content: String::new(),
            language: self.language.clone(),
            encoding: self.encoding.clone(),
            ontology: self.ontology.clone(),
            protocol: self.protocol.clone(),
            conversation_id: self.conversation_id.clone(),
            reply_with: self.reply_with.clone(),
            in_reply_to: self.in_reply_to.clone(),
            reply_by: self.reply_by,
            hops: self.hops,
            trace: self.trace,
        }
    }

    /// Roughly how many bytes the message occupies: the sum of its strings.
    pub fn byte_size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.sender.len()
            + self.receivers.iter().map(String::len).sum::<usize>()
            + self.content.len()
            + opt(&self.language)
            + opt(&self.encoding)
            + opt(&self.ontology)
            + opt(&self.protocol)
            + opt(&self.conversation_id)
            + opt(&self.reply_with)
            + opt(&self.in_reply_to)
            + 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_performative_in_fipa_and_snake_spelling() {
        for p in Performative::ALL {
            assert_eq!(p.as_str().parse::<Performative>().ok(), Some(p));
            let snake = p.as_str().replace('-', "_").to_uppercase();
            assert_eq!(snake.parse::<Performative>().ok(), Some(p));
        }
        assert!("shout".parse::<Performative>().is_err());
    }

    #[test]
    fn host_reply_answers_reply_with_in_the_same_conversation() {
        let mut request = Message::new(Performative::Request, vec!["b".into()], "{}".into());
        request.sender = "a".into();
        request.reply_with = Some("r1".into());
        request.conversation_id = Some("c1".into());
        let reply = request.host_reply(Performative::Failure, "{}".into());
        assert_eq!(reply.receivers, vec!["a".to_string()]);
        assert_eq!(reply.in_reply_to.as_deref(), Some("r1"));
        assert_eq!(reply.conversation_id.as_deref(), Some("c1"));
    }
}
