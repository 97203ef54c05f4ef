//! Conversation records: for each conversation the bus has seen that follows
//! an interaction protocol (its first message named one; later messages of it
//! are kept with or without), who started it, who took part, its protocol, and
//! its messages in order with what became of each (delivered, refused at send
//! with the reason, or dead-lettered later with the reason).
//! `GET /v1/conversations` shows them. Messages outside such a conversation
//! cost one lookup and are not kept.
//!
//! Bounded, so a flood of conversations cannot grow the host's memory: a
//! conversation keeps its first [`Caps::messages`] messages and counts the
//! ones beyond (`dropped`), and at most [`Caps::conversations`] are kept;
//! beyond that the conversation that started first is forgotten first. Records are split over [`SHARDS`] locks by conversation id, so
//! senders on different threads rarely wait for each other.

use crate::acl::{Message, Performative};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Locks the records are split over.
pub const SHARDS: usize = 16;

/// How much the records keep.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Conversations kept in all.
    pub conversations: usize,
    /// Messages kept per conversation.
    pub messages: usize,
}

impl Default for Caps {
    /// 10,000 conversations of up to 256 messages each.
    fn default() -> Self {
        Caps { conversations: 10_000, messages: 256 }
    }
}

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

/// One message of a conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its communicative act.
    pub performative: Performative,
    /// Its (stamped) sender.
    pub sender: String,
    /// Its receivers (for a dead letter, the receiver it did not reach).
    pub receivers: Vec<String>,
    /// When the host saw it, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What became of it.
    pub outcome: Outcome,
    /// Why it was refused or dead-lettered (a dead-letter reason, e.g. `mailbox-full`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// One conversation.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// Its `conversation-id`.
    pub id: String,
    /// The interaction protocol its first message named, if any.
    pub protocol: Option<String>,
    /// The sender of its first message.
    pub initiator: String,
    /// Everyone else who sent or received one of its messages, sorted.
    pub participants: Vec<String>,
    /// `open` (protocol states come with protocol enforcement).
    pub state: &'static str,
    /// When its first and its last message were seen, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// See `started_ms`.
    pub updated_ms: u64,
    /// Messages seen, kept or not.
    pub message_count: u64,
    /// Messages seen beyond [`Caps::messages`], not kept.
    pub dropped: u64,
    /// The kept messages, in the order the host saw them (empty in listings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Entry>,
}

impl Conversation {
    /// Take `msg` into the record: its parties, and the message while fewer than `cap` are kept.
    fn add(
        &mut self,
        msg: &Message,
        receivers: &[String],
        at_ms: u64,
        outcome: (Outcome, Option<&'static str>),
        cap: usize,
    ) {
        for party in std::iter::once(&msg.sender).chain(receivers) {
            if *party != self.initiator {
                if let Err(at) = self.participants.binary_search(party) {
                    self.participants.insert(at, party.clone());
                }
            }
        }
        self.updated_ms = at_ms;
        self.message_count += 1;
        if self.messages.len() < cap {
            let (outcome, reason) = outcome;
            let (sender, receivers) = (msg.sender.clone(), receivers.to_vec());
            self.messages.push(Entry { performative: msg.performative, sender, receivers, at_ms, outcome, reason });
        } else {
            self.dropped += 1;
        }
    }

    fn involves(&self, agent: &str) -> bool {
        self.initiator == agent || self.participants.iter().any(|p| p == agent)
    }
}

/// Which conversations a listing shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only those `agent` started or took part in.
    pub agent: Option<String>,
    /// Only those of this protocol.
    pub protocol: Option<String>,
    /// Only those in this state.
    pub state: Option<String>,
}

#[derive(Default)]
struct Shard {
    by_id: HashMap<String, Conversation>,
    /// Ids in the order their conversations started, oldest first.
    by_age: VecDeque<String>,
}

/// The conversation records of one bus.
pub struct Conversations {
    shards: [Mutex<Shard>; SHARDS],
    caps: Caps,
}

impl Default for Conversations {
    fn default() -> Self {
        Conversations::with_caps(Caps::default())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Conversations {
    /// Records that keep at most what `caps` says.
    pub fn with_caps(caps: Caps) -> Conversations {
        Conversations { shards: std::array::from_fn(|_| Mutex::new(Shard::default())), caps }
    }

    fn shard(&self, id: &str) -> std::sync::MutexGuard<'_, Shard> {
        // FNV-1a: spreads ids over the shards; nothing depends on which shard an id lands in
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        #[allow(clippy::indexing_slicing)] // the index is below SHARDS, the length of `shards`
        let shard = &self.shards[(hash % SHARDS as u64) as usize];
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record `msg` (sent to `receivers`) with its `outcome`: in its conversation when that is
    /// kept, else in a new one when `msg` names a protocol; nothing without a conversation id.
    pub fn record(&self, msg: &Message, receivers: &[String], outcome: Outcome, reason: Option<&'static str>) {
        let Some(id) = msg.conversation_id.as_deref() else { return };
        let at_ms = now_ms();
        let mut shard = self.shard(id);
        // the common case, a conversation already kept, allocates only for the kept entry
        if let Some(conversation) = shard.by_id.get_mut(id) {
            conversation.add(msg, receivers, at_ms, (outcome, reason), self.caps.messages);
            return;
        }
        if msg.protocol.is_none() {
            // only a message that names an interaction protocol starts a record
            return;
        }
        let mut conversation = Conversation {
            id: id.to_string(),
            protocol: msg.protocol.clone(),
            initiator: msg.sender.clone(),
            participants: Vec::new(),
            state: "open",
            started_ms: at_ms,
            updated_ms: at_ms,
            message_count: 0,
            dropped: 0,
            messages: Vec::new(),
        };
        conversation.add(msg, receivers, at_ms, (outcome, reason), self.caps.messages);
        shard.by_id.insert(id.to_string(), conversation);
        shard.by_age.push_back(id.to_string());
        let per_shard = self.caps.conversations.div_ceil(SHARDS).max(1);
        while shard.by_id.len() > per_shard {
            let Some(oldest) = shard.by_age.pop_front() else { break };
            shard.by_id.remove(&oldest);
        }
    }

    /// The conversation `id` with its messages.
    pub fn get(&self, id: &str) -> Option<Conversation> {
        self.shard(id).by_id.get(id).cloned()
    }

    /// The conversations `filter` lets through, without their messages, the
    /// most recently updated first; at most `limit`.
    pub fn list(&self, filter: &Filter, limit: usize) -> Vec<Conversation> {
        let mut found: Vec<Conversation> = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let matching = shard.by_id.values().filter(|c| {
                filter.agent.as_deref().is_none_or(|a| c.involves(a))
                    && filter.protocol.as_deref().is_none_or(|p| c.protocol.as_deref() == Some(p))
                    && filter.state.as_deref().is_none_or(|s| c.state == s)
            });
            found.extend(matching.map(|c| Conversation { messages: Vec::new(), ..c.clone() }));
        }
        found.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.id.cmp(&b.id)));
        found.truncate(limit);
        found
    }

    /// How many conversations are kept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).by_id.len()).sum()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(conversation: &str, act: Performative, from: &str, to: &str) -> Message {
        let mut m = Message::new(act, vec![to.into()], String::new());
        m.sender = from.into();
        m.conversation_id = Some(conversation.into());
        m.protocol = Some("fipa-request".into());
        m
    }

    #[test]
    fn a_conversation_keeps_its_messages_in_order_with_their_outcomes() {
        let records = Conversations::default();
        let request = msg("c1", Performative::Request, "buyer", "seller");
        records.record(&request, &request.receivers, Outcome::Delivered, None);
        let agree = msg("c1", Performative::Agree, "seller", "buyer");
        records.record(&agree, &agree.receivers, Outcome::Refused, Some("mailbox-full"));
        let c = records.get("c1").unwrap();
        assert_eq!((c.initiator.as_str(), c.participants.clone()), ("buyer", vec!["seller".to_string()]));
        assert_eq!(c.protocol.as_deref(), Some("fipa-request"));
        let acts: Vec<_> = c.messages.iter().map(|e| (e.performative, e.outcome, e.reason)).collect();
        assert_eq!(
            acts,
            [
                (Performative::Request, Outcome::Delivered, None),
                (Performative::Agree, Outcome::Refused, Some("mailbox-full"))
            ]
        );
        // a message without a protocol joins a kept conversation, and starts none
        let mut inform = msg("c1", Performative::Inform, "seller", "buyer");
        inform.protocol = None;
        records.record(&inform, &inform.receivers, Outcome::Delivered, None);
        inform.conversation_id = Some("c2".into());
        records.record(&inform, &inform.receivers, Outcome::Delivered, None);
        assert!(records.get("c2").is_none());
        let listed = records.list(&Filter { agent: Some("seller".into()), ..Filter::default() }, 10);
        assert_eq!((listed.len(), listed[0].messages.len(), listed[0].message_count), (1, 0, 3));
        assert!(records.list(&Filter { protocol: Some("fipa-query".into()), ..Filter::default() }, 10).is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_conversations_and_messages() {
        let caps = Caps { conversations: 64, messages: 8 };
        let records = Conversations::with_caps(caps);
        for i in 0..100_000 {
            let m = msg(&format!("c{i}"), Performative::Inform, "a", "b");
            records.record(&m, &m.receivers, Outcome::Delivered, None);
        }
        assert!(records.len() <= caps.conversations + SHARDS, "{} kept", records.len());
        assert!(records.get("c99999").is_some(), "the newest is kept");
        assert!(records.get("c0").is_none(), "the oldest went first");
        for _ in 0..100 {
            let m = msg("long", Performative::Inform, "a", "b");
            records.record(&m, &m.receivers, Outcome::Delivered, None);
        }
        let long = records.get("long").unwrap();
        assert_eq!((long.messages.len(), long.message_count, long.dropped), (8, 100, 92));
    }
}
