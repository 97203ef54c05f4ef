//! The in-process message bus: routes ACL messages to agents' mailboxes and
//! replies to the clients waiting for them. No wasm types cross this API.
//!
//! A send is all-or-nothing: a slot is reserved in every receiver's mailbox
//! first, and the message is queued only when all reservations succeed.

use crate::acl::Message;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};

/// What an agent's actor takes from its mailbox.
#[derive(Debug)]
pub enum Event {
    /// A message to handle.
    Message(Box<Message>),
    /// A timer that fired.
    Timer(u64),
}

/// The sending side of an agent's mailbox.
pub type Mailbox = mpsc::Sender<Event>;

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
    /// A client is already waiting for a reply with this key.
    #[error("a client is already waiting for a reply to `{reply_with}` as `{party}`")]
    AlreadyWaiting {
        /// The waiting party.
        party: String,
        /// The `reply-with` it waits on.
        reply_with: String,
    },
}

type WaiterKey = (String, String);

/// Routes messages between agents and waiting clients.
#[derive(Default)]
pub struct Bus {
    agents: RwLock<HashMap<String, Mailbox>>,
    waiters: Mutex<HashMap<WaiterKey, oneshot::Sender<Message>>>,
    next_id: AtomicU64,
}

/// A reply a client is waiting for; dropping it stops the wait.
pub struct ReplyWaiter {
    bus: Arc<Bus>,
    key: WaiterKey,
    rx: oneshot::Receiver<Message>,
}

impl ReplyWaiter {
    /// Wait for the reply.
    pub async fn recv(mut self) -> Option<Message> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for ReplyWaiter {
    fn drop(&mut self) {
        if let Ok(mut w) = self.bus.waiters.lock() {
            w.remove(&self.key);
        }
    }
}

impl Bus {
    /// A new, empty bus.
    pub fn new() -> Arc<Bus> {
        Arc::new(Bus::default())
    }

    /// Make `name` reachable through `mailbox`.
    pub fn register(&self, name: &str, mailbox: Mailbox) -> Result<(), BusError> {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        if agents.contains_key(name) {
            return Err(BusError::AlreadyRegistered(name.to_string()));
        }
        agents.insert(name.to_string(), mailbox);
        Ok(())
    }

    /// Stop routing to `name`; returns whether it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.agents.write().unwrap_or_else(|p| p.into_inner()).remove(name).is_some()
    }

    /// Whether an agent of this name is registered.
    pub fn is_agent(&self, name: &str) -> bool {
        self.agents.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// The names of the registered agents, sorted.
    pub fn agent_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.agents.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        names.sort();
        names
    }

    /// A fresh identifier, unique within this host, with the given prefix.
    pub fn fresh_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Register that `party` waits for the reply to its `reply_with`. Register
    /// before sending the request, so the reply cannot arrive first.
    pub fn expect_reply(self: &Arc<Self>, party: &str, reply_with: &str) -> Result<ReplyWaiter, BusError> {
        let key = (party.to_string(), reply_with.to_string());
        let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if waiters.contains_key(&key) {
            return Err(BusError::AlreadyWaiting { party: key.0, reply_with: key.1 });
        }
        let (tx, rx) = oneshot::channel();
        waiters.insert(key.clone(), tx);
        Ok(ReplyWaiter { bus: self.clone(), key, rx })
    }

    /// Send `msg` as `sender` (stamped over whatever the message claims) to all
    /// its receivers, or to none of them.
    pub fn send(&self, sender: &str, mut msg: Message) -> Result<(), BusError> {
        if msg.receivers.is_empty() {
            return Err(BusError::NoReceivers);
        }
        msg.sender = sender.to_string();
        if msg.conversation_id.is_none() {
            msg.conversation_id = Some(self.fresh_id("conv"));
        }
        enum Slot {
            Agent(mpsc::OwnedPermit<Event>),
            Waiter(oneshot::Sender<Message>),
            Undeliverable,
        }
        let mut slots = Vec::with_capacity(msg.receivers.len());
        {
            let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            for receiver in &msg.receivers {
                let waiter_key = msg.in_reply_to.as_ref().map(|r| (receiver.clone(), r.clone()));
                if let Some(tx) = waiter_key.and_then(|k| waiters.remove(&k)) {
                    slots.push(Slot::Waiter(tx));
                } else if let Some(mailbox) = agents.get(receiver) {
                    match mailbox.clone().try_reserve_owned() {
                        Ok(permit) => slots.push(Slot::Agent(permit)),
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            return Err(BusError::MailboxFull(receiver.clone()));
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => {
                            return Err(BusError::NoSuchAgent(receiver.clone()));
                        }
                    }
                } else if msg.in_reply_to.is_some() {
                    // A reply to a client that stopped waiting (or never waited).
                    slots.push(Slot::Undeliverable);
                } else {
                    return Err(BusError::NoSuchAgent(receiver.clone()));
                }
            }
        }
        for (slot, receiver) in slots.into_iter().zip(msg.receivers.clone()) {
            match slot {
                Slot::Agent(permit) => {
                    permit.send(Event::Message(Box::new(msg.clone())));
                }
                Slot::Waiter(tx) => {
                    let _ = tx.send(msg.clone());
                }
                Slot::Undeliverable => tracing::warn!(
                    sender,
                    receiver = %receiver,
                    in_reply_to = msg.in_reply_to.as_deref().unwrap_or_default(),
                    "reply dropped: nobody is waiting for it"
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Performative;

    fn msg(to: &[&str]) -> Message {
        Message::new(Performative::Request, to.iter().map(|s| s.to_string()).collect(), "{}".into())
    }

    fn next(rx: &mut mpsc::Receiver<Event>) -> Message {
        match rx.try_recv() {
            Ok(Event::Message(m)) => *m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    #[test]
    fn stamps_the_true_sender_and_starts_a_conversation() {
        let bus = Bus::new();
        let (tx, mut rx) = mpsc::channel(4);
        bus.register("b", tx).unwrap();
        let mut m = msg(&["b"]);
        m.sender = "somebody-else".into();
        bus.send("a", m).unwrap();
        let got = next(&mut rx);
        assert_eq!(got.sender, "a");
        assert!(got.conversation_id.is_some());
    }

    #[test]
    fn a_full_mailbox_refuses_the_whole_send() {
        let bus = Bus::new();
        let (tx1, mut rx1) = mpsc::channel(4);
        let (tx2, _rx2) = mpsc::channel(1);
        bus.register("roomy", tx1).unwrap();
        bus.register("full", tx2).unwrap();
        bus.send("a", msg(&["full"])).unwrap();
        assert_eq!(bus.send("a", msg(&["roomy", "full"])), Err(BusError::MailboxFull("full".into())));
        assert!(rx1.try_recv().is_err(), "nothing may be queued when one receiver refuses");
    }

    #[test]
    fn unknown_receivers_are_refused_but_unclaimed_replies_are_dropped() {
        let bus = Bus::new();
        assert_eq!(bus.send("a", msg(&["ghost"])), Err(BusError::NoSuchAgent("ghost".into())));
        let mut reply = msg(&["gone-client"]);
        reply.in_reply_to = Some("r1".into());
        assert_eq!(bus.send("a", reply), Ok(()));
        assert_eq!(bus.send("a", msg(&[])), Err(BusError::NoReceivers));
    }

    #[tokio::test]
    async fn routes_replies_to_the_waiting_client() {
        let bus = Bus::new();
        let waiter = bus.expect_reply("client", "r1").unwrap();
        assert!(matches!(bus.expect_reply("client", "r1"), Err(BusError::AlreadyWaiting { .. })));
        let mut reply = msg(&["client"]);
        reply.in_reply_to = Some("r1".into());
        bus.send("agent", reply).unwrap();
        let got = waiter.recv().await.unwrap();
        assert_eq!(got.sender, "agent");
        // the waiter is gone once answered; the key can be used again
        assert!(bus.expect_reply("client", "r1").is_ok());
    }

    #[test]
    fn register_refuses_duplicates_and_unregister_removes() {
        let bus = Bus::new();
        let (tx, _rx) = mpsc::channel(1);
        bus.register("a", tx.clone()).unwrap();
        assert_eq!(bus.register("a", tx), Err(BusError::AlreadyRegistered("a".into())));
        assert!(bus.unregister("a"));
        assert!(!bus.is_agent("a"));
    }
}
