//! Conversation records through the real binary: a Contract-Net round with
//! five bidders (real components) read back from `GET /v1/conversations/{id}`
//! and `caxton conversations`.

use crate::support::component;
use crate::support::process::{caxton, Server};
use serde_json::{json, Value};

#[test]
fn a_contract_net_round_with_five_bidders_is_kept_in_order_with_every_outcome() {
    component("cnet_initiator");
    let server = Server::start("policies/contract-net.toml");
    let round = json!({
        "performative": "request", "receiver": "initiator", "conversation_id": "round-42",
        "protocol": "fipa-request",
        "content": { "action": "run", "task": "paint the fence", "budget": 100 }
    });
    let (status, reply) = server.send_and_wait(round);
    assert_eq!(status, 200, "{reply}");
    let winner = reply["content"]["result"]["winner"].as_str().unwrap().to_string();

    let (status, record) = server.request("GET", "/v1/conversations/round-42", "");
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        (record["initiator"].as_str(), record["protocol"].as_str()),
        (Some("http-client"), Some("fipa-request"))
    );
    let messages = record["messages"].as_array().unwrap();
    let acts: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| (m["performative"].as_str().unwrap(), m["sender"].as_str().unwrap(), m["outcome"].as_str().unwrap()))
        .collect();
    let count = |act: &str| acts.iter().filter(|(a, _, _)| *a == act).count();
    // the client's request, a cfp to each bidder, each bidder's answer, an award to each proposer,
    // the winner's inform, and the initiator's inform to the client — in the order the host saw them
    assert_eq!(acts.first(), Some(&("request", "http-client", "delivered")), "{acts:?}");
    assert_eq!(count("cfp"), 5, "{acts:?}");
    assert_eq!(count("propose") + count("refuse"), 5, "{acts:?}");
    assert_eq!(count("accept-proposal"), 1, "{acts:?}");
    assert_eq!(count("reject-proposal"), count("propose") - 1, "{acts:?}");
    assert!(acts.iter().all(|(_, _, outcome)| *outcome == "delivered"), "{acts:?}");
    let position = |act: &str, sender: &str| acts.iter().position(|(a, s, _)| *a == act && *s == sender);
    let first_cfp = acts.iter().position(|(a, _, _)| *a == "cfp").unwrap();
    let last_bid = acts.iter().rposition(|(a, _, _)| *a == "propose" || *a == "refuse").unwrap();
    let award = position("accept-proposal", "initiator").unwrap();
    let done = position("inform", &winner).unwrap();
    assert!(first_cfp < last_bid && last_bid < award && award < done, "{acts:?}");
    assert_eq!(acts.last().map(|(a, s, _)| (*a, *s)), Some(("inform", "initiator")), "{acts:?}");
    let participants: Vec<&str> = record["participants"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(participants, ["bidder-1", "bidder-2", "bidder-3", "bidder-4", "bidder-5", "initiator"]);

    // listings filter by agent and protocol; an unknown id is a 404 with its own code
    let (_, listed) = server.request("GET", "/v1/conversations?agent=bidder-3&protocol=fipa-request", "");
    let ids: Vec<&str> = listed["conversations"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, ["round-42"], "{listed}");
    let (status, missing) = server.request("GET", "/v1/conversations/nope", "");
    assert_eq!((status, missing["error"]["code"].clone()), (404, json!("no-such-conversation")));
    let (status, _) = server.request("GET", "/v1/conversations?limit=0", "");
    assert_eq!(status, 400);

    // the CLI shows the same
    let url = format!("http://{}", server.addr);
    let out = caxton(&["conversations", "round-42", "--server", &url]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("accept-proposal") && shown.contains("delivered"), "{shown}");
    let out = caxton(&["conversations", "--agent", "bidder-1", "--server", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("round-42"));
}
