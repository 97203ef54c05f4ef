//! Conversation records: for each conversation the bus has seen that follows
//! an interaction protocol (its first delivered message named one; later
//! messages of it are kept with or without), who started it, who took part,
//! its protocol, and its messages in order with what became of each
//! (delivered, refused at send with the reason, or dead-lettered later with
//! the reason, which changes the entry of the delivered message).
//! `GET /v1/conversations` shows them. Messages outside such a conversation
//! cost one lookup (none on a host that never kept one) and are not kept; a
//! refused message starts no record.
//!
//! A conversation that follows one of the FIPA protocols the host enforces
//! also holds its [`crate::protocol::Machine`]: [`Conversations::admit`] checks
//! a message against it before the bus delivers it, and [`Conversations::record`]
//! makes the admitted changes once it was delivered (a message refused later,
//! e.g. for a full mailbox, changes nothing). A message without a `protocol`
//! is checked only when its sender and receivers are all parties to such a
//! conversation; any other is recorded as it always was.
//!
//! Bounded, so a flood of conversations cannot grow the host's memory: a
//! conversation keeps its first [`Caps::messages`] messages (refusals at most
//! a quarter of them) and counts the ones beyond (`dropped`), and at most
//! [`Caps::conversations`] are kept, split over [`SHARDS`] shards by id (one
//! lock each, so senders on different threads rarely wait for each other);
//! beyond a shard's share its ended conversations are forgotten first, in the
//! order they ended, then its open one that started first. A forgotten
//! conversation's later messages find no conversation: one naming a protocol
//! is refused unless it opens a new one. A new record takes the slot of the
//! one it replaces (see [`shard`]): a host at its cap opens a conversation
//! between agents with short names without allocating or freeing memory.

mod record;
mod shard;

use crate::acl::{now_ms, Message};
use crate::protocol::{HostEnding, Violation};
use foldhash::fast::RandomState;
use shard::Shard;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
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

use record::{open, Admission, Record};
pub use record::{Conversation, Entry, Outcome};

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

/// The conversation records of one bus.
pub struct Conversations {
    shards: [Mutex<Shard>; SHARDS],
    /// Hashes conversation ids, which senders choose, with a seed: an id cannot
    /// be picked to collide with others (foldhash: fast, and seeded per host).
    hasher: RandomState,
    caps: Caps,
    /// Whether any conversation was ever kept: until one is, a message that
    /// names no protocol cannot be in one, and costs no lookup.
    opened_any: AtomicBool,
}

impl Default for Conversations {
    fn default() -> Self {
        Conversations::with_caps(Caps::default())
    }
}

impl Conversations {
    /// Records that keep at most what `caps` says.
    pub fn with_caps(caps: Caps) -> Conversations {
        let shards = std::array::from_fn(|_| Mutex::new(Shard::default()));
        Conversations { shards, hasher: RandomState::default(), caps, opened_any: AtomicBool::new(false) }
    }

    /// The conversation id of `msg` when its conversation may be kept or opened by it.
    fn may_be_kept<'m>(&self, msg: &'m Message) -> Option<&'m str> {
        let id = msg.conversation_id.as_deref()?;
        (msg.protocol.is_some() || self.opened_any.load(Ordering::Relaxed)).then_some(id)
    }

    /// Conversation `id`'s hash, and its shard, locked: one hash serves both
    /// (the shard is chosen by bits the shard's index does not use).
    fn shard(&self, id: &str) -> (u64, std::sync::MutexGuard<'_, Shard>) {
        let hash = self.hasher.hash_one(id);
        #[allow(clippy::indexing_slicing)] // the index is below SHARDS, the length of `shards`
        let shard = &self.shards[((hash >> 32) % SHARDS as u64) as usize];
        (hash, shard.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Check `msg` (its sender stamped, its conversation id set) against the
    /// protocol of its conversation, or the one it opens. `Ok(None)`: nothing
    /// to check; `Ok(Some)`: pass it to [`Conversations::record`] once delivered.
    pub fn admit(&self, msg: &Message) -> Result<Option<Admission>, Violation> {
        self.admit_at(msg, now_ms())
    }

    /// [`Conversations::admit`] for a message another host sent: that host held
    /// it to the protocol, reply-by deadlines included, by its clock when it
    /// let it go; here the steps are checked as of before any deadline, so a
    /// message that crossed one in transit still moves this host's record on
    /// as its receiver sees it (else the record and the receiver would part:
    /// a bidder whose propose arrived late here could not be answered).
    pub fn admit_from_host(&self, msg: &Message) -> Result<Option<Admission>, Violation> {
        self.admit_at(msg, 0)
    }

    fn admit_at(&self, msg: &Message, now_ms: u64) -> Result<Option<Admission>, Violation> {
        let Some(id) = self.may_be_kept(msg) else { return Ok(None) };
        let (hash, shard) = self.shard(id);
        match shard.get(hash, id) {
            Some(conversation) => conversation.admit(msg, now_ms),
            None => open(msg, now_ms),
        }
    }

    /// Record `msg` (sent to `receivers`) with its `outcome`: in its conversation when that is
    /// kept, else in a new one when `msg` names a protocol; nothing without a conversation id.
    /// `admitted` (from [`Conversations::admit`], for a delivered message) moves the protocol on.
    pub fn record(
        &self,
        msg: &Message,
        receivers: &[String],
        outcome: (Outcome, Option<&'static str>),
        admitted: Option<Admission>,
    ) {
        let Some(id) = self.may_be_kept(msg) else { return };
        let at_ms = now_ms();
        let (hash, mut shard) = self.shard(id);
        let (kind, reason) = outcome;
        let per_shard = self.caps.conversations.div_ceil(SHARDS).max(1);
        let slot = match shard.find(hash, id) {
            Some(slot) => slot,
            // only a delivered message that names an interaction protocol starts a record
            // (a refused one is a dead letter, and nobody can fill the records with refusals)
            None if msg.protocol.is_none() || kind != Outcome::Delivered => return,
            None => {
                self.opened_any.store(true, Ordering::Relaxed);
                shard.insert(hash, Record::new(id, msg, at_ms), per_shard, at_ms)
            }
        };
        let Some(conversation) = shard.at(slot) else { return };
        if let (Outcome::DeadLettered, [receiver], Some(reason)) = (kind, receivers, reason) {
            // a message delivered earlier, then dead-lettered: its entry says so
            if conversation.settle(msg, receiver, reason) {
                return;
            }
        }
        conversation.add(msg, receivers, at_ms, outcome, self.caps.messages);
        let ended = admitted.is_some_and(|admitted| conversation.advance(msg, admitted, at_ms));
        if ended {
            shard.ended(slot);
        }
    }

    /// The host answered `msg` for a party that cannot (see [`HostEnding`]):
    /// record it, and end that party's exchange.
    pub fn record_host_ending(&self, msg: &Message, ending: HostEnding) {
        self.record(msg, &msg.receivers, (Outcome::Delivered, None), None);
        let Some(id) = msg.conversation_id.as_deref() else { return };
        let (hash, mut shard) = self.shard(id);
        if let Some(conversation) = shard.get_mut(hash, id) {
            conversation.host_ending(msg, ending);
        }
    }

    /// The conversation `id` with its exchanges and messages.
    pub fn get(&self, id: &str) -> Option<Conversation> {
        let (hash, shard) = self.shard(id);
        shard.get(hash, id).map(|c| c.view(now_ms(), true))
    }

    /// The conversations `filter` lets through, without their messages, the
    /// most recently updated first; at most `limit`.
    pub fn list(&self, filter: &Filter, limit: usize) -> Vec<Conversation> {
        let now_ms = now_ms();
        let mut found: Vec<Conversation> = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let matching = shard.records().filter(|c| {
                filter.agent.as_deref().is_none_or(|a| c.involves(a))
                    && filter.protocol.as_deref().is_none_or(|p| c.follows(p))
                    && filter.state.as_deref().is_none_or(|s| c.state_at(now_ms) == s)
            });
            found.extend(matching.map(|c| c.view(now_ms, false)));
        }
        found.sort_by(|a, b| b.updated_ms.cmp(&a.updated_ms).then_with(|| a.id.cmp(&b.id)));
        found.truncate(limit);
        found
    }

    /// How many conversations are kept.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len()).sum()
    }

    /// The most slots and order-list entries a shard holds (what its memory grows with).
    #[cfg(test)]
    fn footprint(&self) -> (usize, usize) {
        let shards = self.shards.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).footprint());
        shards.fold((0, 0), |(slots, tickets), (s, t)| (slots.max(s), tickets.max(t)))
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
