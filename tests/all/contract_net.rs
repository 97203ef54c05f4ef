//! The FIPA Contract-Net example, end to end through the runtime.

use crate::support::*;
use caxton::acl::Performative;
use caxton::policy::Deployment;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_contract_net_round_awards_the_cheapest_bid_and_returns_the_winners_inform() {
    component("cnet_initiator");
    component("cnet_participant");
    let deployment = Deployment::load(&root().join("policies/contract-net.toml")).unwrap();
    let bidders = deployment.agents.iter().filter(|a| a.name.starts_with("bidder-")).count();
    assert!(bidders >= 5);
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;

    let reply = ask(&rt, "initiator", json!({ "action": "run", "task": "translate the manual", "budget": 80 })).await;
    assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
    let result = &content(&reply)["result"];
    let proposals = result["proposals"].as_array().unwrap();
    assert!(!proposals.is_empty() && proposals.len() <= bidders);
    let cheapest = proposals
        .iter()
        .min_by_key(|p| (p["price"].as_u64().unwrap(), p["bidder"].as_str().unwrap().to_string()))
        .unwrap();
    assert_eq!(result["winner"], cheapest["bidder"]);
    assert_eq!(result["price"], cheapest["price"]);
    assert!(proposals.iter().all(|p| p["price"].as_u64().unwrap() <= 80), "bids over budget are refusals");
    let winner = result["winner"].as_str().unwrap();
    assert!(result["result"].as_str().unwrap().contains(winner), "the inform comes from the winner");

    let none = ask(&rt, "initiator", json!({ "action": "run", "task": "translate the manual", "budget": 1 })).await;
    assert_eq!(none.performative, Performative::Failure);
    assert!(content(&none)["error"].as_str().unwrap().contains("refused"));
}
