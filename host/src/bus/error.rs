//! Why the bus refuses a message ([`BusError`]), and the dead-letter reason of each refusal.

use super::dead_letters::Reason;

/// Why the bus refused a message. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The message names no receiver.
    #[error("the message has no receivers")]
    NoReceivers,
    /// The receiver is neither a deployed agent nor a client waiting for this reply.
    #[error("no agent named `{0}` is deployed")]
    NoSuchAgent(String),
    /// The receiver's mailbox is full.
    #[error("the mailbox of `{0}` is full")]
    MailboxFull(String),
    /// An agent of this name is already registered.
    #[error("an agent named `{0}` is already deployed")]
    AlreadyRegistered(String),
    /// Another host of the cluster runs an agent of this name.
    #[error("an agent named `{agent}` already runs on host `{host}` of the cluster")]
    RunsElsewhere {
        /// The agent.
        agent: String,
        /// The host that runs it.
        host: String,
    },
    /// The receiver's host did not answer in time (it stopped, or NATS is unreachable).
    #[error("host `{host}`, which runs `{agent}`, cannot be reached")]
    HostUnreachable {
        /// The receiver.
        agent: String,
        /// Its host.
        host: String,
    },
    /// The message breaks the interaction protocol of its conversation.
    #[error("{0}")]
    ProtocolViolation(Box<crate::protocol::Violation>),
    /// The message, in its envelope, is larger than the NATS server carries.
    #[error(
        "a message of {bytes} bytes to `{agent}` on host `{host}` does not fit the {max}-byte payload \
         the NATS server carries; send less, or raise `max_payload` in the nats-server configuration"
    )]
    TooLarge {
        /// The (first) receiver.
        agent: String,
        /// Its host.
        host: String,
        /// The message's size in its envelope, in bytes.
        bytes: usize,
        /// The NATS server's max payload, in bytes.
        max: usize,
    },
}

impl BusError {
    /// The dead-letter reason of a refusal that names a receiver, with that receiver.
    pub(super) fn dead_letter_reason(&self) -> Option<(Reason, &str)> {
        match self {
            BusError::MailboxFull(r) => Some((Reason::MailboxFull, r)),
            BusError::NoSuchAgent(r) => Some((Reason::NoSuchAgent, r)),
            BusError::HostUnreachable { agent, .. } => Some((Reason::HostUnreachable, agent)),
            BusError::TooLarge { agent, .. } => Some((Reason::TooLarge, agent)),
            BusError::NoReceivers
            | BusError::AlreadyRegistered(_)
            | BusError::RunsElsewhere { .. }
            | BusError::ProtocolViolation(_) => None,
        }
    }
}
