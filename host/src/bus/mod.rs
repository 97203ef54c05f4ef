//! The in-process message bus: routes ACL messages to agents' mailboxes and
//! replies to the clients waiting for them, and keeps the directory, the topic
//! subscriptions, reply-by deadlines and dead letters. No wasm types cross this API.
//!
//! A send is all-or-nothing: a slot is reserved in every receiver's mailbox
//! first, and the message is queued only when all reservations succeed.

pub mod dead_letters;
pub mod deadlines;
pub mod directory;
pub mod mailbox;
pub mod replies;
pub mod topics;

use crate::acl::{Message, Performative};
use crate::ids;
use dead_letters::{DeadLetter, DeadLetters, Reason};
use directory::{Directory, Profile, Query};
use replies::{Claim, Replies};
pub use replies::{ReplyWaiter, NOBODY_WAITS};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use topics::Topics;

/// Longest chain of messages caused by one another; beyond it messages are dead-lettered.
pub const MAX_HOPS: u32 = 32;

/// What an agent takes from its mailbox.
#[derive(Debug)]
pub enum Event {
    /// A message to handle.
    Message(Box<Message>),
    /// A timer that fired.
    Timer(u64),
}

pub use mailbox::Mailbox;

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
}

type ReplyKey = (String, String);

/// Routes messages between agents and waiting clients.
#[derive(Default)]
pub struct Bus {
    agents: RwLock<HashMap<String, Mailbox>>,
    replies: Replies,
    deadlines: deadlines::Deadlines,
    directory: Directory,
    topics: Topics,
    dead_letters: DeadLetters,
}

/// Where one receiver's copy of a message goes.
enum Slot {
    Agent(mailbox::Permit),
    Waiter(String),
    Unsolicited(String),
    Unclaimed(String),
}

impl Bus {
    /// A new, empty bus.
    pub fn new() -> Arc<Bus> {
        Arc::new(Bus::default())
    }

    /// A new bus whose dead letters are also written to `log` (and start from what it kept).
    pub fn with_dead_letter_log(log: Arc<dyn dead_letters::DeadLetterLog>) -> Arc<Bus> {
        Arc::new(Bus { dead_letters: DeadLetters::with_log(log), ..Bus::default() })
    }

    /// Make `name` reachable through `mailbox` and list it in the directory.
    pub fn register(&self, name: &str, mailbox: Mailbox, profile: Profile) -> Result<(), BusError> {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        if agents.contains_key(name) {
            return Err(BusError::AlreadyRegistered(name.to_string()));
        }
        agents.insert(name.to_string(), mailbox);
        self.directory.insert(name, profile);
        Ok(())
    }

    /// Route `name` to a new mailbox (a redeploy) with a new directory entry
    /// and the subscriptions its new version staged; the old ones end.
    /// Registers it when it was not registered.
    pub fn replace(&self, name: &str, mailbox: Mailbox, profile: Profile, subscriptions: &topics::Staged) {
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        self.topics.set(name, subscriptions.take());
        self.directory.insert(name, profile);
        agents.insert(name.to_string(), mailbox);
    }

    /// Stop routing to `name` and drop its directory entry and subscriptions;
    /// returns whether it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.directory.remove(name);
        self.topics.remove_agent(name);
        self.agents.write().unwrap_or_else(|p| p.into_inner()).remove(name).is_some()
    }

    /// Whether an agent of this name is registered.
    pub fn is_agent(&self, name: &str) -> bool {
        self.agents.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// A fresh identifier with the given prefix, unique and unguessable (see [`crate::ids`]).
    pub fn fresh_id(&self, prefix: &str) -> String {
        crate::ids::fresh(prefix)
    }

    /// The directory's matches for `query`, with their profiles.
    pub fn directory(&self, query: &Query) -> Vec<(String, Profile)> {
        self.directory.search(query)
    }

    /// The names of the agents `query` matches.
    pub fn search(&self, query: &Query) -> Vec<String> {
        self.directory.search(query).into_iter().map(|(name, _)| name).collect()
    }

    /// Topic subscriptions.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The kept dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.list()
    }

    /// How many messages have been dead-lettered in all.
    pub fn dead_letter_total(&self) -> u64 {
        self.dead_letters.total()
    }

    /// How many messages were dead-lettered for each reason since this process started.
    pub fn dead_letter_counts(&self) -> Vec<(Reason, u64)> {
        self.dead_letters.counts()
    }

    /// Record a message that will not be handled.
    pub fn dead_letter(&self, reason: Reason, receiver: &str, detail: String, message: Message) {
        self.dead_letters.push(reason, receiver, detail, message);
    }

    /// Register that `party` waits for the reply to `request`, which it must
    /// send next (so the reply cannot arrive first). The request's
    /// `reply-with` is replaced by an unguessable token, and only a receiver
    /// of the request can answer it (see [`replies`]).
    pub fn expect_reply(self: &Arc<Self>, party: &str, request: &mut Message) -> ReplyWaiter {
        self.replies.expect(self, party, request)
    }

    /// Send `msg` as `sender` (stamped over whatever the message claims) to all
    /// its receivers, or to none of them. Past [`MAX_HOPS`] the message is
    /// dead-lettered instead, and the send still succeeds.
    pub fn send(self: &Arc<Self>, sender: &str, mut msg: Message) -> Result<(), BusError> {
        if msg.receivers.is_empty() {
            return Err(BusError::NoReceivers);
        }
        msg.sender = sender.to_string();
        if msg.conversation_id.is_none() {
            msg.conversation_id = Some(self.fresh_id("conv"));
        }
        if msg.hops > MAX_HOPS {
            for receiver in &msg.receivers {
                let detail = format!("the message chain passed the hop limit of {MAX_HOPS}");
                self.dead_letter(Reason::HopLimit, receiver, detail, msg.clone());
            }
            return Ok(());
        }
        let slots = match self.reserve(&msg) {
            Ok(slots) => slots,
            Err(e) => {
                let (reason, receiver) = match &e {
                    BusError::MailboxFull(r) => (Reason::MailboxFull, r),
                    BusError::NoSuchAgent(r) => (Reason::NoSuchAgent, r),
                    _ => return Err(e),
                };
                self.dead_letter(reason, receiver, e.to_string(), msg);
                return Err(e);
            }
        };
        self.deadlines.answered(&msg);
        self.watch_reply_by(&msg);
        // every receiver but the last gets a copy; the last gets the message itself
        let last = slots.len().saturating_sub(1);
        let mut msg = Some(msg);
        for (i, slot) in slots.into_iter().enumerate() {
            let Some(this) = (if i == last { msg.take() } else { msg.clone() }) else { break };
            match slot {
                Slot::Agent(permit) => {
                    permit.send(Event::Message(Box::new(this)));
                }
                Slot::Waiter(token) => match self.replies.take(&token) {
                    Some(tx) => {
                        let _ = tx.send(this);
                    }
                    None => {
                        let receiver = this.receivers.get(i).cloned().unwrap_or_default();
                        let detail = format!("`{receiver}` is not an agent and stopped waiting for this reply");
                        self.dead_letter(Reason::UnclaimedReply, &receiver, detail, this);
                    }
                },
                Slot::Unsolicited(detail) => {
                    let receiver = this.receivers.get(i).cloned().unwrap_or_default();
                    self.dead_letter(Reason::UnsolicitedReply, &receiver, detail, this);
                }
                Slot::Unclaimed(_) if this.in_reply_to.as_deref().is_some_and(|r| ids::has_shape(r, NOBODY_WAITS)) => {
                    // the answer to a request whose client chose not to wait: expected, counted, not kept
                    self.dead_letters.count_only(Reason::UnclaimedReply);
                }
                Slot::Unclaimed(detail) => {
                    let receiver = this.receivers.get(i).cloned().unwrap_or_default();
                    self.dead_letter(Reason::UnclaimedReply, &receiver, detail, this);
                }
            }
        }
        Ok(())
    }

    /// Reserve a mailbox slot (or claim the waiter) for every receiver.
    fn reserve(&self, msg: &Message) -> Result<Vec<Slot>, BusError> {
        let agents = self.agents.read().unwrap_or_else(|p| p.into_inner());
        let mut slots = Vec::with_capacity(msg.receivers.len());
        for receiver in &msg.receivers {
            let mailbox = agents.get(receiver);
            match self.replies.claim(msg, receiver, mailbox.is_some()) {
                Claim::Waiter(token) => slots.push(Slot::Waiter(token)),
                Claim::Unsolicited(detail) => slots.push(Slot::Unsolicited(detail)),
                Claim::Unclaimed(detail) => slots.push(Slot::Unclaimed(detail)),
                Claim::NotClaimed => match mailbox.map(Mailbox::try_reserve) {
                    Some(Ok(permit)) => slots.push(Slot::Agent(permit)),
                    Some(Err(mailbox::Refused::Full)) => return Err(BusError::MailboxFull(receiver.clone())),
                    Some(Err(mailbox::Refused::Closed)) | None => return Err(BusError::NoSuchAgent(receiver.clone())),
                },
            }
        }
        Ok(slots)
    }

    /// Send a copy of `msg` to each of `receivers` separately; returns how many
    /// received it. Refusals are dead-lettered, not returned.
    pub fn deliver_each(self: &Arc<Self>, sender: &str, msg: &Message, receivers: Vec<String>) -> u32 {
        let mut delivered = 0;
        for receiver in receivers.into_iter().filter(|r| r != sender) {
            let mut copy = msg.clone();
            copy.receivers = vec![receiver];
            if self.send(sender, copy).is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    /// Send a copy of `msg` to every subscriber of `topic` except `sender`.
    pub fn publish(self: &Arc<Self>, sender: &str, topic: &str, msg: &Message) -> u32 {
        self.deliver_each(sender, msg, self.topics.subscribers(topic))
    }

    /// Start the reply-by clock for a request that asks for a reply by a deadline.
    fn watch_reply_by(self: &Arc<Self>, msg: &Message) {
        let (Some(reply_with), Some(reply_by)) = (&msg.reply_with, msg.reply_by) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("reply-by of `{reply_with}` not watched: no async runtime");
            return;
        };
        let key = (msg.sender.clone(), reply_with.clone());
        let generation = match self.deadlines.watch(key.clone(), msg.header()) {
            Ok(generation) => generation,
            Err(why) => {
                tracing::warn!("reply-by of `{reply_with}` not watched: {why}");
                return;
            }
        };
        let now_ms =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let delay = Duration::from_millis(reply_by.saturating_sub(now_ms));
        let bus = Arc::downgrade(self);
        let watched = key.clone();
        let task = runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(bus) = bus.upgrade() {
                bus.expire(&watched, generation);
            }
        });
        self.deadlines.armed(&key, generation, task.abort_handle());
    }

    /// The reply-by deadline of `key` passed: if it is still unanswered,
    /// dead-letter the request and tell the initiator with a `failure` (when
    /// it is an agent or waits; a client that did not wait has the dead letter).
    fn expire(self: &Arc<Self>, key: &ReplyKey, generation: u64) {
        let Some(pending) = self.deadlines.expired(key, generation) else {
            return;
        };
        let (initiator, token) = key;
        let mut request = pending.request;
        let failure_to = self.is_agent(initiator) || self.replies.asked_as(token).is_some();
        let failure = request.host_reply(Performative::Failure, String::new());
        // a waiting party knows its request by its own reply-with, not by the host's token
        let asked_as = self.replies.asked_as(token).unwrap_or_else(|| token.clone());
        request.reply_with = Some(asked_as.clone());
        let receiver = pending.receivers.first().cloned().unwrap_or_default();
        let detail = format!("no reply from `{receiver}` to `{asked_as}` by its reply-by deadline");
        let content = serde_json::json!({ "error": detail, "reason": Reason::ReplyBy.as_str() });
        self.dead_letter(Reason::ReplyBy, &receiver, detail, request);
        if failure_to {
            let failure = Message { content: content.to_string(), ..failure };
            if let Err(e) = self.send(&receiver, failure) {
                tracing::debug!("reply-by failure for `{token}` undeliverable: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
