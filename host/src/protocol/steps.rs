//! The transition tables of the six protocols: from the step an exchange is
//! at, which acts each side may send and where each leads.
//!
//! One exchange is the initiator and one participant. The tables follow the
//! protocol diagrams of the FIPA specifications (SC00026 request, SC00027
//! query, SC00028 request-when, SC00029 contract-net, SC00030 iterated
//! contract-net, SC00035 subscribe) with the cancel meta-protocol they all
//! share: the initiator may `cancel` an exchange that is still open, and the
//! participant answers `inform` (cancelled) or `failure`.

use super::Protocol;
use crate::acl::Performative::{self, *};
use serde::Serialize;

/// Which side of an exchange sends a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The agent (or client) that opened the conversation.
    Initiator,
    /// An agent the initiator addressed.
    Participant,
}

/// Where one exchange (the initiator and one participant) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The opening act (request, query, request-when, cfp, subscribe) was sent; the participant answers.
    Asked,
    /// The participant agreed; it owes the result (or, for subscribe, its notifications).
    Agreed,
    /// The participant proposed; the initiator accepts or rejects (or, iterated, calls again).
    Proposed,
    /// The initiator accepted the proposal; the participant owes the result.
    Accepted,
    /// The initiator cancelled; the participant confirms (`inform`) or says it failed.
    Cancelling,
    /// Ended with the result (`inform`).
    Done,
    /// Ended: the participant refused or did not understand.
    Refused,
    /// Ended: the initiator rejected the proposal.
    Rejected,
    /// Ended: the participant (or the host for it) reported a `failure`.
    Failed,
    /// Ended: the cancel was confirmed.
    Cancelled,
    /// Ended: the reply-by of the step passed with no answer.
    Expired,
}

impl Step {
    /// Whether the exchange is over.
    pub fn is_end(self) -> bool {
        matches!(self, Step::Done | Step::Refused | Step::Rejected | Step::Failed | Step::Cancelled | Step::Expired)
    }

    /// Who acts next in an open exchange (for an ended one, nobody: `None`).
    pub fn awaits(self) -> Option<Role> {
        match self {
            Step::Asked | Step::Agreed | Step::Accepted | Step::Cancelling => Some(Role::Participant),
            Step::Proposed => Some(Role::Initiator),
            _ => None,
        }
    }

    /// The kebab-case name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Asked => "asked",
            Step::Agreed => "agreed",
            Step::Proposed => "proposed",
            Step::Accepted => "accepted",
            Step::Cancelling => "cancelling",
            Step::Done => "done",
            Step::Refused => "refused",
            Step::Rejected => "rejected",
            Step::Failed => "failed",
            Step::Cancelled => "cancelled",
            Step::Expired => "expired",
        }
    }
}

/// Where `act` from `role` takes an exchange of `protocol` at `step`
/// (`None`: the participant was never addressed), or `None` when the protocol
/// does not allow that act there.
pub fn next(protocol: Protocol, step: Option<Step>, role: Role, act: Performative) -> Option<Step> {
    use Role::{Initiator as I, Participant as P};
    let contract = matches!(protocol, Protocol::ContractNet | Protocol::IteratedContractNet);
    // request and query may answer at once, without agreeing first (SC00026 §2, SC00027 §2)
    let answers_at_once = matches!(protocol, Protocol::Request | Protocol::Query);
    let Some(step) = step else {
        return (role == I && protocol.opening_acts().contains(&act)).then_some(Step::Asked);
    };
    let to = match (step, role, act) {
        (Step::Asked, P, Refuse | NotUnderstood) => Step::Refused,
        (Step::Asked, P, Propose) if contract => Step::Proposed,
        (Step::Asked, P, Agree) if !contract => Step::Agreed,
        (Step::Asked, P, Inform) if answers_at_once => Step::Done,
        (Step::Asked, P, Failure) if answers_at_once => Step::Failed,
        (Step::Agreed, P, Inform) if protocol == Protocol::Subscribe => Step::Agreed,
        (Step::Agreed | Step::Accepted, P, Inform) => Step::Done,
        (Step::Agreed | Step::Accepted | Step::Cancelling, P, Failure) => Step::Failed,
        (Step::Proposed, I, AcceptProposal) if contract => Step::Accepted,
        (Step::Proposed, I, RejectProposal) if contract => Step::Rejected,
        (Step::Proposed, I, Cfp) if protocol == Protocol::IteratedContractNet => Step::Asked,
        (Step::Asked | Step::Agreed | Step::Proposed | Step::Accepted, I, Cancel) => Step::Cancelling,
        (Step::Cancelling, P, Inform) => Step::Cancelled,
        _ => return None,
    };
    Some(to)
}

/// The acts `role` may send in an exchange of `protocol` at `step`, in FIPA order.
pub fn allowed(protocol: Protocol, step: Option<Step>, role: Role) -> Vec<Performative> {
    Performative::ALL.into_iter().filter(|act| next(protocol, step, role, *act).is_some()).collect()
}

/// Every act `role` sends somewhere in `protocol`, in FIPA order.
pub fn acts_of(protocol: Protocol, role: Role) -> Vec<Performative> {
    const STEPS: [Option<Step>; 6] = [
        None,
        Some(Step::Asked),
        Some(Step::Agreed),
        Some(Step::Proposed),
        Some(Step::Accepted),
        Some(Step::Cancelling),
    ];
    Performative::ALL
        .into_iter()
        .filter(|act| STEPS.iter().any(|step| next(protocol, *step, role, *act).is_some()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_sends_the_acts_its_specification_lists() {
        let acts = |p, r| acts_of(p, r).iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ");
        assert_eq!(acts(Protocol::Request, Role::Initiator), "cancel request");
        assert_eq!(acts(Protocol::Request, Role::Participant), "agree failure inform not-understood refuse");
        assert_eq!(acts(Protocol::Query, Role::Initiator), "cancel query-if query-ref");
        assert_eq!(acts(Protocol::RequestWhen, Role::Initiator), "cancel request-when");
        assert_eq!(acts(Protocol::RequestWhen, Role::Participant), "agree failure inform not-understood refuse");
        assert_eq!(acts(Protocol::ContractNet, Role::Initiator), "accept-proposal cancel cfp reject-proposal");
        assert_eq!(acts(Protocol::ContractNet, Role::Participant), "failure inform not-understood propose refuse");
        assert_eq!(acts(Protocol::Subscribe, Role::Initiator), "cancel subscribe");
        assert_eq!(acts(Protocol::Subscribe, Role::Participant), "agree failure inform not-understood refuse");
    }

    #[test]
    fn request_when_and_subscribe_must_agree_before_they_inform() {
        for p in [Protocol::RequestWhen, Protocol::Subscribe] {
            assert_eq!(next(p, Some(Step::Asked), Role::Participant, Inform), None, "{p:?}");
        }
        assert_eq!(next(Protocol::Request, Some(Step::Asked), Role::Participant, Inform), Some(Step::Done));
        // a subscription informs again and again until it fails or is cancelled
        assert_eq!(next(Protocol::Subscribe, Some(Step::Agreed), Role::Participant, Inform), Some(Step::Agreed));
    }

    #[test]
    fn the_initiator_may_cancel_at_any_open_step_it_does_not_wait_on_a_cancel() {
        for step in [Step::Asked, Step::Agreed, Step::Proposed, Step::Accepted] {
            assert_eq!(next(Protocol::ContractNet, Some(step), Role::Initiator, Cancel), Some(Step::Cancelling));
        }
        assert_eq!(next(Protocol::ContractNet, Some(Step::Cancelling), Role::Initiator, Cancel), None);
    }

    #[test]
    fn only_the_iterated_contract_net_calls_for_proposals_again() {
        let again = |p| next(p, Some(Step::Proposed), Role::Initiator, Cfp);
        assert_eq!((again(Protocol::ContractNet), again(Protocol::IteratedContractNet)), (None, Some(Step::Asked)));
    }
}
