//! Each protocol run to its end, and each class of violation, on a stopped clock.

use super::*;
use crate::acl::Performative::{self, *};

/// One conversation and the clock it runs on (ms since the epoch; it moves only when told).
struct Run {
    protocol: Protocol,
    machine: Option<Machine>,
    now: u64,
}

impl Run {
    fn new(protocol: Protocol) -> Run {
        Run { protocol, machine: None, now: 1_000_000 }
    }

    fn message(&self, from: &str, act: Performative, to: &[&str], reply_by: Option<u64>) -> Message {
        let mut msg = Message::new(act, to.iter().map(|r| r.to_string()).collect(), String::new());
        msg.sender = from.to_string();
        msg.protocol = Some(self.protocol.name().to_string());
        msg.reply_by = reply_by;
        msg.conversation_id = Some("c1".into());
        msg
    }

    /// Send with a reply-by `within` ms from now.
    fn send_by(&mut self, from: &str, act: Performative, to: &[&str], within: Option<u64>) -> Result<(), Violation> {
        let msg = self.message(from, act, to, within.map(|ms| self.now + ms));
        match &mut self.machine {
            Some(machine) => machine.plan(&msg, self.now).map(|plan| machine.apply(plan, from)),
            None => {
                let plan = Machine::open(self.protocol, &msg, self.now)?;
                self.machine = Some(Machine::opened(self.protocol, from, plan));
                Ok(())
            }
        }
    }

    fn send(&mut self, from: &str, act: Performative, to: &[&str]) -> Result<(), Violation> {
        self.send_by(from, act, to, None)
    }

    fn state(&self) -> &'static str {
        self.machine.as_ref().map_or("none", |m| m.state(self.now))
    }

    fn step(&self, participant: &str) -> Step {
        self.machine.as_ref().unwrap().exchange(participant).unwrap().step_at(self.now)
    }
}

fn refused(outcome: Result<(), Violation>) -> Violation {
    outcome.expect_err("the protocol should refuse this message")
}

/// One message of a run: sender, act, receiver.
type Said = (&'static str, Performative, &'static str);

#[test]
fn a_full_legal_run_of_each_protocol_ends_done() {
    let runs: [(Protocol, &[Said]); 6] = [
        (Protocol::Request, &[("i", Request, "p"), ("p", Agree, "i"), ("p", Inform, "i")]),
        (Protocol::Query, &[("i", QueryRef, "p"), ("p", Inform, "i")]),
        (Protocol::RequestWhen, &[("i", RequestWhen, "p"), ("p", Agree, "i"), ("p", Inform, "i")]),
        (
            Protocol::ContractNet,
            &[("i", Cfp, "p"), ("p", Propose, "i"), ("i", AcceptProposal, "p"), ("p", Inform, "i")],
        ),
        (
            Protocol::IteratedContractNet,
            &[
                ("i", Cfp, "p"),
                ("p", Propose, "i"),
                ("i", Cfp, "p"),
                ("p", Propose, "i"),
                ("i", AcceptProposal, "p"),
                ("p", Inform, "i"),
            ],
        ),
        (
            Protocol::Subscribe,
            &[("i", Subscribe, "p"), ("p", Agree, "i"), ("p", Inform, "i"), ("p", Inform, "i"), ("i", Cancel, "p")],
        ),
    ];
    for (protocol, messages) in runs {
        let mut run = Run::new(protocol);
        for (from, act, to) in messages {
            assert_eq!(
                run.state(),
                if run.machine.is_some() { "open" } else { "none" },
                "{} before {act}",
                protocol.name()
            );
            run.send(from, *act, &[to]).unwrap_or_else(|v| panic!("{}: {v}", protocol.name()));
        }
        if protocol == Protocol::Subscribe {
            // the cancel is confirmed with an inform
            run.send("p", Inform, &["i"]).unwrap();
            assert_eq!(run.step("p"), Step::Cancelled);
        }
        assert_eq!(run.state(), "done", "{}", protocol.name());
        let after = refused(run.send("i", protocol.opening_acts()[0], &["p"]));
        assert_eq!((after.breach, after.state, after.allowed.len()), (Breach::Ended, "done", 0));
    }
}

#[test]
fn an_act_the_step_does_not_allow_is_refused_naming_the_protocol_state_and_allowed_acts() {
    let mut run = Run::new(Protocol::Request);
    // a conversation must open with its opening act
    let v = refused(run.send("i", Inform, &["p"]));
    assert_eq!((v.breach, v.state, v.allowed.clone()), (Breach::WrongAct, "not-started", vec![Request]));
    run.send("i", Request, &["p"]).unwrap();
    let v = refused(run.send("p", Propose, &["i"]));
    assert_eq!((v.breach, v.state, v.protocol), (Breach::WrongAct, "asked", "fipa-request"));
    assert_eq!(v.allowed, [Agree, Failure, Inform, NotUnderstood, Refuse]);
    assert!(v.detail.contains("fipa-request") && v.detail.contains("`asked`") && v.detail.contains("agree"), "{v}");
    // nothing changed: the participant can still agree
    run.send("p", Agree, &["i"]).unwrap();
    assert_eq!(refused(run.send("p", Agree, &["i"])).allowed, [Failure, Inform]);
}

#[test]
fn only_parties_may_speak_and_a_participant_answers_only_the_initiator() {
    let mut run = Run::new(Protocol::Request);
    run.send("i", Request, &["p"]).unwrap();
    assert_eq!(refused(run.send("mallory", Inform, &["i"])).breach, Breach::NotAParty);
    assert_eq!(refused(run.send("p", Inform, &["i", "mallory"])).breach, Breach::NotAParty);
    assert_eq!(refused(run.send("i", Request, &["i"])).breach, Breach::NotAParty);
    // the message naming another protocol is refused too
    let mut other = run.message("p", Inform, &["i"], None);
    other.protocol = Some("fipa-query".into());
    let v = run.machine.as_ref().unwrap().plan(&other, run.now).unwrap_err();
    assert_eq!(v.breach, Breach::OtherProtocol);
    assert!(v.detail.contains("follows fipa-request") && v.detail.contains("`fipa-query` instead"), "{v}");
    // the same protocol in another spelling is the same protocol
    other.protocol = Some("FIPA_Request".into());
    assert!(run.machine.as_ref().unwrap().plan(&other, run.now).is_ok());
    run.send("p", Inform, &["i"]).unwrap();
    assert_eq!(run.state(), "done");
}

#[test]
fn a_contract_net_refuses_late_proposals_and_awards_only_proposers() {
    let mut run = Run::new(Protocol::ContractNet);
    run.send_by("i", Cfp, &["b1", "b2", "b3"], Some(2_000)).unwrap();
    run.send("b1", Propose, &["i"]).unwrap();
    run.send("b2", Refuse, &["i"]).unwrap();
    // an accept-proposal may only go to a participant who proposed
    let v = refused(run.send("i", AcceptProposal, &["b2"]));
    assert_eq!((v.breach, v.state), (Breach::WrongAct, "refused"));
    let v = refused(run.send("i", AcceptProposal, &["b1", "b3"]));
    assert_eq!((v.breach, v.state), (Breach::WrongAct, "asked"), "b3 has not proposed");
    // the clock passes the cfp's reply-by: b3's proposal is late
    run.now += 2_001;
    let v = refused(run.send("b3", Propose, &["i"]));
    assert_eq!((v.breach, v.state), (Breach::ReplyByPassed, "expired"));
    assert_eq!(run.step("b3"), Step::Expired);
    assert_eq!(run.state(), "open", "b1's proposal still waits for an answer");
    run.send("i", AcceptProposal, &["b1"]).unwrap();
    run.send("b1", Inform, &["i"]).unwrap();
    assert_eq!(run.state(), "done");
}

#[test]
fn a_proposal_exactly_at_the_reply_by_is_in_time() {
    let mut run = Run::new(Protocol::ContractNet);
    run.send_by("i", Cfp, &["b1"], Some(500)).unwrap();
    run.now += 500;
    run.send("b1", Propose, &["i"]).unwrap();
    assert_eq!(run.step("b1"), Step::Proposed);
}

#[test]
fn a_conversation_whose_every_exchange_ran_past_its_reply_by_expired_and_one_that_failed_failed() {
    let mut run = Run::new(Protocol::Query);
    run.send_by("i", QueryIf, &["p", "q"], Some(100)).unwrap();
    run.now += 101;
    assert_eq!(run.state(), "expired");
    // the late party hears that its reply-by passed; anyone else, that the conversation ended
    assert_eq!(refused(run.send("p", Inform, &["i"])).breach, Breach::ReplyByPassed);
    assert_eq!(refused(run.send("i", Cancel, &["p"])).breach, Breach::Ended);

    let mut run = Run::new(Protocol::RequestWhen);
    run.send("i", RequestWhen, &["p"]).unwrap();
    // request-when has no immediate answer: the participant agrees or refuses first
    assert_eq!(refused(run.send("p", Inform, &["i"])).allowed, [Agree, NotUnderstood, Refuse]);
    run.send("p", Agree, &["i"]).unwrap();
    run.send("p", Failure, &["i"]).unwrap();
    assert_eq!(run.state(), "failed");
}

#[test]
fn the_host_ends_an_exchange_for_a_party_that_cannot_answer() {
    let mut run = Run::new(Protocol::ContractNet);
    run.send("i", Cfp, &["b1", "b2"]).unwrap();
    let machine = run.machine.as_mut().unwrap();
    machine.host_ending("b1", "i", HostEnding::Failed);
    machine.host_ending("i", "b2", HostEnding::Expired);
    assert_eq!((run.step("b1"), run.step("b2"), run.state()), (Step::Failed, Step::Expired, "failed"));
}

#[test]
fn protocol_names_are_read_in_any_case_with_dashes_or_underscores() {
    assert_eq!(Protocol::from_name("FIPA_Contract-Net"), Some(Protocol::ContractNet));
    assert_eq!((Protocol::from_name("fipa-requests"), Protocol::from_name("")), (None, None));
}

#[test]
fn a_message_whose_own_reply_by_has_passed_is_refused() {
    let mut run = Run::new(Protocol::ContractNet);
    let late = run.message("i", Cfp, &["p"], Some(run.now - 1));
    let v = Machine::open(Protocol::ContractNet, &late, run.now).unwrap_err();
    assert_eq!(v.breach, Breach::ReplyByPassed);
    run.send_by("i", Cfp, &["p"], Some(0)).unwrap();
}
