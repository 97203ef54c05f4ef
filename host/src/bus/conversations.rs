//! Conversation records: for each conversation the bus has seen that follows
//! an interaction protocol (its first message named one; later messages of it
//! are kept with or without), who started it, who took part, its protocol, and
//! its messages in order with what became of each (delivered, refused at send
//! with the reason, or dead-lettered later with the reason).
//! `GET /v1/conversations` shows them. Messages outside such a conversation
//! cost one lookup and are not kept.
//!
//! A conversation that follows one of the FIPA protocols the host enforces
//! also holds its [`Machine`]: [`Conversations::admit`] checks a message
//! against it before the bus delivers it, and [`Conversations::record`]
//! makes the admitted changes once it was delivered (a message refused later,
//! e.g. for a full mailbox, changes nothing). A message without a `protocol`
//! is checked only when its sender is a party to such a conversation; from
//! anyone else it is recorded as it always was.
//!
//! Bounded, so a flood of conversations cannot grow the host's memory: a
//! conversation keeps its first [`Caps::messages`] messages and counts the
//! ones beyond (`dropped`), and at most [`Caps::conversations`] are kept;
//! beyond that ended conversations are forgotten first, in the order they
//! ended, then the open one that started first. A forgotten conversation's
//! later messages find no conversation: one naming a protocol is refused
//! unless it opens a new one. Records are split over [`SHARDS`] locks by
//! conversation id, so senders on different threads rarely wait for each other.

use crate::acl::{Message, Performative};
use crate::protocol::{Exchange, HostEnding, Machine, Plan, Protocol, Violation};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// `open`, or for a conversation of an enforced protocol how it ended:
    /// `done`, `failed` or `expired` (see [`crate::protocol`]).
    pub state: &'static str,
    /// For an enforced protocol, each participant's exchange: its step and reply-by (empty in listings).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exchanges: BTreeMap<String, Exchange>,
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
    /// The protocol's state machine, once an opening act of an enforced protocol was delivered.
    #[serde(skip)]
    machine: Option<Machine>,
}

/// What [`Conversations::admit`] let through: the changes to make once the message is delivered.
#[derive(Debug)]
pub struct Admission {
    /// Set when the message opens the conversation's machine.
    opens: Option<Protocol>,
    plan: Plan,
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

    /// Make the changes `admitted` holds; returns whether that ended the conversation.
    fn advance(&mut self, msg: &Message, admitted: Admission, now_ms: u64) -> bool {
        match (&mut self.machine, admitted.opens) {
            (Some(machine), None) => machine.apply(admitted.plan),
            (_, Some(protocol)) => {
                let machine = Machine::opened(protocol, &self.id, &msg.sender, admitted.plan);
                // the party that opened the protocol is its initiator, whoever spoke first
                let first = std::mem::replace(&mut self.initiator, msg.sender.clone());
                self.participants.retain(|p| *p != msg.sender);
                if first != msg.sender {
                    if let Err(at) = self.participants.binary_search(&first) {
                        self.participants.insert(at, first);
                    }
                }
                self.protocol = Some(protocol.name().to_string());
                self.machine = Some(machine);
            }
            (None, None) => return false,
        }
        self.state_at(now_ms) != "open"
    }

    fn state_at(&self, now_ms: u64) -> &'static str {
        self.machine.as_ref().map_or("open", |m| m.state(now_ms))
    }

    /// A copy as the API shows it at `now_ms`: its state, and with `detail` its exchanges and messages.
    fn view(&self, now_ms: u64, detail: bool) -> Conversation {
        let exchanges = match &self.machine {
            Some(machine) if detail => machine
                .exchanges()
                .iter()
                .map(|(p, e)| (p.clone(), Exchange { step: e.step_at(now_ms), ..*e }))
                .collect(),
            _ => BTreeMap::new(),
        };
        let messages = if detail { self.messages.clone() } else { Vec::new() };
        Conversation {
            state: self.state_at(now_ms),
            exchanges,
            messages,
            machine: None,
            participants: self.participants.clone(),
            id: self.id.clone(),
            protocol: self.protocol.clone(),
            initiator: self.initiator.clone(),
            ..*self
        }
    }

    /// Check `msg` against the machine (or the one it would open).
    fn admit(&self, msg: &Message, now_ms: u64) -> Result<Option<Admission>, Violation> {
        match &self.machine {
            // without a protocol, only a party's messages are held to the conversation's
            Some(machine) if msg.protocol.is_some() || machine.is_party(&msg.sender) => {
                machine.plan(msg, now_ms).map(|plan| Some(Admission { opens: None, plan }))
            }
            Some(_) => Ok(None),
            None => open(msg, &self.id, now_ms),
        }
    }
}

/// The machine `msg` would open in conversation `id` when it names an enforced protocol.
fn open(msg: &Message, id: &str, now_ms: u64) -> Result<Option<Admission>, Violation> {
    let Some(protocol) = msg.protocol.as_deref().and_then(Protocol::from_name) else { return Ok(None) };
    let plan = Machine::open(protocol, id, msg, now_ms)?;
    Ok(Some(Admission { opens: Some(protocol), plan }))
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
    /// Ids in the order their conversations started, oldest first (and ids already forgotten).
    by_age: VecDeque<String>,
    /// Ids of ended conversations in the order they ended (and ids already forgotten).
    ended: VecDeque<String>,
}

impl Shard {
    /// Forget conversations until at most `cap` are kept: ended ones first, then the oldest.
    fn evict(&mut self, cap: usize) {
        while self.by_id.len() > cap {
            let Some(id) = self.ended.pop_front().or_else(|| self.by_age.pop_front()) else { break };
            self.by_id.remove(&id);
        }
        // ids forgotten through `ended` stay in `by_age` until it is compacted
        let by_id = &self.by_id;
        for ids in [&mut self.by_age, &mut self.ended] {
            if ids.len() > 2 * cap + 16 {
                ids.retain(|id| by_id.contains_key(id));
            }
        }
    }
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

    /// Check `msg` (its sender stamped, its conversation id set) against the
    /// protocol of its conversation, or the one it opens. `Ok(None)`: nothing
    /// to check; `Ok(Some)`: pass it to [`Conversations::record`] once delivered.
    pub fn admit(&self, msg: &Message) -> Result<Option<Admission>, Violation> {
        let Some(id) = msg.conversation_id.as_deref() else { return Ok(None) };
        let now_ms = now_ms();
        match self.shard(id).by_id.get(id) {
            Some(conversation) => conversation.admit(msg, now_ms),
            None => open(msg, id, now_ms),
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
        let Some(id) = msg.conversation_id.as_deref() else { return };
        let at_ms = now_ms();
        let mut shard = self.shard(id);
        // the common case, a conversation already kept, allocates only for the kept entry
        let conversation = match shard.by_id.get_mut(id) {
            Some(conversation) => conversation,
            // only a message that names an interaction protocol starts a record
            None if msg.protocol.is_none() => return,
            None => {
                let conversation = Conversation {
                    id: id.to_string(),
                    protocol: msg.protocol.clone(),
                    initiator: msg.sender.clone(),
                    participants: Vec::new(),
                    state: "open",
                    exchanges: BTreeMap::new(),
                    started_ms: at_ms,
                    updated_ms: at_ms,
                    message_count: 0,
                    dropped: 0,
                    messages: Vec::new(),
                    machine: None,
                };
                shard.by_age.push_back(id.to_string());
                shard.by_id.entry(id.to_string()).or_insert(conversation)
            }
        };
        conversation.add(msg, receivers, at_ms, outcome, self.caps.messages);
        let ended = admitted.is_some_and(|admitted| conversation.advance(msg, admitted, at_ms));
        if ended {
            shard.ended.push_back(id.to_string());
        }
        let per_shard = self.caps.conversations.div_ceil(SHARDS).max(1);
        shard.evict(per_shard);
    }

    /// The host answered `msg` for a party that cannot (see [`HostEnding`]):
    /// record it, and end that party's exchange.
    pub fn record_host_ending(&self, msg: &Message, ending: HostEnding) {
        self.record(msg, &msg.receivers, (Outcome::Delivered, None), None);
        let Some(id) = msg.conversation_id.as_deref() else { return };
        if let Some(machine) = self.shard(id).by_id.get_mut(id).and_then(|c| c.machine.as_mut()) {
            for receiver in &msg.receivers {
                machine.host_ending(&msg.sender, receiver, ending);
            }
        }
    }

    /// The conversation `id` with its exchanges and messages.
    pub fn get(&self, id: &str) -> Option<Conversation> {
        self.shard(id).by_id.get(id).map(|c| c.view(now_ms(), true))
    }

    /// The conversations `filter` lets through, without their messages, the
    /// most recently updated first; at most `limit`.
    pub fn list(&self, filter: &Filter, limit: usize) -> Vec<Conversation> {
        let now_ms = now_ms();
        let mut found: Vec<Conversation> = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let matching = shard.by_id.values().filter(|c| {
                filter.agent.as_deref().is_none_or(|a| c.involves(a))
                    && filter.protocol.as_deref().is_none_or(|p| c.protocol.as_deref() == Some(p))
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
        records.record(&request, &request.receivers, (Outcome::Delivered, None), None);
        let agree = msg("c1", Performative::Agree, "seller", "buyer");
        records.record(&agree, &agree.receivers, (Outcome::Refused, Some("mailbox-full")), None);
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
        records.record(&inform, &inform.receivers, (Outcome::Delivered, None), None);
        inform.conversation_id = Some("c2".into());
        records.record(&inform, &inform.receivers, (Outcome::Delivered, None), None);
        assert!(records.get("c2").is_none());
        let listed = records.list(&Filter { agent: Some("seller".into()), ..Filter::default() }, 10);
        assert_eq!((listed.len(), listed[0].messages.len(), listed[0].message_count), (1, 0, 3));
        assert!(records.list(&Filter { protocol: Some("fipa-query".into()), ..Filter::default() }, 10).is_empty());
    }

    /// Admit `m` and record it delivered, as the bus does.
    fn deliver(records: &Conversations, m: &Message) -> Result<(), Violation> {
        let admitted = records.admit(m)?;
        records.record(m, &m.receivers, (Outcome::Delivered, None), admitted);
        Ok(())
    }

    #[test]
    fn a_protocol_moves_on_only_with_delivered_messages_and_shows_its_state() {
        let records = Conversations::default();
        let request = msg("c1", Performative::Request, "buyer", "seller");
        deliver(&records, &request).unwrap();
        let inform = msg("c1", Performative::Inform, "seller", "buyer");
        // admitted, then refused by a full mailbox: the exchange did not move
        let admitted = records.admit(&inform).unwrap();
        assert!(admitted.is_some());
        records.record(&inform, &inform.receivers, (Outcome::Refused, Some("mailbox-full")), None);
        assert_eq!(records.get("c1").unwrap().state, "open");
        // a protocol-less message from a party is held to the protocol; from anyone else it is not
        let mut stray = msg("c1", Performative::Propose, "seller", "buyer");
        stray.protocol = None;
        assert!(records.admit(&stray).is_err());
        stray.sender = "bystander".into();
        assert!(records.admit(&stray).unwrap().is_none());
        deliver(&records, &inform).unwrap();
        let c = records.get("c1").unwrap();
        assert_eq!((c.state, c.exchanges["seller"].step), ("done", crate::protocol::Step::Done));
        let done = Filter { state: Some("done".into()), ..Filter::default() };
        assert_eq!(records.list(&done, 10).len(), 1);
    }

    #[test]
    fn ended_conversations_are_forgotten_before_open_ones() {
        let records = Conversations::with_caps(Caps { conversations: 2 * SHARDS, messages: 8 });
        // two kept per shard: the open one, and each new one while it runs
        deliver(&records, &msg("open", Performative::Request, "a", "b")).unwrap();
        for i in 0..1_000 {
            let id = format!("c{i}");
            deliver(&records, &msg(&id, Performative::Request, "a", "b")).unwrap();
            deliver(&records, &msg(&id, Performative::Inform, "b", "a")).unwrap();
        }
        assert_eq!(records.get("open").map(|c| c.state), Some("open"), "the open one outlived 1,000 ended ones");
        assert!(records.len() <= 2 * SHARDS, "{} kept", records.len());
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_conversations_and_messages() {
        let caps = Caps { conversations: 64, messages: 8 };
        let records = Conversations::with_caps(caps);
        for i in 0..100_000 {
            let m = msg(&format!("c{i}"), Performative::Inform, "a", "b");
            records.record(&m, &m.receivers, (Outcome::Delivered, None), None);
        }
        assert!(records.len() <= caps.conversations + SHARDS, "{} kept", records.len());
        assert!(records.get("c99999").is_some(), "the newest is kept");
        assert!(records.get("c0").is_none(), "the oldest went first");
        for _ in 0..100 {
            let m = msg("long", Performative::Inform, "a", "b");
            records.record(&m, &m.receivers, (Outcome::Delivered, None), None);
        }
        let long = records.get("long").unwrap();
        assert_eq!((long.messages.len(), long.message_count, long.dropped), (8, 100, 92));
    }
}
