//! `caxton:agent/messaging`: sending ACL messages through the [`Bus`].
//!
//! The grant's `send-to` patterns are checked on every call; a receiver outside
//! them gets the WIT `access-denied` error, never a trap.

use crate::acl;
use crate::bindings::caxton::agent::messaging::Host;
use crate::bindings::caxton::agent::types::{Message, SendError};
use crate::bus::{Bus, BusError};
use crate::policy::MessagingGrant;
use std::sync::Arc;

/// Per-agent state of the `messaging` capability.
pub struct MessagingCtx {
    agent: String,
    bus: Arc<Bus>,
    grant: Option<MessagingGrant>,
    max_message_bytes: u64,
}

impl MessagingCtx {
    /// State for `agent`, sending through `bus` within `grant`.
    pub fn new(agent: &str, bus: Arc<Bus>, grant: Option<MessagingGrant>, max_message_bytes: u64) -> Self {
        MessagingCtx { agent: agent.to_string(), bus, grant, max_message_bytes }
    }

    /// Check scope and size, then hand the message to the bus.
    pub fn send_message(&self, msg: acl::Message) -> Result<(), SendError> {
        let size = msg.byte_size() as u64;
        if size > self.max_message_bytes {
            return Err(SendError::TooLarge(self.max_message_bytes));
        }
        if msg.receivers.is_empty() {
            return Err(SendError::NoReceivers);
        }
        if let Some(denied) = msg.receivers.iter().find(|r| !self.grant.as_ref().is_some_and(|g| g.may_send_to(r))) {
            return Err(SendError::AccessDenied(denied.clone()));
        }
        self.bus.send(&self.agent, msg).map_err(|e| match e {
            BusError::NoReceivers => SendError::NoReceivers,
            BusError::MailboxFull(a) => SendError::MailboxFull(a),
            BusError::NoSuchAgent(a) | BusError::AlreadyRegistered(a) => SendError::NoSuchAgent(a),
            BusError::AlreadyWaiting { party, .. } => SendError::NoSuchAgent(party),
        })
    }
}

impl Host for MessagingCtx {
    fn send(&mut self, msg: Message) -> wasmtime::Result<Result<(), SendError>> {
        Ok(self.send_message(msg.into()))
    }

    fn self_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.agent.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Performative;
    use crate::bus::Event;
    use tokio::sync::mpsc;

    fn ctx(send_to: &[&str]) -> (MessagingCtx, mpsc::Receiver<Event>, mpsc::Receiver<Event>) {
        let bus = Bus::new();
        let (tx1, rx1) = mpsc::channel(4);
        let (tx2, rx2) = mpsc::channel(4);
        bus.register("pricing-eu", tx1).unwrap();
        bus.register("billing", tx2).unwrap();
        let grant = MessagingGrant { send_to: send_to.iter().map(|s| s.to_string()).collect() };
        (MessagingCtx::new("me", bus, Some(grant), 1024), rx1, rx2)
    }

    fn to(r: &str) -> Message {
        acl::Message::new(Performative::Inform, vec![r.to_string()], "{}".into()).into()
    }

    #[test]
    fn sends_within_scope_and_stamps_the_sender() {
        let (mut m, mut rx, _) = ctx(&["pricing-*"]);
        let mut msg = to("pricing-eu");
        msg.sender = "billing".into();
        assert!(m.send(msg).unwrap().is_ok());
        match rx.try_recv() {
            Ok(Event::Message(got)) => assert_eq!(got.sender, "me"),
            other => panic!("expected the message, got {other:?}"),
        }
    }

    #[test]
    fn refuses_receivers_outside_the_grant_with_access_denied() {
        let (mut m, _, mut rx) = ctx(&["pricing-*"]);
        assert_eq!(m.send(to("billing")).unwrap(), Err(SendError::AccessDenied("billing".into())));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn refuses_oversize_messages_before_queueing() {
        let (mut m, mut rx, _) = ctx(&["*"]);
        let mut big = to("pricing-eu");
        big.content = "x".repeat(2048);
        assert_eq!(m.send(big).unwrap(), Err(SendError::TooLarge(1024)));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn reports_unknown_receivers() {
        let (mut m, _, _) = ctx(&["*"]);
        assert_eq!(m.send(to("ghost")).unwrap(), Err(SendError::NoSuchAgent("ghost".into())));
        assert_eq!(m.self_id().unwrap(), "me");
    }
}
