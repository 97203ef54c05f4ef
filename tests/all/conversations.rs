//! Conversation records through the real binary: a Contract-Net round with
//! five bidders (real components) read back from `GET /v1/conversations/{id}`
//! and `caxton conversations`, and a client's protocol violation answered 409.

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
    let round = reply["content"]["result"]["round"].as_str().unwrap().to_string();
    assert!(round.starts_with("round-42:contract-net-") && round.len() == 22 + 16, "{round}");

    // the client's request and the initiator's answer: a fipa-request that ended done
    let (status, request) = server.request("GET", "/v1/conversations/round-42", "");
    assert_eq!(status, 200, "{request}");
    let acts: Vec<&str> =
        request["messages"].as_array().unwrap().iter().filter_map(|m| m["performative"].as_str()).collect();
    assert_eq!((acts, request["state"].as_str()), (vec!["request", "inform"], Some("done")), "{request}");
    assert_eq!(request["exchanges"]["initiator"]["step"], "done", "{request}");

    // the round itself, a conversation of its own that the initiator opened
    let (status, record) = server.request("GET", &format!("/v1/conversations/{round}"), "");
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        (record["initiator"].as_str(), record["protocol"].as_str(), record["state"].as_str()),
        (Some("initiator"), Some("fipa-contract-net"), Some("done"))
    );
    let messages = record["messages"].as_array().unwrap();
    let acts: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| (m["performative"].as_str().unwrap(), m["sender"].as_str().unwrap(), m["outcome"].as_str().unwrap()))
        .collect();
    let count = |act: &str| acts.iter().filter(|(a, _, _)| *a == act).count();
    // one cfp to every bidder, each bidder's answer, an award to each proposer, the winner's inform,
    // in the order the host saw them
    assert_eq!(count("cfp"), 1, "{acts:?}");
    assert_eq!(messages[0]["receivers"].as_array().map(Vec::len), Some(5), "{record}");
    assert_eq!(count("propose") + count("refuse"), 5, "{acts:?}");
    assert_eq!(count("accept-proposal"), 1, "{acts:?}");
    assert_eq!(count("reject-proposal"), count("propose") - 1, "{acts:?}");
    assert!(acts.iter().all(|(_, _, outcome)| *outcome == "delivered"), "{acts:?}");
    let position = |act: &str, sender: &str| acts.iter().position(|(a, s, _)| *a == act && *s == sender);
    let last_cfp = acts.iter().rposition(|(a, _, _)| *a == "cfp").unwrap();
    let last_bid = acts.iter().rposition(|(a, _, _)| *a == "propose" || *a == "refuse").unwrap();
    let award = position("accept-proposal", "initiator").unwrap();
    let done = position("inform", &winner).unwrap();
    assert!(last_cfp < last_bid && last_bid < award && award < done, "{acts:?}");
    // the winner may answer before the initiator has sent every reject: its inform is its last word
    assert_eq!(acts.iter().rposition(|(_, s, _)| *s == winner), Some(done), "{acts:?}");
    assert_eq!(record["exchanges"][&winner]["step"], "done", "{record}");
    let participants: Vec<&str> = record["participants"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(participants, ["bidder-1", "bidder-2", "bidder-3", "bidder-4", "bidder-5"]);

    // a client that breaks the protocol gets a 409 naming the protocol, the state and the allowed acts
    let late = json!({
        "performative": "propose", "receiver": "initiator", "sender": "bidder-x",
        "conversation_id": round, "protocol": "fipa-contract-net", "content": {}
    });
    let (status, refused) = server.request("POST", "/v1/messages", &late.to_string());
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("protocol-violation")), "{refused}");
    assert_eq!(
        (refused["error"]["state"].as_str(), refused["error"]["breach"].as_str()),
        (Some("done"), Some("ended"))
    );
    let (_, letters) = server.request("GET", "/v1/dead-letters", "");
    assert!(letters.to_string().contains("protocol-violation"), "{letters}");

    // listings filter by agent and protocol; an unknown id is a 404 with its own code
    let (_, listed) = server.request("GET", "/v1/conversations?agent=bidder-3&protocol=fipa-contract-net", "");
    let ids: Vec<&str> = listed["conversations"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(ids, [round.as_str()], "{listed}");
    let (_, listed) = server.request("GET", "/v1/conversations?state=done&protocol=fipa-request", "");
    assert_eq!(listed["conversations"][0]["id"], "round-42", "{listed}");
    let (status, missing) = server.request("GET", "/v1/conversations/nope", "");
    assert_eq!((status, missing["error"]["code"].clone()), (404, json!("no-such-conversation")));
    let (status, _) = server.request("GET", "/v1/conversations?limit=0", "");
    assert_eq!(status, 400);
    let (status, bad) = server.request("GET", "/v1/conversations?state=finished", "");
    assert_eq!((status, bad["error"]["code"].as_str()), (400, Some("bad-query")), "{bad}");
    let (status, _) = server.request("GET", "/v1/conversations?state=DONE", "");
    assert_eq!(status, 200, "states are read in any case");
    let long = json!({ "performative": "inform", "receiver": "initiator", "conversation_id": "c".repeat(300) });
    let (status, refused) = server.request("POST", "/v1/messages", &long.to_string());
    assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("bad-message")), "{refused}");

    // two rounds asked for in one client conversation (no protocol) are conversations of their own
    let mut rounds = std::collections::BTreeSet::new();
    for _ in 0..2 {
        let again = json!({
            "performative": "request", "receiver": "initiator", "conversation_id": "session-7",
            "content": { "action": "run", "task": "paint the gate", "budget": 100 }
        });
        let (status, reply) = server.send_and_wait(again);
        assert_eq!(status, 200, "{reply}");
        rounds.insert(reply["content"]["result"]["round"].as_str().unwrap().to_string());
    }
    assert!(rounds.len() == 2 && rounds.iter().all(|r| r.starts_with("session-7:contract-net-")), "{rounds:?}");

    // the CLI shows the same
    let url = format!("http://{}", server.addr);
    let out = caxton(&["conversations", &round, "--server", &url]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("accept-proposal") && shown.contains("delivered"), "{shown}");
    assert!(shown.starts_with(&format!("conversation {round} (fipa-contract-net): done, started by initiator")));
    assert!(shown.contains("PARTICIPANT") && shown.contains(&format!("{winner} ")), "{shown}");
    let out = caxton(&["conversations", "--state", "done", "--protocol", "fipa-request", "--server", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("round-42 "));
    let out = caxton(&["conversations", "--agent", "bidder-1", "--server", &url]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&round));
}
