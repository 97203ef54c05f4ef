//! The initiator of a FIPA Contract-Net round.
//!
//! A `request` `{"action": "run", "task": …, "budget": …}` starts a round in a
//! conversation of its own (`CONVERSATION:contract-net-TAG`, where CONVERSATION is
//! the request's and TAG 16 random hex digits, so nobody can start it first; the
//! answer names it as `round`): one `cfp` goes to every agent offering the `cnet-bid` service
//! with a `reply-by` the host enforces, and each answers `propose` (with a
//! price) or `refuse`. Once all have answered, or the bid window's timer fires,
//! the cheapest proposal gets `accept-proposal`, the others `reject-proposal`,
//! and the winner's `inform` is passed back to whoever asked. The round is the
//! SDK's [`CallForProposals`].
use caxton_sdk::protocols::{CallForProposals, FIPA_CONTRACT_NET, FIPA_REQUEST};
use caxton_sdk::{json, Agent, AgentProfile, DirectoryQuery, Message, Performative, Value};
use std::cell::RefCell;
use std::collections::HashMap;

const BID_WINDOW_MS: u64 = 2_000;

struct Round {
    /// The request that started it, answered at the end.
    request: Message,
    task: Value,
    call: CallForProposals,
    /// The winner and its price, once awarded.
    winner: Option<(String, u64)>,
}

thread_local! {
    /// Rounds in progress, by their conversation.
    static ROUNDS: RefCell<HashMap<String, Round>> = RefCell::new(HashMap::new());
}

/// 64 bits nobody can guess: a hasher std seeds from the host's random source (`wasi:random`).
fn random_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

fn start(msg: Message) -> Result<(), String> {
    let content = msg.json_value();
    // each round a conversation of its own, also when a client sends every request in one
    let cid = format!("{}:contract-net-{:016x}", msg.conversation_id.clone().unwrap_or_default(), random_tag());
    let bidders = caxton_sdk::search(&DirectoryQuery::service("cnet-bid"));
    if bidders.is_empty() {
        return caxton_sdk::send(msg.failure("no agent offers the `cnet-bid` service"));
    }
    let cfp = json!({ "task": content["task"], "budget": content["budget"] });
    let call = CallForProposals::send(&cid, &bidders, &cfp, BID_WINDOW_MS)?;
    let round = Round { request: msg, task: content["task"].clone(), call, winner: None };
    ROUNDS.with(|r| r.borrow_mut().insert(cid, round));
    Ok(())
}

fn price(content: &Value) -> u64 {
    content["price"].as_u64().unwrap_or(u64::MAX)
}

/// Award the cheapest proposal once the bids are in; whether the round is over
/// (it failed for want of proposals).
fn award_when_closed(round: &mut Round) -> Result<bool, String> {
    if round.call.awarded() || !round.call.closed() {
        return Ok(false);
    }
    let best = round.call.proposals.iter().min_by_key(|p| (price(&p.content), p.bidder.clone()));
    let Some((winner, price)) = best.map(|p| (p.bidder.clone(), price(&p.content))) else {
        round.call.award("", &Value::Null, &Value::Null)?;
        caxton_sdk::send(round.request.failure("no bidder proposed: every bidder refused or stayed silent"))?;
        return Ok(true);
    };
    let reject = json!({ "reason": format!("{winner} offered less") });
    round.call.award(&winner, &json!({ "task": round.task }), &reject)?;
    round.winner = Some((winner, price));
    Ok(false)
}

/// The winner reported: pass its result (or failure) to whoever asked.
fn report(round: &Round, msg: &Message) -> Result<(), String> {
    let Some((winner, won_at)) = &round.winner else { return Ok(()) };
    let outcome = msg.json_value();
    let proposals: Vec<Value> =
        round.call.proposals.iter().map(|p| json!({ "bidder": p.bidder, "price": price(&p.content) })).collect();
    let reply = match msg.performative {
        Performative::Inform => round.request.inform(json!({
            "winner": winner, "price": won_at, "result": outcome["result"], "proposals": proposals,
            "round": round.call.conversation
        })),
        _ => round.request.failure(&format!("the winner `{winner}` failed: {}", outcome["error"])),
    };
    caxton_sdk::send(reply)
}

/// Run `f` on the round of conversation `cid`; forget the round when `f` says it is over.
fn with_round(cid: &str, f: impl FnOnce(&mut Round) -> Result<bool, String>) -> Result<(), String> {
    ROUNDS.with(|r| {
        let mut rounds = r.borrow_mut();
        let Some(round) = rounds.get_mut(cid) else { return Ok(()) }; // not a round of ours, or over
        let over = f(round)?;
        if over {
            rounds.remove(cid);
        }
        Ok(())
    })
}

struct Initiator;

impl Agent for Initiator {
    fn handle_message(msg: Message) -> Result<(), String> {
        if msg.performative == Performative::Request {
            return match msg.json_value()["action"].as_str() {
                Some("run") => start(msg),
                _ => caxton_sdk::send(msg.not_understood("expected a request with action `run`")),
            };
        }
        let cid = msg.conversation_id.clone().unwrap_or_default();
        with_round(&cid, |round| {
            if round.call.take(&msg) {
                return award_when_closed(round);
            }
            if msg.in_reply_to.as_deref() == Some(round.call.award_tag().as_str()) {
                report(round, &msg)?;
                return Ok(true);
            }
            Ok(false)
        })
    }

    /// The bid window closed: award among the proposals that came in.
    fn handle_timer(id: u64) -> Result<(), String> {
        let due = ROUNDS.with(|r| r.borrow().iter().find(|(_, round)| round.call.timer == id).map(|(c, _)| c.clone()));
        match due {
            Some(cid) => with_round(&cid, award_when_closed),
            None => Ok(()),
        }
    }

    fn capabilities() -> AgentProfile {
        AgentProfile {
            version: "0.1.0".into(),
            performatives: vec![
                Performative::Request,
                Performative::Propose,
                Performative::Refuse,
                Performative::Inform,
            ],
            protocols: vec![FIPA_CONTRACT_NET.into(), FIPA_REQUEST.into()],
            ontologies: Vec::new(),
            services: vec![caxton_sdk::ServiceDescription {
                name: "cnet-initiate".into(),
                description: "runs a Contract-Net round for a task".into(),
            }],
        }
    }
}

caxton_sdk::agent!(Initiator);
