//! Helpers for the FIPA interaction protocols the host enforces: the
//! messages each side of `fipa-request` sends, and a Contract-Net initiator
//! that calls for proposals, collects them until its deadline and awards one.
//!
//! The host checks every message of such a conversation (who may send which
//! act when, by which `reply-by`); these helpers send the acts the protocol
//! expects, so an agent built on them does not meet a `protocol-violation`.

use crate::{timers, Message, Performative};
use serde_json::Value;

/// `fipa-request` (FIPA SC00026).
pub const FIPA_REQUEST: &str = "fipa-request";
/// `fipa-contract-net` (FIPA SC00029).
pub const FIPA_CONTRACT_NET: &str = "fipa-contract-net";

/// A `request` to `receiver` that opens a `fipa-request` conversation
/// (the host names the conversation when it is sent).
pub fn request(receiver: &str, content: &Value) -> Message {
    let mut msg = Message::new(Performative::Request, receiver, content);
    msg.protocol = Some(FIPA_REQUEST.into());
    msg
}

impl Message {
    /// The participant agrees to this request (it will send the result later).
    pub fn agree(&self) -> Message {
        self.reply(Performative::Agree, &Value::Null)
    }

    /// The participant refuses this request or call for proposals; content `{"reason": reason}`.
    pub fn refuse(&self, reason: &str) -> Message {
        self.reply(Performative::Refuse, &serde_json::json!({ "reason": reason }))
    }

    /// The participant's proposal answering this call for proposals.
    pub fn propose(&self, content: &Value) -> Message {
        self.reply(Performative::Propose, content)
    }
}

/// One bidder's proposal.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// Who proposed.
    pub bidder: String,
    /// The proposal's content, parsed as JSON.
    pub content: Value,
    /// The `propose` message itself (award it with [`CallForProposals::award`]).
    pub message: Message,
}

/// The initiator's side of one Contract-Net round: one `cfp` to every
/// bidder with a `reply-by`, a timer at that deadline, the answers as they
/// come, and the award.
///
/// Keep it between events (e.g. in a `thread_local!` map by conversation):
/// hand it every message of its conversation with [`CallForProposals::take`]
/// and, when [`CallForProposals::timer`] fires, award what came in.
/// Needs the `timers` capability.
#[derive(Debug, Clone)]
pub struct CallForProposals {
    /// The round's conversation id.
    pub conversation: String,
    /// When bids close, in ms since the Unix epoch (the cfp's `reply-by`).
    pub deadline_ms: u64,
    /// The timer that fires when bids close.
    pub timer: u64,
    /// Bidders that have not answered yet.
    pub pending: Vec<String>,
    /// Proposals in the order they came.
    pub proposals: Vec<Proposal>,
    /// Bidders that refused (or did not understand, or failed).
    pub declined: Vec<String>,
    awarded: bool,
}

impl CallForProposals {
    /// Send one `cfp` with `content` to `bidders` in conversation
    /// `conversation`, bids due within `window_ms`, and set the timer that
    /// closes the bids.
    pub fn send(conversation: &str, bidders: &[String], content: &Value, window_ms: u64) -> Result<Self, String> {
        let mut cfp = Message::new(Performative::Cfp, "", content);
        cfp.receivers = bidders.to_vec();
        cfp.protocol = Some(FIPA_CONTRACT_NET.into());
        cfp.conversation_id = Some(conversation.to_string());
        let deadline_ms = crate::unix_millis() + window_ms;
        cfp.reply_by = Some(deadline_ms);
        crate::send(cfp)?;
        // one millisecond past the reply-by, so every bid the host let through is in
        let timer = timers::set(window_ms + 1).map_err(|e| e.sentence())?;
        Ok(CallForProposals {
            conversation: conversation.to_string(),
            deadline_ms,
            timer,
            pending: bidders.to_vec(),
            proposals: Vec::new(),
            declined: Vec::new(),
            awarded: false,
        })
    }

    /// Take `msg` when it is a pending bidder's answer in this round
    /// (`propose`, or `refuse`, `not-understood`, `failure`); whether it was.
    pub fn take(&mut self, msg: &Message) -> bool {
        let Some(at) = self.pending.iter().position(|b| *b == msg.sender) else { return false };
        if msg.conversation_id.as_deref() != Some(self.conversation.as_str()) {
            return false;
        }
        let bidder = self.pending.remove(at);
        match msg.performative {
            Performative::Propose => {
                self.proposals.push(Proposal { bidder, content: msg.json_value(), message: msg.clone() });
            }
            _ => self.declined.push(bidder),
        }
        true
    }

    /// Whether the bids are in: every bidder answered, or the deadline passed.
    pub fn closed(&self) -> bool {
        self.pending.is_empty() || crate::unix_millis() > self.deadline_ms
    }

    /// Whether [`CallForProposals::award`] ran.
    pub fn awarded(&self) -> bool {
        self.awarded
    }

    /// `accept-proposal` (with `accept`) to the proposal of `winner`, and
    /// `reject-proposal` (with `reject`) to every other proposer. Each reply's
    /// `reply-with` is `CONVERSATION/award`, so the winner's result answers it.
    /// The winner hears first. Errors: the accept could not be sent (the
    /// round cannot go on); a reject that cannot be sent (its bidder gone,
    /// say) leaves nothing to do and does not stop the others.
    pub fn award(&mut self, winner: &str, accept: &Value, reject: &Value) -> Result<(), String> {
        self.awarded = true;
        let tag = self.award_tag();
        let award = |proposal: &Proposal, act, content| {
            let mut reply = proposal.message.reply(act, content);
            reply.reply_with = Some(tag.clone());
            crate::send(reply)
        };
        if let Some(won) = self.proposals.iter().find(|p| p.bidder == winner) {
            award(won, Performative::AcceptProposal, accept)?;
        }
        for lost in self.proposals.iter().filter(|p| p.bidder != winner) {
            let _ = award(lost, Performative::RejectProposal, reject);
        }
        Ok(())
    }

    /// The `reply-with` of the awards: the winner's `inform` or `failure` carries it in `in-reply-to`.
    pub fn award_tag(&self) -> String {
        format!("{}/award", self.conversation)
    }
}
