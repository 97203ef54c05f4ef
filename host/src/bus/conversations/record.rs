//! One conversation's record as it is kept ([`Record`]: each party's name
//! once, messages that point at them) and as the API shows it
//! ([`Conversation`], [`Entry`]: names spelled out, state at the time asked).
//!
//! Kept small on purpose: a message of a kept conversation costs its entry
//! (act, party numbers, time, outcome), not copies of its sender's and
//! receivers' names.

use crate::acl::{Message, Performative};
use crate::protocol::{Exchange, HostEnding, Machine, Name, Plan, Protocol, Violation};
use serde::Serialize;
use smallvec::SmallVec;
use std::collections::BTreeMap;

pub use crate::events::Outcome;

/// One message of a conversation, as the API shows it.
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

/// One conversation, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    /// Its `conversation-id`.
    pub id: String,
    /// The interaction protocol its first message named, if any.
    pub protocol: Option<String>,
    /// The party that opened its protocol (else the sender of its first message).
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
    /// Messages seen beyond the per-conversation cap, not kept.
    pub dropped: u64,
    /// The kept messages, in the order the host saw them (empty in listings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Entry>,
}

/// The receivers of a kept message, as party numbers.
#[derive(Debug)]
enum To {
    One(u32),
    Many(Box<[u32]>),
}

/// A kept message.
#[derive(Debug)]
struct Kept {
    performative: Performative,
    sender: u32,
    receivers: To,
    at_ms: u64,
    outcome: Outcome,
    reason: Option<&'static str>,
}

/// What [`Record::admit`] let through: the changes to make once the message is delivered.
#[derive(Debug)]
pub struct Admission {
    /// Set when the message opens the conversation's machine.
    opens: Option<Protocol>,
    plan: Plan,
}

/// A conversation id as a record keeps it: one the host minted (`conv-` and
/// 32 lowercase hex digits, see [`crate::ids::fresh`]) as its 128 bits, so
/// keeping it allocates nothing; any other as given.
#[derive(Debug, PartialEq, Eq)]
pub enum Id {
    /// `conv-` and the 32 hex digits of these bytes, in order.
    Minted([u8; 16]),
    /// Any other id.
    Named(Name),
}

/// The value of a lowercase hex digit, and whether it is one; without
/// branches on the digit (minted digits are random: a branch would be
/// mispredicted every other digit).
fn nibble(digit: u8) -> (u8, bool) {
    let (number, letter) = (digit.wrapping_sub(b'0'), digit.wrapping_sub(b'a'));
    let is_number = number < 10;
    (if is_number { number } else { letter.wrapping_add(10) }, is_number | (letter < 6))
}

impl Id {
    const PREFIX: &str = "conv-";

    /// The bytes of an id the host minted, spelled exactly as it mints them
    /// (each byte from its own two digits: no carried dependency to wait on).
    fn minted(id: &str) -> Option<[u8; 16]> {
        let hex = id.strip_prefix(Id::PREFIX).filter(|hex| hex.len() == 32)?;
        let (mut bytes, mut valid) = ([0u8; 16], true);
        for (byte, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let &[high, low] = pair else { return None };
            let ((high, high_valid), (low, low_valid)) = (nibble(high), nibble(low));
            valid &= high_valid & low_valid;
            *byte = high << 4 | low;
        }
        valid.then_some(bytes)
    }

    /// `id` as a record keeps it.
    pub fn of(id: &str) -> Id {
        Id::minted(id).map_or_else(|| Id::Named(Name::from(id)), Id::Minted)
    }

    /// Whether this is `id`.
    pub fn is(&self, id: &str) -> bool {
        match self {
            Id::Minted(bytes) => Id::minted(id) == Some(*bytes),
            Id::Named(name) => name == id,
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Minted(bytes) => {
                f.write_str(Id::PREFIX)?;
                bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
            Id::Named(name) => f.write_str(name),
        }
    }
}

/// A protocol's name as a record keeps it.
#[derive(Debug)]
enum Named {
    Known(Protocol),
    Other(Box<str>),
}

impl Named {
    fn of(name: &str) -> Named {
        Protocol::from_name(name).map_or_else(|| Named::Other(name.into()), Named::Known)
    }

    fn as_str(&self) -> &str {
        match self {
            Named::Known(p) => p.name(),
            Named::Other(name) => name,
        }
    }
}

/// One conversation as it is kept.
#[derive(Debug)]
pub struct Record {
    pub(super) id: Id,
    /// The protocol its first message named: a known one costs no copy of its name.
    protocol: Option<Named>,
    /// Everyone named by one of its kept messages, in the order they first were,
    /// and whether they took part (sent or received a message that was delivered).
    parties: SmallVec<[(Name, bool); 2]>,
    /// Which of `parties` is the initiator.
    initiator: u32,
    started_ms: u64,
    updated_ms: u64,
    message_count: u64,
    dropped: u64,
    /// A request and its answer, the commonest conversation, are kept inline.
    messages: SmallVec<[Kept; 2]>,
    /// Kept entries of refused messages.
    refused_kept: u32,
    /// The protocol's state machine, once an opening act of an enforced protocol was delivered.
    machine: Option<Machine>,
}

impl Record {
    /// A record that `msg`, seen at `at_ms`, starts.
    pub fn new(id: &str, msg: &Message, at_ms: u64) -> Record {
        Record {
            id: Id::of(id),
            protocol: msg.protocol.as_deref().map(Named::of),
            parties: smallvec::smallvec![(Name::from(msg.sender.as_str()), false)],
            initiator: 0,
            started_ms: at_ms,
            updated_ms: at_ms,
            message_count: 0,
            dropped: 0,
            messages: SmallVec::new(),
            refused_kept: 0,
            machine: None,
        }
    }

    /// The number of party `name`, added when it is new; `took_part` marks it as taking part.
    fn party(&mut self, name: &str, took_part: bool) -> u32 {
        match self.parties.iter().position(|(p, _)| p == name) {
            Some(at) => {
                if let Some((_, part)) = self.parties.get_mut(at) {
                    *part |= took_part;
                }
                at as u32
            }
            None => {
                self.parties.push((Name::from(name), took_part));
                (self.parties.len() - 1) as u32
            }
        }
    }

    fn name(&self, party: u32) -> String {
        self.parties.get(party as usize).map(|(name, _)| name.to_string()).unwrap_or_default()
    }

    /// Whether it may be forgotten before open conversations: it ended.
    pub fn is_spent(&self, now_ms: u64) -> bool {
        self.state_at(now_ms) != "open"
    }

    /// Take `msg` (sent to `receivers`) into the record: its parties, and the
    /// message itself while fewer than `cap` are kept. A refused message
    /// names its parties in its entry but does not make them take part.
    pub fn add(
        &mut self,
        msg: &Message,
        receivers: &[String],
        at_ms: u64,
        outcome: (Outcome, Option<&'static str>),
        cap: usize,
    ) {
        let took_part = outcome.0 != Outcome::Refused;
        let sender = self.party(&msg.sender, took_part);
        let receivers = match receivers {
            [one] => To::One(self.party(one, took_part)),
            many => To::Many(many.iter().map(|r| self.party(r, took_part)).collect()),
        };
        self.message_count += 1;
        if took_part {
            self.updated_ms = at_ms;
        }
        // refusals keep at most a quarter of the entries: an outsider's flood cannot hide the parties' messages
        let refusals_full = !took_part && self.refused_kept as usize >= cap / 4;
        if self.messages.len() < cap && !refusals_full {
            self.refused_kept += u32::from(!took_part);
            let (outcome, reason) = outcome;
            self.messages.push(Kept { performative: msg.performative, sender, receivers, at_ms, outcome, reason });
        } else {
            self.dropped += 1;
        }
    }

    /// `msg`, delivered earlier, was dead-lettered for `receiver` with `reason`: mark the
    /// latest delivered entry of that act from its sender to that receiver; whether one was found.
    pub fn settle(&mut self, msg: &Message, receiver: &str, reason: &'static str) -> bool {
        let named = |name: &str| self.parties.iter().position(|(p, _)| p == name).map(|at| at as u32);
        let (Some(sender), Some(receiver)) = (named(&msg.sender), named(receiver)) else { return false };
        let delivered_to = |k: &Kept| match &k.receivers {
            To::One(r) => *r == receiver,
            To::Many(rs) => rs.contains(&receiver),
        };
        let found = self.messages.iter_mut().rev().find(|k| {
            k.outcome == Outcome::Delivered
                && k.performative == msg.performative
                && k.sender == sender
                && delivered_to(k)
        });
        match found {
            Some(kept) => {
                kept.outcome = Outcome::DeadLettered;
                kept.reason = Some(reason);
                true
            }
            None => false,
        }
    }

    /// Whether `agent` took part: sent or received a message of it that was delivered.
    pub fn involves(&self, agent: &str) -> bool {
        self.parties.iter().any(|(p, took_part)| *took_part && p == agent)
    }

    /// Whether it follows `protocol` (an enforced protocol's name in any spelling it accepts).
    pub fn follows(&self, protocol: &str) -> bool {
        match (&self.protocol, Protocol::from_name(protocol)) {
            (Some(Named::Known(kept)), Some(wanted)) => *kept == wanted,
            (Some(named), _) => named.as_str() == protocol,
            (None, _) => false,
        }
    }

    /// Make the changes `admitted` holds (after [`Record::add`] took the message);
    /// returns whether that ended the conversation.
    pub fn advance(&mut self, msg: &Message, admitted: Admission, now_ms: u64) -> bool {
        match (&mut self.machine, admitted.opens) {
            (Some(machine), None) => machine.apply(admitted.plan, &msg.sender),
            (_, Some(protocol)) => {
                // the party that opened the protocol is its initiator, whoever spoke first
                self.initiator = self.party(&msg.sender, true);
                self.protocol = Some(Named::Known(protocol));
                self.machine = Some(Machine::opened(protocol, &msg.sender, admitted.plan));
            }
            (None, None) => return false,
        }
        self.state_at(now_ms) != "open"
    }

    /// The host answered `msg` for a party that cannot: end that exchange.
    pub fn host_ending(&mut self, msg: &Message, ending: HostEnding) {
        if let Some(machine) = self.machine.as_mut() {
            for receiver in &msg.receivers {
                machine.host_ending(&msg.sender, receiver, ending);
            }
        }
    }

    /// `open`, `done`, `failed` or `expired` at `now_ms`.
    pub fn state_at(&self, now_ms: u64) -> &'static str {
        self.machine.as_ref().map_or("open", |m| m.state(now_ms))
    }

    /// Check `msg` against the machine, if the conversation has one (a kept
    /// conversation's machine opens with its first delivered message or never).
    pub fn admit(&self, msg: &Message, now_ms: u64) -> Result<Option<Admission>, Violation> {
        match &self.machine {
            // without a protocol, only a message among its parties is held to it
            Some(machine)
                if msg.protocol.is_some() || machine.is_party(&msg.sender) && machine.are_parties(&msg.receivers) =>
            {
                machine.plan(msg, now_ms).map(|plan| Some(Admission { opens: None, plan }))
            }
            // an outsider's plain message is recorded as always; a conversation under a protocol
            // the host does not enforce stays so: a later message naming one cannot take it over
            _ => Ok(None),
        }
    }

    /// The record as the API shows it at `now_ms`; with `detail`, with its exchanges and messages.
    pub fn view(&self, now_ms: u64, detail: bool) -> Conversation {
        let exchanges = match &self.machine {
            Some(machine) if detail => {
                machine.exchanges().map(|(p, e)| (p.to_string(), Exchange { step: e.step_at(now_ms), ..*e })).collect()
            }
            _ => BTreeMap::new(),
        };
        let messages = if detail { self.messages.iter().map(|k| self.entry(k)).collect() } else { Vec::new() };
        let others =
            self.parties.iter().enumerate().filter(|(i, (_, took_part))| *took_part && *i as u32 != self.initiator);
        let mut participants: Vec<String> = others.map(|(_, (name, _))| name.to_string()).collect();
        participants.sort();
        Conversation {
            id: self.id.to_string(),
            protocol: self.protocol.as_ref().map(|p| p.as_str().to_string()),
            initiator: self.name(self.initiator),
            participants,
            state: self.state_at(now_ms),
            exchanges,
            started_ms: self.started_ms,
            updated_ms: self.updated_ms,
            message_count: self.message_count,
            dropped: self.dropped,
            messages,
        }
    }

    fn entry(&self, kept: &Kept) -> Entry {
        let receivers = match &kept.receivers {
            To::One(r) => vec![self.name(*r)],
            To::Many(rs) => rs.iter().map(|r| self.name(*r)).collect(),
        };
        Entry {
            performative: kept.performative,
            sender: self.name(kept.sender),
            receivers,
            at_ms: kept.at_ms,
            outcome: kept.outcome,
            reason: kept.reason,
        }
    }
}

/// The machine `msg` would open when it names an enforced protocol.
pub fn open(msg: &Message, now_ms: u64) -> Result<Option<Admission>, Violation> {
    let Some(protocol) = msg.protocol.as_deref().and_then(Protocol::from_name) else { return Ok(None) };
    let plan = Machine::open(protocol, msg, now_ms)?;
    Ok(Some(Admission { opens: Some(protocol), plan }))
}
