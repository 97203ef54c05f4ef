//! The initiator of a FIPA Contract-Net round.
//!
//! A `request` `{"action": "run", "task": …, "budget": …}` starts a round in a
//! conversation of its own (`CONVERSATION:contract-net`, where CONVERSATION is
//! the request's): a `cfp` goes to every agent offering the `cnet-bid` service, each answers
//! `propose` (with a price) or `refuse` (or the host's `failure` when its
//! reply-by passes). The cheapest proposal gets `accept-proposal`, the others
//! `reject-proposal`, and the winner's `inform` is passed back to whoever asked.
use caxton_sdk::{json, timers, Agent, AgentProfile, DirectoryQuery, Message, Performative, Value};
use std::cell::RefCell;
use std::collections::HashMap;

const PROTOCOL: &str = "fipa-contract-net";
const BID_WINDOW_MS: u64 = 2_000;

struct Round {
    request: Message,
    task: Value,
    waiting: usize,
    proposals: Vec<(String, u64, Message)>,
    winner: Option<(String, u64)>,
}

thread_local! {
    static ROUNDS: RefCell<HashMap<String, Round>> = RefCell::new(HashMap::new());
    /// Bid-window timers: timer id → the round's conversation.
    static WINDOWS: RefCell<HashMap<u64, String>> = RefCell::new(HashMap::new());
}

fn start(msg: Message) -> Result<(), String> {
    let content = msg.json_value();
    // the round is a conversation of its own protocol, nested in the request's
    let cid = format!("{}:contract-net", msg.conversation_id.clone().unwrap_or_default());
    let bidders = caxton_sdk::search(&DirectoryQuery::service("cnet-bid"));
    if bidders.is_empty() {
        return caxton_sdk::send(msg.failure("no agent offers the `cnet-bid` service"));
    }
    let cfp_content = json!({ "task": content["task"], "budget": content["budget"] });
    let mut cfp = Message::new(Performative::Cfp, "", &cfp_content);
    cfp.receivers = bidders.clone();
    cfp.protocol = Some(PROTOCOL.into());
    cfp.conversation_id = Some(cid.clone());
    cfp.reply_by = Some(caxton_sdk::unix_millis() + BID_WINDOW_MS);
    caxton_sdk::send(cfp)?;
    // the window closes on our own clock too: late bids are refused by the host, silence is not
    let timer = timers::set(BID_WINDOW_MS + 1).map_err(|e| e.sentence())?;
    WINDOWS.with(|w| w.borrow_mut().insert(timer, cid.clone()));
    let round = Round {
        request: msg,
        task: content["task"].clone(),
        waiting: bidders.len(),
        proposals: Vec::new(),
        winner: None,
    };
    ROUNDS.with(|r| r.borrow_mut().insert(cid, round));
    Ok(())
}

/// A bidder answered (propose, refuse, or a failure): award once all have.
fn answer(round: &mut Round, msg: &Message) -> Result<(), String> {
    if msg.performative == Performative::Propose {
        let price = msg.json_value()["price"].as_u64().ok_or("a proposal without a price")?;
        round.proposals.push((msg.sender.clone(), price, msg.clone()));
    }
    round.waiting = round.waiting.saturating_sub(1);
    if round.waiting > 0 {
        return Ok(());
    }
    award(round)
}

/// Accept the cheapest proposal and reject the others (or fail the request when there is none).
fn award(round: &mut Round) -> Result<(), String> {
    if round.winner.is_some() {
        return Ok(());
    }
    let Some(best) = round.proposals.iter().min_by_key(|(name, price, _)| (*price, name.clone())).cloned() else {
        round.winner = Some((String::new(), 0));
        return caxton_sdk::send(round.request.failure("no bidder proposed: every bidder refused or stayed silent"));
    };
    for (name, _, proposal) in &round.proposals {
        let (act, content) = if *name == best.0 {
            (Performative::AcceptProposal, json!({ "task": round.task }))
        } else {
            (Performative::RejectProposal, json!({ "reason": format!("{} offered less", best.0) }))
        };
        let mut reply = proposal.reply(act, &content);
        reply.reply_with = Some(format!("{}/award", proposal.conversation_id.clone().unwrap_or_default()));
        caxton_sdk::send(reply)?;
    }
    round.winner = Some((best.0, best.1));
    Ok(())
}

/// Whether the round ended with no proposal (its request was answered with a failure).
fn failed(round: &Round) -> bool {
    round.winner.as_ref().is_some_and(|(winner, _)| winner.is_empty())
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
        let Some(mut round) = ROUNDS.with(|r| r.borrow_mut().remove(&cid)) else {
            return Ok(()); // not a round of ours (or already finished)
        };
        let awarded = msg.in_reply_to.as_deref() == Some(&format!("{cid}/award"));
        match (awarded, &round.winner) {
            (true, Some((winner, price))) => {
                let outcome = msg.json_value();
                let proposals: Vec<Value> =
                    round.proposals.iter().map(|(n, p, _)| json!({ "bidder": n, "price": p })).collect();
                let reply = match msg.performative {
                    Performative::Inform => round.request.inform(json!({
                        "winner": winner, "price": price, "result": outcome["result"], "proposals": proposals
                    })),
                    _ => round.request.failure(&format!("the winner `{winner}` failed: {}", outcome["error"])),
                };
                return caxton_sdk::send(reply);
            }
            (false, None) => answer(&mut round, &msg)?,
            _ => {}
        }
        if !failed(&round) {
            ROUNDS.with(|r| r.borrow_mut().insert(cid, round));
        }
        Ok(())
    }

    /// The bid window closed: award among the proposals that came in.
    fn handle_timer(id: u64) -> Result<(), String> {
        let Some(cid) = WINDOWS.with(|w| w.borrow_mut().remove(&id)) else { return Ok(()) };
        ROUNDS.with(|r| {
            let mut rounds = r.borrow_mut();
            let Some(round) = rounds.get_mut(&cid) else { return Ok(()) };
            let awarded = award(round);
            if failed(round) {
                rounds.remove(&cid);
            }
            awarded
        })
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
            protocols: vec![PROTOCOL.into(), "fipa-request".into()],
            ontologies: Vec::new(),
            services: vec![caxton_sdk::ServiceDescription {
                name: "cnet-initiate".into(),
                description: "runs a Contract-Net round for a task".into(),
            }],
        }
    }
}

caxton_sdk::agent!(Initiator);
