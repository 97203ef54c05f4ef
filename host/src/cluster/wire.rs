//! What envelopes carry between hosts: batches of messages for some of the
//! receiving host's agents, and that host's answers and credit grants.

use crate::acl::Message;
use crate::bus::BusError;
use serde::{Deserialize, Serialize};

/// A message for some of the receiving host's agents (or waiting parties).
/// A `deliver` envelope carries a batch of them (`Vec<Delivery>`), in the
/// order sent. The message comes last: a sending host writes it once, as
/// it checks its size, and puts a [`DeliveryHead`] before it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The receivers on the receiving host (the message may name others).
    pub receivers: Vec<String>,
    /// Whether the sending host spent a credit per agent receiver: the
    /// message goes into slots reserved for it (see `cluster::flow`).
    pub credited: bool,
    /// The id the sending host waits for an [`Answer`] under (on its
    /// `outcome` subject); none when it does not wait.
    pub ask: Option<u64>,
    /// The receiving host's boot as the sending host knows it: a delivery
    /// meant for an earlier boot is a replay and is dropped.
    pub to_boot: Option<String>,
    /// The message, its sender stamped by the sending host.
    pub message: Message,
}

/// The fields of a [`Delivery`] before its message, as the sending host writes them.
#[derive(Serialize)]
pub struct DeliveryHead<'a> {
    /// As [`Delivery::receivers`].
    pub receivers: &'a [String],
    /// As [`Delivery::credited`].
    pub credited: bool,
    /// As [`Delivery::ask`].
    pub ask: Option<u64>,
    /// As [`Delivery::to_boot`].
    pub to_boot: Option<String>,
}

/// A batch of deliveries in postcard, built one encoded delivery at a time:
/// postcard writes a sequence as its length (a varint) and then its elements,
/// and a struct as its fields in order, so the bytes decode as `Vec<Delivery>`.
#[derive(Debug, Default)]
pub struct Batch {
    count: u64,
    deliveries: Vec<u8>,
}

impl Batch {
    /// Add one delivery: its [`DeliveryHead`] and its message, each in postcard.
    pub fn push(&mut self, head: &[u8], message: &[u8]) {
        self.count += 1;
        self.deliveries.extend_from_slice(head);
        self.deliveries.extend_from_slice(message);
    }

    /// How many deliveries it holds.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Its size in bytes without the length in front.
    pub fn bytes(&self) -> usize {
        self.deliveries.len()
    }

    /// The batch in postcard, as `Vec<Delivery>`.
    pub fn encode(&self) -> Vec<u8> {
        // a u64 is written as the same varint as a sequence's length
        let mut out = postcard::to_allocvec(&self.count).unwrap_or_default();
        out.extend_from_slice(&self.deliveries);
        out
    }
}

/// The receiving host's answers to a batch of deliveries, and the credits it grants.
#[derive(Debug, Serialize, Deserialize)]
pub struct Outcome {
    /// What became of the deliveries whose sender waits.
    pub answers: Vec<Answer>,
    /// Slots the receiving host reserved for the sending host (see `cluster::flow`).
    pub grants: Vec<super::flow::Grant>,
    /// The boot of the host it is for: an outcome meant for an earlier boot is dropped.
    pub to_boot: String,
}

/// What became of one delivery its sender waits for.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    /// The delivery's [`Delivery::ask`].
    pub re: u64,
    /// What became of it.
    pub result: Delivered,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Performative;

    #[test]
    fn a_batch_built_from_heads_and_messages_decodes_as_deliveries() {
        let mut batch = Batch::default();
        let receivers = vec!["b-1".to_string(), "b-2".to_string()];
        for n in 0..300u64 {
            let mut message = Message::new(Performative::Inform, receivers.clone(), format!("n {n} \"quoted\" é"));
            message.reply_by = (n % 2 == 0).then_some(n);
            let ask = (n % 3 == 0).then_some(n + 1000);
            let head =
                DeliveryHead { receivers: &receivers, credited: n % 5 == 0, ask, to_boot: Some("boot-b".into()) };
            batch.push(&postcard::to_allocvec(&head).unwrap(), &postcard::to_allocvec(&message).unwrap());
        }
        assert_eq!(batch.len(), 300);
        let decoded: Vec<Delivery> = postcard::from_bytes(&batch.encode()).unwrap();
        assert_eq!(decoded.len(), 300);
        for (n, delivery) in (0..300u64).zip(&decoded) {
            assert_eq!(delivery.receivers, receivers);
            assert_eq!((delivery.credited, delivery.ask), (n % 5 == 0, (n % 3 == 0).then_some(n + 1000)));
            assert_eq!(delivery.message.content, format!("n {n} \"quoted\" é"));
            assert_eq!(delivery.message.reply_by, (n % 2 == 0).then_some(n));
        }
    }
}
