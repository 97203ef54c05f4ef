//! What envelopes carry between hosts: a message for some of the receiving
//! host's agents, and that host's answer.

use crate::acl::Message;
use crate::bus::BusError;
use serde::{Deserialize, Serialize};

/// An ACL message with every field the host keeps (the hop count among them).
#[derive(Debug, Serialize, Deserialize)]
pub struct Acl {
    performative: String,
    sender: String,
    receivers: Vec<String>,
    content: String,
    language: Option<String>,
    encoding: Option<String>,
    ontology: Option<String>,
    protocol: Option<String>,
    conversation_id: Option<String>,
    reply_with: Option<String>,
    in_reply_to: Option<String>,
    reply_by: Option<u64>,
    hops: u32,
}

impl From<&Message> for Acl {
    fn from(m: &Message) -> Acl {
        Acl {
            performative: m.performative.as_str().to_string(),
            sender: m.sender.clone(),
            receivers: m.receivers.clone(),
            content: m.content.clone(),
            language: m.language.clone(),
            encoding: m.encoding.clone(),
            ontology: m.ontology.clone(),
            protocol: m.protocol.clone(),
            conversation_id: m.conversation_id.clone(),
            reply_with: m.reply_with.clone(),
            in_reply_to: m.in_reply_to.clone(),
            reply_by: m.reply_by,
            hops: m.hops,
        }
    }
}

impl Acl {
    /// The message, or `None` when the performative is unknown.
    pub fn into_message(self) -> Option<Message> {
        Some(Message {
            performative: self.performative.parse().ok()?,
            sender: self.sender,
            receivers: self.receivers,
            content: self.content,
            language: self.language,
            encoding: self.encoding,
            ontology: self.ontology,
            protocol: self.protocol,
            conversation_id: self.conversation_id,
            reply_with: self.reply_with,
            in_reply_to: self.in_reply_to,
            reply_by: self.reply_by,
            hops: self.hops,
        })
    }
}

/// A message for some of the receiving host's agents (or waiting parties).
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The receivers on the receiving host (the message may name others).
    pub receivers: Vec<String>,
    /// The message, its sender stamped by the sending host.
    pub message: Acl,
    /// Whether the sending host spent a credit per agent receiver: the
    /// message goes into slots reserved for it (see `cluster::flow`).
    #[serde(default)]
    pub credited: bool,
    /// Whether the sending host waits for an [`Outcome`] (on its `outcome` subject).
    #[serde(default)]
    pub answer: bool,
    /// The receiving host's boot as the sending host knows it: a delivery
    /// meant for an earlier boot is a replay and is dropped.
    #[serde(default)]
    pub to_boot: Option<String>,
}

/// The receiving host's answer to a [`Delivery`], or (with `re` 0) a grant of credits alone.
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// The sequence number of the delivery's envelope; 0 for a grant alone.
    pub re: u64,
    /// What became of it.
    pub result: Delivered,
    /// Slots the receiving host reserved for the sending host (see `cluster::flow`).
    #[serde(default)]
    pub grants: Vec<super::flow::Grant>,
    /// The boot of the host it is for: an outcome meant for an earlier boot is dropped.
    pub to_boot: String,
}

/// What became of a delivery; the refusals a local send gives.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Delivered {
    /// Every receiver's mailbox took it.
    Delivered,
    /// This receiver's mailbox is full.
    MailboxFull(String),
    /// No agent of this name runs there.
    NoSuchAgent(String),
    /// The receiving host refused it for this reason.
    Refused(String),
}

impl Delivered {
    /// The outcome of a local delivery.
    pub fn from_result(result: Result<(), BusError>) -> Delivered {
        match result {
            Ok(()) => Delivered::Delivered,
            Err(BusError::MailboxFull(agent)) => Delivered::MailboxFull(agent),
            Err(BusError::NoSuchAgent(agent)) => Delivered::NoSuchAgent(agent),
            Err(other) => Delivered::Refused(other.to_string()),
        }
    }
}
