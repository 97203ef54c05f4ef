//! The in-process message bus: routes ACL messages to agents' mailboxes and
//! replies to the clients waiting for them, and keeps the directory, the topic
//! subscriptions, reply-by deadlines and dead letters. No wasm types cross this API.
//!
//! A send is all-or-nothing: a slot is reserved in every receiver's mailbox
//! first, and the message is queued only when all reservations succeed.

pub mod activation;
pub mod conversations;
pub mod dead_letters;
pub mod deadlines;
pub mod directory;
mod error;
pub mod mailbox;
pub mod remote;
pub mod replies;
mod slots;
pub mod topics;

use crate::acl::{Message, Performative};
use crate::events::Events;
use crate::ids;
use crate::protocol::{HostEnding, Violation};
use conversations::Outcome;
use dead_letters::{DeadLetter, DeadLetters, Reason};
use directory::{Directory, Profile, Query};
use remote::Remote;
use replies::Replies;
pub use replies::{ReplyWaiter, NOBODY_WAITS};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
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

pub use error::BusError;
pub use mailbox::Mailbox;

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
    conversations: conversations::Conversations,
    /// The other hosts, once this host joined a cluster.
    remote: OnceLock<Arc<dyn Remote>>,
    /// Starts instances of agent types on their first event (see [`activation`]).
    activator: OnceLock<std::sync::Weak<dyn activation::Activator>>,
    /// Bumped whenever an agent is registered, replaced or unregistered.
    changes: std::sync::atomic::AtomicU64,
    /// What operators watch: every message's outcome is published here.
    events: Arc<Events>,
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
        self.name_is_free(name)?;
        let mut agents = self.agents.write().unwrap_or_else(|p| p.into_inner());
        if agents.contains_key(name) {
            return Err(BusError::AlreadyRegistered(name.to_string()));
        }
        agents.insert(name.to_string(), mailbox);
        self.directory.insert(name, profile);
        self.changed();
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
        self.changed();
    }

    /// Stop routing to `name` and drop its directory entry and subscriptions;
    /// returns whether it was registered.
    pub fn unregister(&self, name: &str) -> bool {
        self.directory.remove(name);
        self.topics.remove_agent(name);
        let removed = self.agents.write().unwrap_or_else(|p| p.into_inner()).remove(name).is_some();
        self.changed();
        removed
    }

    fn changed(&self) {
        self.changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A number that changes whenever the agents here, their directory
    /// entries or their subscriptions change (for announcing them to a cluster).
    pub fn generation(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Relaxed).wrapping_add(self.topics.generation())
    }

    /// Whether an agent of this name is registered on this host.
    pub fn is_agent(&self, name: &str) -> bool {
        self.agents.read().unwrap_or_else(|p| p.into_inner()).contains_key(name)
    }

    /// Whether an agent of this name runs here or on another host of the cluster, or the name is
    /// an agent type's or one of its instances' (in memory or not).
    pub fn is_agent_anywhere(&self, name: &str) -> bool {
        self.is_agent(name)
            || self.is_virtual(name)
            || self.remote.get().is_some_and(|r| r.host_of(name).is_some() || r.type_host(name).is_some())
    }

    /// `Err(RunsElsewhere)` when another host of the cluster runs an agent or an agent type named `name`.
    pub fn name_is_free(&self, name: &str) -> Result<(), BusError> {
        let remote = self.remote.get();
        match remote.and_then(|r| r.host_of(name).or_else(|| r.type_host(name))) {
            Some(host) => Err(BusError::RunsElsewhere { agent: name.to_string(), host }),
            None => Ok(()),
        }
    }

    /// `Err(RunsElsewhere)` when another host of the cluster runs an agent named
    /// `name` (other hosts may run an agent type of that name too).
    pub fn type_name_is_free(&self, name: &str) -> Result<(), BusError> {
        match self.remote.get().and_then(|r| r.host_of(name)) {
            Some(host) => Err(BusError::RunsElsewhere { agent: name.to_string(), host }),
            None => Ok(()),
        }
    }

    /// Join a cluster: receivers this host does not hold are looked up on,
    /// and delivered through, `remote`. Once only; later calls are ignored.
    pub fn join(&self, remote: Arc<dyn Remote>) {
        let _ = self.remote.set(remote);
    }

    /// The names of this host's agents (not its agent types), sorted.
    pub fn local_agent_names(&self) -> Vec<String> {
        let entries = self.directory.search(&Query::default()).into_iter().map(|(name, _)| name);
        entries.filter(|name| !self.runs_type(name)).collect()
    }

    /// This host's agents with their directory entries (all of them).
    pub fn local_directory(&self) -> Vec<(String, Profile)> {
        self.directory.search(&Query::default())
    }

    /// A fresh identifier with the given prefix, unique and unguessable (see [`crate::ids`]).
    pub fn fresh_id(&self, prefix: &str) -> String {
        crate::ids::fresh(prefix)
    }

    /// The directory's matches for `query` on every host, with their profiles, sorted by name.
    pub fn directory(&self, query: &Query) -> Vec<(String, Profile)> {
        let mut found = self.directory.search(query);
        if let Some(remote) = self.remote.get() {
            found.extend(remote.search(query));
            found.sort_by(|a, b| a.0.cmp(&b.0));
            // an agent type several hosts run is one entry
            found.dedup_by(|a, b| a.0 == b.0);
        }
        found
    }

    /// The names of the agents `query` matches on every host.
    pub fn search(&self, query: &Query) -> Vec<String> {
        self.directory(query).into_iter().map(|(name, _)| name).collect()
    }

    /// The agents subscribed to `topic` on every host, sorted.
    pub fn subscribers(&self, topic: &str) -> Vec<String> {
        let mut found = self.topics.subscribers(topic);
        if let Some(remote) = self.remote.get() {
            found.extend(remote.subscribers(topic));
            found.sort();
        }
        found
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

    /// Record a message that will not be handled (also in its conversation).
    pub fn dead_letter(&self, reason: Reason, receiver: &str, detail: String, message: Message) {
        let receivers = [receiver.to_string()];
        self.conversations.record(&message, &receivers, (Outcome::DeadLettered, Some(reason.as_str())), None);
        self.events.undelivered(&message, receiver, Outcome::DeadLettered, reason.as_str(), &detail);
        self.dead_letters.push(reason, receiver, detail, message);
    }

    /// Register that `party` waits for the reply to `request`, which it must
    /// send next (so the reply cannot arrive first). The request's
    /// `reply-with` is replaced by an unguessable token, and only a receiver
    /// of the request can answer it (see [`replies`]).
    pub fn expect_reply(self: &Arc<Self>, party: &str, request: &mut Message) -> ReplyWaiter {
        let prefix = remote::reply_prefix(self.remote.get().map(|r| r.host_id()));
        self.replies.expect(self, party, request, &prefix)
    }

    /// Send `msg` as `sender` (stamped over whatever the message claims) to all
    /// its receivers, or to none of them. Past [`MAX_HOPS`] the message is
    /// dead-lettered instead, and the send still succeeds.
    ///
    /// Receivers on other hosts of a cluster are handed to the [`Remote`]
    /// first, host by host, and the local ones are queued only when every
    /// host took its share; a refusal from a later host does not take back
    /// what an earlier host already queued (all-or-nothing holds per host).
    /// A send to another host's agent for which this host holds no credit
    /// blocks for that host's answer (see `cluster::flow`).
    pub fn send(self: &Arc<Self>, sender: &str, msg: Message) -> Result<(), BusError> {
        self.send_as(sender, msg, None)
    }

    /// Send `msg`, a `failure` the host answers for `sender` (which trapped,
    /// was removed, or let a reply-by pass), past protocol checks: it ends
    /// the exchange as `ending` says.
    pub fn send_host_reply(self: &Arc<Self>, sender: &str, msg: Message, ending: HostEnding) -> Result<(), BusError> {
        self.send_as(sender, msg, Some(ending))
    }

    fn send_as(self: &Arc<Self>, sender: &str, mut msg: Message, host: Option<HostEnding>) -> Result<(), BusError> {
        if msg.receivers.is_empty() {
            return Err(BusError::NoReceivers);
        }
        msg.sender = sender.to_string();
        // a blank conversation id or protocol is none: no two senders share the conversation ` `
        if msg.conversation_id.as_deref().is_none_or(blank) {
            msg.conversation_id = Some(self.fresh_id("conv"));
        }
        if msg.protocol.as_deref().is_some_and(blank) {
            msg.protocol = None;
        }
        dedup_receivers(&mut msg.receivers);
        if msg.hops > MAX_HOPS {
            for receiver in &msg.receivers {
                let detail = format!("the message chain passed the hop limit of {MAX_HOPS}");
                self.dead_letter(Reason::HopLimit, receiver, detail, msg.clone());
            }
            return Ok(());
        }
        let admitted = match host {
            Some(_) => None,
            None => self.conversations.admit(&msg).map_err(|v| self.refuse_violation(&msg, v))?,
        };
        let slots =
            self.reserve_with(&msg, &msg.receivers, true, &mut |_, _| None).and_then(|slots| self.forward(&msg, slots));
        let slots = match slots {
            Ok(slots) => slots,
            Err(e) => {
                if let Some((reason, receiver)) = e.dead_letter_reason() {
                    self.refused(reason, receiver, e.to_string(), msg);
                }
                return Err(e);
            }
        };
        self.deadlines.answered(&msg);
        self.watch_reply_by(&msg);
        match host {
            Some(ending) => self.conversations.record_host_ending(&msg, ending),
            None => self.conversations.record(&msg, &msg.receivers, (Outcome::Delivered, None), admitted),
        }
        self.events.message(&msg, &msg.receivers, (Outcome::Delivered, None));
        self.commit(msg, slots);
        Ok(())
    }

    /// Record in its conversation that `msg`, sent by `sender`, was refused
    /// before it reached the bus (`reason`: e.g. `access-denied`, `rate-limited`).
    pub fn record_refused(&self, sender: &str, msg: &Message, reason: &'static str) {
        self.events.publish(|| {
            let mut message = msg.clone();
            message.sender = sender.to_string();
            let receivers = message.receivers.clone();
            crate::events::Kind::Message {
                outcome: Outcome::Refused,
                reason: Some(reason),
                detail: None,
                receivers,
                traceparent: message.trace.map(|t| t.traceparent()),
                message,
            }
        });
        if msg.conversation_id.as_deref().is_none_or(blank) {
            return; // a conversation the host would have started: nothing to add to
        }
        let mut stamped = msg.header();
        stamped.sender = sender.to_string();
        self.conversations.record(&stamped, &stamped.receivers, (Outcome::Refused, Some(reason)), None);
    }

    /// A message that breaks its conversation's protocol: refused as [`Bus::refused`] says.
    fn refuse_violation(&self, msg: &Message, violation: Violation) -> BusError {
        let receiver = msg.receivers.first().cloned().unwrap_or_default();
        self.refused(Reason::ProtocolViolation, &receiver, violation.detail.clone(), msg.clone());
        BusError::ProtocolViolation(Box::new(violation))
    }

    /// `msg` was refused at send (for `receiver`, with `reason`): recorded as
    /// refused in its conversation, and kept as a dead letter.
    fn refused(&self, reason: Reason, receiver: &str, detail: String, msg: Message) {
        self.conversations.record(&msg, &msg.receivers, (Outcome::Refused, Some(reason.as_str())), None);
        self.events.undelivered(&msg, receiver, Outcome::Refused, reason.as_str(), &detail);
        self.dead_letters.push(reason, receiver, detail, msg);
    }

    /// The event stream and the agents' log rings (see [`crate::events`]).
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// The conversation records (see [`conversations`]).
    pub fn conversations(&self) -> &conversations::Conversations {
        &self.conversations
    }

    /// Whether sending `msg` would hand any of its receivers to another host
    /// (and so may block for that host's answer).
    pub fn crosses_hosts(&self, msg: &Message) -> bool {
        self.remote.get().is_some()
            && msg.receivers.iter().any(|r| !self.is_agent(r) && self.elsewhere(r, msg).is_some())
    }

    /// Deliver `msg`, which another host of the cluster sent (its sender
    /// stamped and vouched for by that host), to `receivers` on this host, or
    /// to none of them. Nothing is passed on to a third host.
    /// A receiver's slot comes from `held` when it has one reserved in that
    /// receiver's current mailbox (reserved through [`Bus::mailbox_of`]), else from the mailbox.
    pub fn deliver_from_host(
        self: &Arc<Self>,
        msg: Message,
        receivers: &[String],
        held: &mut dyn FnMut(&str, &Mailbox) -> Option<mailbox::Permit>,
    ) -> Result<(), (BusError, Box<Message>)> {
        if receivers.is_empty() {
            return Err((BusError::NoReceivers, Box::new(msg)));
        }
        let slots = match self.reserve_with(&msg, receivers, false, held) {
            Ok(slots) => slots,
            Err(e) => return Err((e, Box::new(msg))),
        };
        self.deadlines.answered(&msg);
        // the sending host held the message to its protocol; here it only moves the record on
        let admitted = self.conversations.admit_from_host(&msg).unwrap_or_else(|v| {
            tracing::debug!("a message from another host does not fit this host's record: {v}");
            None
        });
        self.conversations.record(&msg, receivers, (Outcome::Delivered, None), admitted);
        self.events.message(&msg, receivers, (Outcome::Delivered, None));
        self.commit(msg, slots);
        Ok(())
    }

    /// `msg` could not be delivered here after its sender's host let it go
    /// (`error` says why): dead-letter it, and answer its sender with a
    /// `failure` in the receiver's name, as for a message its agent never handled.
    pub fn undeliverable(self: &Arc<Self>, msg: Message, receiver: &str, error: &BusError) {
        let reason = error.dead_letter_reason().map_or(Reason::NoSuchAgent, |(reason, _)| reason);
        let content = serde_json::json!({ "error": error.to_string(), "reason": reason.as_str() });
        let failure = msg.host_reply(Performative::Failure, content.to_string());
        self.dead_letter(reason, receiver, error.to_string(), msg);
        if let Err(e) = self.send_host_reply(receiver, failure, HostEnding::Failed) {
            tracing::debug!("the failure for an undeliverable message is undeliverable too: {e}");
        }
    }

    /// The mailbox of `agent`, an agent of this host (for reserving slots in it).
    pub fn mailbox_of(&self, agent: &str) -> Option<Mailbox> {
        self.agents.read().unwrap_or_else(|p| p.into_inner()).get(agent).cloned()
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
        self.deliver_each(sender, msg, self.subscribers(topic))
    }
}

/// Whether a conversation id or protocol name says nothing (empty, or only white space).
fn blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Each receiver once, in the order first named: a message to `[a, a]` reaches `a` once.
fn dedup_receivers(receivers: &mut Vec<String>) {
    let repeated = |rs: &[String]| rs.iter().enumerate().any(|(i, r)| rs.iter().skip(i + 1).any(|o| o == r));
    if receivers.len() > 1 && (receivers.len() > 64 || repeated(receivers)) {
        let mut seen = std::collections::HashSet::with_capacity(receivers.len());
        receivers.retain(|r| seen.insert(r.clone()));
    }
}

#[cfg(test)]
mod tests;
