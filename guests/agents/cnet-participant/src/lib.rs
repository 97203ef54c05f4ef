//! A bidder in a FIPA Contract-Net round: proposes a price for a task, or
//! refuses when its price is over the budget; performs the task when awarded.
//!
//! The price is derived from the bidder's name and the task, so a round is
//! repeatable.
use caxton_sdk::{json, log, Agent, AgentProfile, Message, Performative};

fn price(task: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in caxton_sdk::self_id().bytes().chain(task.bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    10 + hash % 90
}

struct Participant;

impl Agent for Participant {
    fn handle_message(msg: Message) -> Result<(), String> {
        let content = msg.json_value();
        let task = content["task"].as_str().unwrap_or_default().to_string();
        let reply = match msg.performative {
            Performative::Cfp => {
                let price = price(&task);
                match content["budget"].as_u64() {
                    Some(budget) if price > budget => {
                        msg.reply(Performative::Refuse, &json!({ "reason": "over budget", "price": price }))
                    }
                    _ => msg.propose(&json!({ "price": price })),
                }
            }
            Performative::AcceptProposal => {
                let me = caxton_sdk::self_id();
                msg.inform(json!(format!("`{task}` done by {me} for {}", price(&task))))
            }
            Performative::RejectProposal => {
                log::info("contract-net", "proposal rejected");
                return Ok(());
            }
            _ => msg.not_understood("a bidder understands cfp, accept-proposal and reject-proposal"),
        };
        caxton_sdk::send(reply)
    }

    fn capabilities() -> AgentProfile {
        AgentProfile {
            version: "0.1.0".into(),
            performatives: vec![Performative::Cfp, Performative::AcceptProposal, Performative::RejectProposal],
            protocols: vec!["fipa-contract-net".into()],
            ontologies: Vec::new(),
            services: vec![caxton_sdk::ServiceDescription {
                name: "cnet-bid".into(),
                description: "bids on tasks".into(),
            }],
        }
    }
}

caxton_sdk::agent!(Participant);
