//! FIPA interaction protocols, held by the host: which messages a conversation
//! that follows one may carry next, and how it ends.
//!
//! A message whose `protocol` names one of the six [`Protocol`]s is checked
//! against its conversation's [`Machine`] before it is delivered. A
//! conversation is one *exchange* per participant (the initiator and one
//! agent it addressed), each at a [`Step`] (see [`steps`] for the tables).
//! A message must come from a party (the initiator, or a participant the
//! conversation reached), be an act the protocol allows its sender at the
//! step, go from a participant to the initiator only, and arrive by the
//! `reply-by` of the message it answers. The conversation ends when every
//! exchange has: `done` when some exchange completed (the result was
//! informed, or a cancel confirmed), `expired` when every exchange ran past
//! its reply-by, `failed` otherwise. Nothing is accepted after the end.
//!
//! Time is passed in (milliseconds since the Unix epoch), so the machines
//! run on any clock and tests can stop it.

pub mod steps;

use crate::acl::{Message, Performative};
use compact_str::CompactString;
use serde::Serialize;
use smallvec::SmallVec;
pub use steps::{Role, Step};

/// A party's name as a machine keeps it: inline up to 24 bytes, so opening a
/// conversation between agents with short names allocates nothing for them.
pub type Name = CompactString;

/// Exchanges by participant: inline for one (a request, a query, a subscription), so
/// most conversations cost no allocation for them.
type Exchanges = SmallVec<[(Name, Exchange); 1]>;

/// The interaction protocols the host enforces, named as FIPA names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `fipa-request` (SC00026): request → agree/refuse → inform/failure.
    Request,
    /// `fipa-query` (SC00027): query-if/query-ref → agree/refuse → inform/failure.
    Query,
    /// `fipa-request-when` (SC00028): request-when → agree/refuse → inform/failure.
    RequestWhen,
    /// `fipa-contract-net` (SC00029): cfp → propose/refuse → accept/reject → inform/failure.
    ContractNet,
    /// `fipa-iterated-contract-net` (SC00030): contract-net whose initiator may call again.
    IteratedContractNet,
    /// `fipa-subscribe` (SC00035): subscribe → agree/refuse → inform… until cancel or failure.
    Subscribe,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 6] = [
        Protocol::Request,
        Protocol::Query,
        Protocol::RequestWhen,
        Protocol::ContractNet,
        Protocol::IteratedContractNet,
        Protocol::Subscribe,
    ];

    /// The protocol a message's `protocol` names: FIPA's spelling in any case,
    /// with `-` or `_` between words (as performatives are read); `None` for any
    /// other name (such conversations are recorded, not checked).
    pub fn from_name(name: &str) -> Option<Protocol> {
        let same = |canonical: &str| {
            name.len() == canonical.len()
                && name
                    .bytes()
                    .zip(canonical.bytes())
                    .all(|(a, c)| a.to_ascii_lowercase() == c || (a == b'_' && c == b'-'))
        };
        Protocol::ALL.into_iter().find(|p| same(p.name()))
    }

    /// The name, e.g. `fipa-request`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Request => "fipa-request",
            Protocol::Query => "fipa-query",
            Protocol::RequestWhen => "fipa-request-when",
            Protocol::ContractNet => "fipa-contract-net",
            Protocol::IteratedContractNet => "fipa-iterated-contract-net",
            Protocol::Subscribe => "fipa-subscribe",
        }
    }

    /// The acts that open a conversation (and each exchange) of this protocol.
    pub fn opening_acts(self) -> &'static [Performative] {
        match self {
            Protocol::Request => &[Performative::Request],
            Protocol::Query => &[Performative::QueryIf, Performative::QueryRef],
            Protocol::RequestWhen => &[Performative::RequestWhen],
            Protocol::ContractNet | Protocol::IteratedContractNet => &[Performative::Cfp],
            Protocol::Subscribe => &[Performative::Subscribe],
        }
    }
}

/// Which rule a refused message broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Breach {
    /// The act is not one the sender may send at this step.
    WrongAct,
    /// The sender is not a party, or a participant addressed someone other than the initiator.
    NotAParty,
    /// The step's reply-by passed before the message.
    ReplyByPassed,
    /// The conversation has ended.
    Ended,
    /// The message names another protocol than its conversation follows.
    OtherProtocol,
}

impl Breach {
    /// The kebab-case name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Breach::WrongAct => "wrong-act",
            Breach::NotAParty => "not-a-party",
            Breach::ReplyByPassed => "reply-by-passed",
            Breach::Ended => "ended",
            Breach::OtherProtocol => "other-protocol",
        }
    }
}

/// Why a message breaks its conversation's protocol. Nothing was delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{detail}")]
pub struct Violation {
    /// The protocol the conversation follows, e.g. `fipa-contract-net`.
    pub protocol: &'static str,
    /// The conversation.
    pub conversation: String,
    /// The step (of the exchange the message was for), or the conversation's end state.
    pub state: &'static str,
    /// The acts the sender may send there (empty when it may send none).
    pub allowed: Vec<Performative>,
    /// Which rule it broke.
    pub breach: Breach,
    /// The whole reason, as a sentence.
    pub detail: String,
}

/// One exchange: where it stands, and by when the party it waits for must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// The step.
    pub step: Step,
    /// The reply-by of the message that led here, in ms since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_by: Option<u64>,
}

impl Exchange {
    /// The step at `now_ms`: [`Step::Expired`] once an open step's reply-by has passed.
    pub fn step_at(&self, now_ms: u64) -> Step {
        match self.reply_by {
            Some(by) if !self.step.is_end() && now_ms > by => Step::Expired,
            _ => self.step,
        }
    }
}

/// The changes a checked message makes: each exchange it moves, and to where.
/// A participant's message moves only its own exchange, kept without a copy of
/// its name or a list: checking the commonest message, an answer, allocates nothing.
#[derive(Debug, Default)]
pub struct Plan {
    /// The exchanges with the receivers of a message from the initiator.
    to_receivers: Exchanges,
    /// The sender's own exchange, for a message from a participant.
    sender: Option<Exchange>,
}

/// How the host ends an exchange for a party that cannot answer (a trap, a
/// reply-by that passed, a message it could not deliver).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostEnding {
    /// The host answered with a `failure` for the party.
    Failed,
    /// The reply-by passed unanswered.
    Expired,
}

/// A conversation that follows a [`Protocol`]: its initiator and its exchanges.
#[derive(Debug, Clone)]
pub struct Machine {
    protocol: Protocol,
    initiator: Name,
    /// Sorted by participant: few per conversation, so a sorted list beats a tree in time and memory.
    exchanges: Exchanges,
}

impl Machine {
    /// A conversation `msg` (from its stamped sender) would open, or why it cannot.
    pub fn open(protocol: Protocol, msg: &Message, now_ms: u64) -> Result<Plan, Violation> {
        // nothing allocated: an empty machine, with the sender standing in as the initiator
        let empty = Machine { protocol, initiator: Name::default(), exchanges: Exchanges::new() };
        empty.plan_as(&msg.sender, msg, now_ms)
    }

    /// The conversation `plan` (from [`Machine::open`]) opens.
    pub fn opened(protocol: Protocol, initiator: &str, plan: Plan) -> Machine {
        // the plan's list becomes the exchanges: sorted, each receiver once
        let mut exchanges = plan.to_receivers;
        exchanges.sort_by(|a, b| a.0.cmp(&b.0));
        exchanges.dedup_by(|a, b| a.0 == b.0);
        Machine { protocol, initiator: Name::from(initiator), exchanges }
    }

    /// The protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The party that opened the conversation.
    pub fn initiator(&self) -> &str {
        &self.initiator
    }

    /// Whether `agent` is a party (the initiator or a participant).
    pub fn is_party(&self, agent: &str) -> bool {
        self.initiator == agent || self.exchange(agent).is_some()
    }

    /// Whether every one of `agents` is a party.
    pub fn are_parties(&self, agents: &[String]) -> bool {
        agents.iter().all(|a| self.is_party(a))
    }

    /// Each participant's exchange, by participant name.
    pub fn exchanges(&self) -> impl Iterator<Item = (&str, &Exchange)> {
        self.exchanges.iter().map(|(p, e)| (p.as_str(), e))
    }

    /// The exchange with `participant`.
    pub fn exchange(&self, participant: &str) -> Option<&Exchange> {
        let at = self.exchanges.binary_search_by(|(p, _)| p.as_str().cmp(participant)).ok()?;
        self.exchanges.get(at).map(|(_, e)| e)
    }

    fn exchange_mut(&mut self, participant: &str) -> Option<&mut Exchange> {
        let at = self.exchanges.binary_search_by(|(p, _)| p.as_str().cmp(participant)).ok()?;
        self.exchanges.get_mut(at).map(|(_, e)| e)
    }

    /// `open`, or how the conversation ended: `done`, `failed` or `expired` (see the module doc).
    pub fn state(&self, now_ms: u64) -> &'static str {
        let mut steps = self.exchanges.iter().map(|(_, e)| e.step_at(now_ms));
        if self.exchanges.is_empty() || steps.clone().any(|s| !s.is_end()) {
            "open"
        } else if steps.clone().any(|s| matches!(s, Step::Done | Step::Cancelled)) {
            "done"
        } else if steps.all(|s| s == Step::Expired) {
            "expired"
        } else {
            "failed"
        }
    }

    /// What `msg` (with its stamped sender) would change, or why the protocol refuses it.
    pub fn plan(&self, msg: &Message, now_ms: u64) -> Result<Plan, Violation> {
        self.plan_as(&self.initiator, msg, now_ms)
    }

    fn plan_as(&self, initiator: &str, msg: &Message, now_ms: u64) -> Result<Plan, Violation> {
        let act = msg.performative;
        if let Some(named) = msg.protocol.as_deref().filter(|p| Protocol::from_name(p) != Some(self.protocol)) {
            let detail = format!("the message names protocol `{named}` instead");
            return Err(self.violation(msg, Breach::OtherProtocol, self.state(now_ms), Vec::new(), &detail));
        }
        if let Some(by) = msg.reply_by.filter(|by| *by < now_ms) {
            // nobody could answer in time: every answer would be refused
            let detail = format!("the message's own reply-by ({by} ms since the epoch) has already passed");
            return Err(self.violation(msg, Breach::ReplyByPassed, self.state(now_ms), Vec::new(), &detail));
        }
        let state = self.state(now_ms);
        let own = self.exchange(&msg.sender);
        if state != "open" && !own.is_some_and(|e| e.reply_by.is_some() && e.step_at(now_ms) == Step::Expired) {
            let why = format!("`{act}` came after its end");
            return Err(self.violation(msg, Breach::Ended, state, Vec::new(), &why));
        }
        if msg.sender == initiator {
            let to_receivers = msg.receivers.iter().map(|r| self.initiator_step(initiator, r, msg, now_ms));
            return Ok(Plan { to_receivers: to_receivers.collect::<Result<_, _>>()?, sender: None });
        }
        let Some(exchange) = own else {
            let detail = format!("`{}` is not a party to it", msg.sender);
            return Err(self.violation(msg, Breach::NotAParty, state, Vec::new(), &detail));
        };
        if let Some(other) = msg.receivers.iter().find(|r| **r != initiator) {
            let detail = format!("a participant answers its initiator `{initiator}` only, not `{other}`");
            return Err(self.violation(msg, Breach::NotAParty, state, Vec::new(), &detail));
        }
        let to = self.step(exchange, Role::Participant, msg, now_ms, &msg.sender)?;
        Ok(Plan { to_receivers: Exchanges::new(), sender: Some(to) })
    }

    /// The initiator's message to `receiver`: where it takes their exchange.
    fn initiator_step(
        &self,
        initiator: &str,
        receiver: &str,
        msg: &Message,
        now_ms: u64,
    ) -> Result<(Name, Exchange), Violation> {
        if receiver == initiator {
            let detail = format!("its initiator `{receiver}` addressed itself");
            return Err(self.violation(msg, Breach::NotAParty, "open", Vec::new(), &detail));
        }
        let to = match self.exchange(receiver) {
            Some(exchange) => self.step(exchange, Role::Initiator, msg, now_ms, receiver)?,
            None => match steps::next(self.protocol, None, Role::Initiator, msg.performative) {
                Some(step) => Exchange { step, reply_by: msg.reply_by },
                None => {
                    let allowed = steps::allowed(self.protocol, None, Role::Initiator);
                    let detail = format!("`{receiver}` was not addressed yet, so only an opening act may go to it");
                    return Err(self.violation(msg, Breach::WrongAct, "not-started", allowed, &detail));
                }
            },
        };
        Ok((Name::from(receiver), to))
    }

    /// Where `msg` from `role` takes `exchange` (the one with `participant`).
    fn step(
        &self,
        exchange: &Exchange,
        role: Role,
        msg: &Message,
        now_ms: u64,
        participant: &str,
    ) -> Result<Exchange, Violation> {
        let act = msg.performative;
        let at = exchange.step_at(now_ms);
        if at == Step::Expired {
            let by = exchange.reply_by.map(|by| format!(" ({by} ms since the epoch)")).unwrap_or_default();
            let detail = format!("the reply-by{by} of the exchange with `{participant}` passed");
            return Err(self.violation(msg, Breach::ReplyByPassed, at.as_str(), Vec::new(), &detail));
        }
        match steps::next(self.protocol, Some(at), role, act) {
            // the message's reply-by binds the party it waits for
            Some(step) => Ok(Exchange { step, reply_by: if step.is_end() { None } else { msg.reply_by } }),
            None => {
                let allowed = steps::allowed(self.protocol, Some(at), role);
                let who = if role == Role::Initiator { "its initiator" } else { "the participant" };
                let detail = format!("`{act}` from {who} does not fit the exchange with `{participant}`");
                Err(self.violation(msg, Breach::WrongAct, at.as_str(), allowed, &detail))
            }
        }
    }

    /// Make the changes of a plan from [`Machine::plan`] of a message from `sender`.
    pub fn apply(&mut self, plan: Plan, sender: &str) {
        if let (Some(exchange), Some(own)) = (plan.sender, self.exchange_mut(sender)) {
            *own = exchange;
        }
        for (participant, exchange) in plan.to_receivers {
            match self.exchanges.binary_search_by(|(p, _)| p.cmp(&participant)) {
                Ok(at) => {
                    if let Some((_, old)) = self.exchanges.get_mut(at) {
                        *old = exchange;
                    }
                }
                Err(at) => self.exchanges.insert(at, (participant, exchange)),
            }
        }
    }

    /// The host answered for a party that cannot (see [`HostEnding`]): the
    /// exchange between `sender` and `receiver` ends, if it is still open.
    pub fn host_ending(&mut self, sender: &str, receiver: &str, ending: HostEnding) {
        let participant = if sender == self.initiator { receiver } else { sender };
        if let Some(exchange) = self.exchange_mut(participant).filter(|e| !e.step.is_end()) {
            exchange.step = if ending == HostEnding::Expired { Step::Expired } else { Step::Failed };
            exchange.reply_by = None;
        }
    }

    fn violation(
        &self,
        msg: &Message,
        breach: Breach,
        state: &'static str,
        allowed: Vec<Performative>,
        why: &str,
    ) -> Violation {
        let protocol = self.protocol.name();
        let acts = if allowed.is_empty() {
            "no act is allowed there".to_string()
        } else {
            let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
            format!("allowed there: {}", names.join(", "))
        };
        let conversation = msg.conversation_id.clone().unwrap_or_default();
        let detail = format!("conversation `{conversation}` follows {protocol} and is at `{state}`: {why}; {acts}");
        Violation { protocol, conversation, state, allowed, breach, detail }
    }
}

#[cfg(test)]
mod tests;
