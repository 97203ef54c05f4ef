//! Virtual agents across the hosts of a cluster: real `caxton serve`
//! processes on a real `nats-server`, real HTTP. An instance lives on one host
//! of its type at a time; each host keeps its own kv-store, so an instance's
//! state stays on the host that held it. Waits poll for a state, never for a time.

use crate::support::component;
use crate::support::nats::{key_file, Host, Nats};
use caxton::acl::{Message, Performative};
use caxton::cluster::envelope::Seal;
use caxton::cluster::wire::Delivery;
use serde_json::json;
use std::time::{Duration, Instant};

/// `increment` the instance `to` through `host`; the count it answers.
fn increment(host: &Host, to: &str) -> i64 {
    let msg = json!({ "performative": "request", "receiver": to, "content": { "action": "increment" } });
    let (status, reply) = host.request("POST", "/v1/messages?wait_ms=10000", &msg.to_string());
    assert_eq!(status, 200, "{to} through {}: {reply}", host.addr);
    reply["content"]["result"]["count"].as_i64().unwrap_or_else(|| panic!("{reply}"))
}

/// The instances of `account` in memory on `host`, sorted.
fn active(host: &Host) -> Vec<String> {
    let (status, listed) = host.request("GET", "/v1/agents?type=account", "");
    assert_eq!(status, 200, "{listed}");
    let names = listed["agents"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = names.iter().filter_map(|a| a["name"].as_str().map(str::to_string)).collect();
    names.sort();
    names
}

#[test]
fn an_instance_lives_on_one_host_of_its_type_and_on_another_while_that_host_is_away() {
    component("counter");
    let nats = Nats::start();
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let start =
        |id: &str| Host::start(&nats, id, &key, &dir.path().join(id), &["--deployment", "policies/accounts.toml"]);
    let (a, mut b) = (start("a"), start("b"));
    a.wait_for_type("b", "account", true);
    b.wait_for_type("a", "account", true);
    let mut keys: Vec<String> = (0..16).map(|i| format!("account/k{i}")).collect();
    keys.sort();
    for key in &keys {
        assert_eq!(increment(&a, key), 1, "{key}");
    }
    for key in &keys {
        assert_eq!(increment(&b, key), 2, "{key}: one instance, whichever host is asked");
    }
    let (on_a, on_b) = (active(&a), active(&b));
    assert!(!on_a.is_empty() && !on_b.is_empty(), "the instances are spread: a {on_a:?}, b {on_b:?}");
    let mut everywhere = [on_a.clone(), on_b.clone()].concat();
    everywhere.sort();
    assert_eq!(everywhere, keys, "each instance is in memory on exactly one host");
    // the type both hosts run is one directory entry
    let (_, directory) = a.request("GET", "/v1/directory", "");
    let entries = directory["agents"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.iter().filter(|e| e["name"] == "account").count(), 1, "{directory}");
    let (moved, stayed) = (on_b[0].clone(), on_a[0].clone());

    // a holder of the cluster key posing as host `c`, which runs no `account`, cannot speak for an instance
    let subject = "caxton.test.deliver.b";
    let mut forged = Message::new(Performative::Request, vec![moved.clone()], r#"{"action":"increment"}"#.into());
    forged.sender = stayed.clone();
    let delivery =
        Delivery { receivers: vec![moved.clone()], credited: false, ask: None, to_boot: None, message: forged };
    let cluster_key = std::fs::read_to_string(&key).unwrap().trim().as_bytes().to_vec();
    let (payload, mac, _) = Seal::new(cluster_key, "c").seal(subject, &vec![delivery]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Caxton-Mac", mac.as_str());
        client.publish_with_headers(subject, headers, payload.into()).await.unwrap();
        client.flush().await.unwrap();
    });
    let started = Instant::now();
    while b.request("GET", "/v1/cluster", "").1["dropped"]["impersonation"].as_u64().unwrap_or(0) < 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", b.request("GET", "/v1/cluster", "").1);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(increment(&b, &moved), 3, "the forged increment was not applied");

    // b is killed: its instances are placed on a, which has not got their state
    let _ = b.process.0.kill();
    let _ = b.process.0.wait();
    a.wait_for_type("b", "account", false);
    assert_eq!(increment(&a, &moved), 1, "{moved} starts afresh on a: its count is in b's kv-store");
    assert_eq!(increment(&a, &stayed), 3, "{stayed} never left a");

    // b is back on its data: the instance is placed on b again, a passivates its copy once idle,
    // and b still has the count it kept
    b = start("b");
    a.wait_for_type("b", "account", true);
    let started = Instant::now();
    while active(&a).contains(&moved) {
        assert!(started.elapsed() < Duration::from_secs(60), "a kept {moved} in memory after b came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(increment(&a, &moved), 4, "{moved} is back on b with b's count");
    assert!(active(&b).contains(&moved), "{:?}", active(&b));
    assert!(!active(&a).contains(&moved));
}
