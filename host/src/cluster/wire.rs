//! What envelopes carry between hosts: a message for some of the receiving
//! host's agents, and that host's answer.

use crate::acl::Message;
use crate::bus::BusError;
use serde::{Deserialize, Serialize};

/// A message for some of the receiving host's agents (or waiting parties).
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The receivers on the receiving host (the message may name others).
    pub receivers: Vec<String>,
    /// The message, its sender stamped by the sending host.
    pub message: Message,
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
