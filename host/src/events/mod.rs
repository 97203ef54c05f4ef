//! What operators watch: the event stream (`GET /v1/events`, `caxton watch`,
//! the dashboard's sniffer) and each agent's recent log lines ([`logs`]).
//!
//! An [`Event`] is a message's outcome (delivered, refused, dead-lettered), a
//! change in an agent's life (deployed, restarted, quarantined, removed,
//! activated, passivated), a failed call, or a log line.
//!
//! Publishing costs one relaxed atomic load while nobody watches: an event is
//! built only when a [`Watcher`] exists. Every watcher reads the same ring of
//! the last [`CAPACITY`] events (a tokio broadcast channel): one that falls
//! further behind loses the oldest and is told how many ([`Next::Missed`]),
//! and a publisher never waits for a watcher, nor wakes one (watchers look
//! at the ring every [`POLL`]). Memory is bounded by the ring,
//! however many watchers there are and however slowly they read.

pub mod logs;

use crate::acl::json::WireMessage;
use crate::acl::{now_ms, Message};
use logs::{AgentLogs, LogLine};
use serde::{Serialize, Serializer};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How many of the latest events the ring keeps for watchers.
pub const CAPACITY: usize = 1024;
/// How often a watcher with nothing to read looks at the ring again: the
/// longest an event waits before its watchers see it.
pub const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every receiver's mailbox (or waiting client, or host) took it.
    Delivered,
    /// Refused at send: nothing was delivered.
    Refused,
    /// Dead-lettered after it was sent (unhandled, unanswered, undeliverable).
    DeadLettered,
}

/// A change in an agent's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Deployed (or redeployed over its earlier version).
    Deployed,
    /// A fresh instance replaced one a failure poisoned.
    Restarted,
    /// Stopped after repeated failures; its messages are refused until it is redeployed.
    Quarantined,
    /// Removed.
    Removed,
    /// An instance of an agent type was started by its first event.
    Activated,
    /// An idle (or evicted) instance of an agent type was dropped from memory.
    Passivated,
}

/// One thing that happened on this host.
#[derive(Debug, Serialize)]
pub struct Event {
    /// Its place in this host's event sequence, from 1 (also the SSE `id`).
    pub seq: u64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: Kind,
}

/// What an [`Event`] reports; serialized with its [`KindName`] in `kind`.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // events live behind an `Arc`, at most `CAPACITY` of them
pub enum Kind {
    /// A message's outcome.
    Message {
        /// Delivered, refused or dead-lettered.
        outcome: Outcome,
        /// Why it was refused or dead-lettered (a dead-letter reason, e.g. `mailbox-full`).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
        /// A sentence saying more, for refusals and dead letters.
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The receivers this outcome is about (for a dead letter, the one it did not reach).
        receivers: Vec<String>,
        /// The whole message, sender stamped, as the API writes messages.
        #[serde(serialize_with = "wire")]
        message: Message,
        /// The W3C trace the message belongs to, when it has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        traceparent: Option<String>,
    },
    /// A change in an agent's life.
    Lifecycle {
        /// The agent.
        agent: String,
        /// What changed.
        change: Change,
        /// Why, when there is more to say (e.g. the failure that quarantined it).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// A call into an agent failed (or its message was refused for a failure it had).
    Failure {
        /// The agent.
        agent: String,
        /// The failure reason, e.g. `cpu-limit` or `trap`.
        reason: &'static str,
        /// The failure, as a sentence.
        detail: String,
    },
    /// A line an agent logged or wrote to stdout or stderr.
    Log {
        /// The line, as the agent's log ring keeps it (with its own `seq` in the log-line sequence).
        line: Arc<LogLine>,
    },
}

fn wire<S: Serializer>(message: &Message, s: S) -> Result<S::Ok, S::Error> {
    WireMessage::from(message.clone()).serialize(s)
}

/// The kinds of events, as the `kind` filter and field name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindName {
    /// [`Kind::Message`].
    Message,
    /// [`Kind::Lifecycle`].
    Lifecycle,
    /// [`Kind::Failure`].
    Failure,
    /// [`Kind::Log`].
    Log,
}

impl KindName {
    /// Every kind.
    pub const ALL: [KindName; 4] = [KindName::Message, KindName::Lifecycle, KindName::Failure, KindName::Log];

    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            KindName::Message => "message",
            KindName::Lifecycle => "lifecycle",
            KindName::Failure => "failure",
            KindName::Log => "log",
        }
    }
}

impl FromStr for KindName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KindName::ALL.into_iter().find(|k| k.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            let names: Vec<&str> = KindName::ALL.iter().map(|k| k.as_str()).collect();
            format!("`{s}` is not an event kind; use one or more of {}", names.join(", "))
        })
    }
}

impl Kind {
    /// Its kind's name.
    pub fn name(&self) -> KindName {
        match self {
            Kind::Message { .. } => KindName::Message,
            Kind::Lifecycle { .. } => KindName::Lifecycle,
            Kind::Failure { .. } => KindName::Failure,
            Kind::Log { .. } => KindName::Log,
        }
    }

    /// Whether `agent` takes part: a message's sender or one of its receivers, or the agent it is about.
    fn involves(&self, agent: &str) -> bool {
        match self {
            Kind::Message { message, receivers, .. } => {
                is(&message.sender, agent) || receivers.iter().any(|r| is(r, agent))
            }
            Kind::Lifecycle { agent: a, .. } | Kind::Failure { agent: a, .. } => is(a, agent),
            Kind::Log { line } => is(&line.agent, agent),
        }
    }
}

/// Whether `name` is `agent`, or an instance (`TYPE/KEY`) of the agent type
/// `agent` (agent and type names never clash, so this is unambiguous).
fn is(name: &str, agent: &str) -> bool {
    name.strip_prefix(agent).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Which events a watcher wants: all of the given kinds (none given: every
/// kind) that involve the agent and belong to the conversation, when those are given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only events this agent (or, for an agent type, any of its instances) takes part in.
    pub agent: Option<String>,
    /// Only messages of this conversation.
    pub conversation: Option<String>,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<KindName>,
}

impl Filter {
    /// Whether `event` passes.
    pub fn admits(&self, event: &Event) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.contains(&event.kind.name());
        let agent_ok = self.agent.as_deref().is_none_or(|a| event.kind.involves(a));
        let conversation_ok = self.conversation.as_deref().is_none_or(|c| match &event.kind {
            Kind::Message { message, .. } => message.conversation_id.as_deref() == Some(c),
            _ => false,
        });
        kind_ok && agent_ok && conversation_ok
    }
}

/// The hub events are published to and watched from, with the agents' log rings.
pub struct Events {
    sender: broadcast::Sender<Arc<Event>>,
    watchers: Arc<AtomicUsize>,
    seq: AtomicU64,
    logs: AgentLogs,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            sender: broadcast::Sender::new(CAPACITY),
            watchers: Arc::new(AtomicUsize::new(0)),
            seq: AtomicU64::new(0),
            logs: AgentLogs::default(),
        }
    }
}

impl Events {
    /// Whether anyone watches: publishers build no event otherwise.
    #[inline]
    pub fn watched(&self) -> bool {
        self.watchers.load(Ordering::Relaxed) > 0
    }

    /// Publish the event `make` builds, if anyone watches.
    #[inline]
    pub fn publish(&self, make: impl FnOnce() -> Kind) {
        if self.watched() {
            self.send(make());
        }
    }

    fn send(&self, kind: Kind) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // an error means the last watcher left meanwhile: nobody to tell
        let _ = self.sender.send(Arc::new(Event { seq, at_ms: now_ms(), kind }));
    }

    /// Publish a message's outcome for `receivers` (cloning the message only when watched).
    pub fn message(&self, message: &Message, receivers: &[String], outcome: (Outcome, Option<&'static str>)) {
        self.publish(|| Kind::Message {
            outcome: outcome.0,
            reason: outcome.1,
            detail: None,
            receivers: receivers.to_vec(),
            traceparent: message.trace.map(|t| t.traceparent()),
            message: message.clone(),
        });
    }

    /// Publish a refusal or dead letter of `message` for `receiver`, with its reason and detail.
    pub fn undelivered(&self, message: &Message, receiver: &str, outcome: Outcome, reason: &'static str, detail: &str) {
        self.publish(|| Kind::Message {
            outcome,
            reason: Some(reason),
            detail: Some(detail.to_string()),
            receivers: vec![receiver.to_string()],
            traceparent: message.trace.map(|t| t.traceparent()),
            message: message.clone(),
        });
    }

    /// Publish a change in `agent`'s life.
    pub fn lifecycle(&self, agent: &str, change: Change, detail: Option<&str>) {
        self.publish(|| Kind::Lifecycle { agent: agent.to_string(), change, detail: detail.map(str::to_string) });
    }

    /// Publish a failed call of `agent`.
    pub fn failure(&self, agent: &str, reason: &'static str, detail: &str) {
        self.publish(|| Kind::Failure { agent: agent.to_string(), reason, detail: detail.to_string() });
    }

    /// Keep a log line of an agent in its ring, and publish it if anyone watches.
    pub fn log(&self, line: logs::NewLine<'_>) {
        let line = self.logs.push(line);
        if self.watched() {
            self.send(Kind::Log { line });
        }
    }

    /// The agents' log rings.
    pub fn logs(&self) -> &AgentLogs {
        &self.logs
    }

    /// Start watching: events published from now on.
    pub fn watch(&self) -> Watcher {
        self.watchers.fetch_add(1, Ordering::Relaxed);
        Watcher { receiver: self.sender.subscribe(), watchers: self.watchers.clone() }
    }

    /// How many watchers there are now.
    pub fn watcher_count(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }
}

/// What a [`Watcher`] reads next.
#[derive(Debug)]
pub enum Next {
    /// The next event.
    Event(Arc<Event>),
    /// The watcher fell behind by more than [`CAPACITY`] events: this many were lost.
    Missed(u64),
}

/// One watcher of the event stream; it stops counting as a watcher when dropped.
pub struct Watcher {
    receiver: broadcast::Receiver<Arc<Event>>,
    watchers: Arc<AtomicUsize>,
}

impl Watcher {
    /// Wait for what comes next (the hub lives as long as the bus, so this never ends by itself).
    ///
    /// A watcher looks at the ring every [`POLL`] rather than being woken per
    /// event: a publisher then never pays for waking a watcher's thread, only
    /// for writing the event into the ring.
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What comes next, if anything is there now.
    pub fn try_next(&mut self) -> Option<Next> {
        match self.receiver.try_recv() {
            Ok(event) => Some(Next::Event(event)),
            Err(broadcast::error::TryRecvError::Lagged(missed)) => Some(Next::Missed(missed)),
            // nothing yet (or the hub is gone, and nothing more will come)
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => None,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
