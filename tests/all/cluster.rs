//! Hosts of one cluster over a real `nats-server`: real `caxton serve`
//! processes, real HTTP, real NATS. Waits poll for a state (with a generous
//! safety net), never for a time.

use crate::support::component;
use crate::support::nats::{key_file, settled, Host, Nats};
use caxton::acl::{Message, Performative};
use caxton::cluster::envelope::Seal;
use caxton::cluster::wire::Delivery;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn uppercase(text: &str) -> Value {
    json!({
        "performative": "request", "receiver": "text-processor",
        "content": { "action": "process_data", "data": { "operation": "uppercase", "data": text } }
    })
}

/// Two hosts on one NATS: `a` runs `agents_a` of `deployment`, `b` runs `agents_b`.
struct Pair {
    nats: Nats,
    dir: tempfile::TempDir,
    a: Host,
    b: Host,
}

impl Pair {
    fn start(deployment: &str, agents_a: &str, agents_b: &str) -> Pair {
        Pair::start_on(Nats::start(), deployment, agents_a, agents_b)
    }

    fn start_on(nats: Nats, deployment: &str, agents_a: &str, agents_b: &str) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(dir.path());
        let host = |id: &str, agents: &str| {
            let data = dir.path().join(id);
            let mut args = vec![];
            if !agents.is_empty() {
                args = vec!["--deployment", deployment, "--agents", agents];
            }
            Host::start(&nats, id, &key, &data, &args)
        };
        let (a, b) = (host("a", agents_a), host("b", agents_b));
        Pair { nats, dir, a, b }
    }

    fn restart_b(&mut self, args: &[&str]) {
        let key = key_file(self.dir.path());
        self.b = Host::start(&self.nats, "b", &key, &self.dir.path().join("b"), args);
    }
}

/// `caxton deploy` of the demo's text-processor through `host`.
fn deploy_text_processor(host: &Host) -> std::process::Output {
    let server = format!("http://{}", host.addr);
    let args =
        ["deploy", "components/text_processor.wasm", "--name", "text-processor", "--policy", "policies/demo.toml"];
    crate::support::process::caxton(&[&args[..], &["--server", &server]].concat())
}

#[test]
fn a_client_of_one_host_sends_and_waits_for_an_agent_on_another() {
    component("text_processor");
    let pair = Pair::start("policies/demo.toml", "counter", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &uppercase("across hosts").to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["sender"], "text-processor");
    assert_eq!(reply["content"]["result"]["result"], "ACROSS HOSTS");
    // fire-and-forget through the other host is accepted too
    let (status, _) = pair.a.request("POST", "/v1/messages", &uppercase("no wait").to_string());
    assert_eq!(status, 202);
    // the directory of either host lists both hosts' agents
    for host in [&pair.a, &pair.b] {
        let (_, directory) = host.request("GET", "/v1/directory", "");
        let names: Vec<&str> =
            directory["agents"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
        assert_eq!(names, ["counter", "text-processor"], "{directory}");
    }
    // a client may not pose as an agent of another host
    let posing = json!({ "performative": "inform", "sender": "text-processor", "receiver": "counter", "content": {} });
    let (status, reply) = pair.a.request("POST", "/v1/messages", &posing.to_string());
    assert_eq!(status, 400, "{reply}");
}

#[test]
fn a_name_one_host_runs_is_refused_on_another_with_that_hosts_name() {
    component("text_processor");
    let pair = Pair::start("policies/demo.toml", "", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    let out = deploy_text_processor(&pair.a);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("already runs on host `b`"), "{said}");
}

#[test]
fn the_contract_net_round_completes_with_bidders_on_two_hosts() {
    component("cnet_initiator");
    let pair = Pair::start("policies/contract-net.toml", "initiator,bidder-1,bidder-2", "bidder-3,bidder-4,bidder-5");
    pair.a.wait_for("b", "bidder-5", true);
    let (_, directory) = pair.a.request("GET", "/v1/directory?service=cnet-bid", "");
    let bidders: Vec<&str> =
        directory["agents"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(bidders, ["bidder-1", "bidder-2", "bidder-3", "bidder-4", "bidder-5"]);
    let round = json!({
        "performative": "request", "receiver": "initiator",
        "content": { "action": "run", "task": "paint the fence", "budget": 100 }
    });
    // what both hosts dead-lettered and recorded, to tell why a round was not answered
    let evidence = || {
        [&pair.a, &pair.b]
            .map(|h| {
                format!(
                    "{}\n{}",
                    h.request("GET", "/v1/dead-letters", "").1,
                    h.request("GET", "/v1/conversations", "").1
                )
            })
            .join("\n")
    };
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=20000", &round.to_string());
    assert_eq!(status, 200, "{reply}\n{}", evidence());
    assert_eq!(reply["performative"], "inform");
    let winner = reply["content"]["result"]["winner"].as_str().unwrap();
    assert!(winner.starts_with("bidder-"), "{reply}");
    // the host that runs no initiator passes the round on as well
    let (status, reply) = pair.b.request("POST", "/v1/messages?wait_ms=20000", &round.to_string());
    assert_eq!(status, 200, "{reply}\n{}", evidence());
}

#[test]
fn a_forged_or_unsigned_envelope_on_nats_is_dropped_and_counted() {
    component("text_processor");
    let pair = Pair::start("policies/demo.toml", "", "counter");
    pair.a.wait_for("b", "counter", true);
    // a well-formed delivery of increments in the counter's name, sealed under a key that is not the cluster's
    let subject = "caxton.test.deliver.b";
    let mut increment = Message::new(Performative::Request, vec!["counter".into()], r#"{"action":"increment"}"#.into());
    increment.sender = "intruder".into();
    let delivery =
        Delivery { receivers: vec!["counter".into()], credited: false, ask: None, to_boot: None, message: increment };
    let (envelope, wrong_mac, _) = Seal::new(vec![9; 32], "a").seal(subject, &vec![delivery]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(pair.nats.url()).await.unwrap();
        // unsigned
        client.publish(subject, envelope.clone().into()).await.unwrap();
        // signed with a key that is not the cluster's
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Caxton-Mac", wrong_mac.as_str());
        client.publish_with_headers(subject, headers, envelope.into()).await.unwrap();
        client.flush().await.unwrap();
    });
    let dropped = |why: &str| pair.b.request("GET", "/v1/cluster", "").1["dropped"][why].as_u64().unwrap_or(0);
    let started = Instant::now();
    while dropped("unsigned") < 1 || dropped("forged") < 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", pair.b.request("GET", "/v1/cluster", "").1);
        std::thread::sleep(Duration::from_millis(50));
    }
    // the counter never counted the intruder's increments
    let ask = json!({ "performative": "request", "receiver": "counter", "content": { "action": "get" } });
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &ask.to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"]["result"]["count"], 0, "{reply}");
    let (_, metrics) = pair.b.request("GET", "/metrics", "");
    assert!(metrics.as_str().unwrap().contains("caxton_cluster_envelopes_dropped_total{reason=\"forged\"} 1"));
}

#[test]
fn a_killed_host_leaves_the_directory_and_comes_back_with_its_agents() {
    component("text_processor");
    let mut pair = Pair::start("policies/demo.toml", "counter", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    let _ = pair.b.process.0.kill();
    let _ = pair.b.process.0.wait();
    pair.a.wait_for("b", "text-processor", false);
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=5000", &uppercase("anyone?").to_string());
    assert_eq!(status, 404, "an agent of a host that left is not there: {reply}");
    assert_eq!(reply["error"]["code"], "no-such-agent");
    // the counter on the surviving host never stopped answering
    let ask = json!({ "performative": "request", "receiver": "counter", "content": { "action": "get" } });
    assert_eq!(pair.a.request("POST", "/v1/messages?wait_ms=10000", &ask.to_string()).0, 200);
    // restarted on the same data, its agents are restored and reachable again
    pair.restart_b(&[]);
    pair.a.wait_for("b", "text-processor", true);
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &uppercase("back").to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"]["result"]["result"], "BACK");
}

#[test]
fn while_nats_is_down_local_traffic_goes_on_and_cross_host_traffic_resumes_after() {
    component("text_processor");
    let mut pair = Pair::start("policies/demo.toml", "counter", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    pair.nats.stop();
    for _ in 0..3 {
        let (status, reply) = pair.b.request("POST", "/v1/messages?wait_ms=10000", &uppercase("local").to_string());
        assert_eq!(status, 200, "local traffic goes on without NATS: {reply}");
    }
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &uppercase("remote").to_string());
    let code = reply["error"]["code"].as_str().unwrap_or_default().to_string();
    assert!(
        (status, code.as_str()) == (503, "host-unreachable") || (status, code.as_str()) == (404, "no-such-agent"),
        "a cross-host send fails typed while NATS is down: {status} {reply}"
    );
    pair.nats.restart();
    let started = Instant::now();
    loop {
        let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &uppercase("again").to_string());
        if status == 200 {
            assert_eq!(reply["content"]["result"]["result"], "AGAIN");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "cross-host traffic never resumed: {status} {reply}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A deployment of `bus-probe`s in `dir`: each name with its mailbox size.
fn probes(dir: &std::path::Path, agents: &[(&str, u32)]) -> String {
    let component = component("bus_probe");
    let mut toml = String::from("[deployment]\nname = \"probes\"\n");
    for (name, mailbox) in agents {
        toml += &format!(
            "\n[[agent]]\nname = \"{name}\"\ncomponent = \"{}\"\n[agent.grants]\nmessaging = {{ send-to = [\"*\"], broadcast = true, publish = [\"*\"], subscribe = [\"*\"] }}\n\
             kv-store = {{ quota-bytes = 1_048_576, max-keys = 1_000 }}\ntimers = {{ max-active = 4 }}\n\
             [agent.limits]\nmailbox = {mailbox}\ndeadline-micros = 10_000_000\ncpu-micros-per-message = 10_000_000\n",
            component.display()
        );
    }
    let path = dir.join("probes.toml");
    std::fs::write(&path, toml).unwrap();
    path.to_str().unwrap().to_string()
}

/// Ask `agent` (through `host`) to do `action` and return the `result` of its answer.
fn ask(host: &Host, agent: &str, action: Value) -> Value {
    let request = json!({ "performative": "request", "receiver": agent, "content": action });
    let (status, reply) = host.request("POST", "/v1/messages?wait_ms=20000", &request.to_string());
    assert_eq!(status, 200, "{agent} {action}: {reply}");
    reply["content"]["result"].clone()
}

#[test]
fn agents_on_two_hosts_search_broadcast_publish_and_keep_each_senders_order() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = probes(
        dir.path(),
        &[("probe-a", 1000), ("quoter-a", 1000), ("quoter-b", 1000), ("listener-b", 1000), ("recorder-b", 1000)],
    );
    let pair = Pair::start(&deployment, "probe-a,quoter-a", "quoter-b,listener-b,recorder-b");
    pair.a.wait_for("b", "recorder-b", true);
    // order per sender→receiver pair across hosts, under concurrency: an agent's flood and HTTP clients
    let clients: Vec<_> = (0..3)
        .map(|client| {
            let addr = pair.a.addr.clone();
            std::thread::spawn(move || {
                for seq in 0..40 {
                    let msg = json!({ "performative": "inform", "sender": format!("client-{client}"),
                                      "receiver": "recorder-b", "content": { "seq": seq } });
                    let (status, _) =
                        crate::support::process::http(&addr, "POST", "/v1/messages", &msg.to_string()).unwrap();
                    assert_eq!(status, 202);
                }
            })
        })
        .collect();
    let flood = ask(&pair.a, "probe-a", json!({ "action": "flood", "to": "recorder-b", "count": 100 }));
    assert_eq!(flood["sent"], 100, "{flood}");
    for client in clients {
        client.join().unwrap();
    }
    let mut by_sender: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for event in ask(&pair.a, "recorder-b", json!({ "action": "dump" })).as_array().unwrap() {
        let from = event["from"].as_str().unwrap().to_string();
        by_sender.entry(from).or_default().push(event["content"]["seq"].as_u64().unwrap());
    }
    assert_eq!(by_sender.remove("probe-a").unwrap(), (0..100).collect::<Vec<u64>>());
    assert_eq!(by_sender.len(), 3);
    for (sender, seqs) in by_sender {
        assert_eq!(seqs, (0..40).collect::<Vec<u64>>(), "order from {sender}");
    }
    // the directory, broadcasts and topics span both hosts
    assert_eq!(
        ask(&pair.a, "probe-a", json!({ "action": "search", "service": "quote" })),
        json!(["quoter-a", "quoter-b"])
    );
    assert_eq!(ask(&pair.a, "probe-a", json!({ "action": "broadcast", "service": "quote" })), 2);
    assert_eq!(ask(&pair.a, "probe-a", json!({ "action": "publish", "topic": "prices.eu" })), 1);
    for (agent, content) in
        [("quoter-b", json!({ "broadcast": true })), ("listener-b", json!({ "topic": "prices.eu" }))]
    {
        let heard = ask(&pair.b, agent, json!({ "action": "dump" }));
        let from_a: Vec<&Value> = heard.as_array().unwrap().iter().filter(|e| e["from"] == "probe-a").collect();
        assert_eq!(from_a.len(), 1, "{agent}: {heard}");
        assert_eq!(from_a[0]["content"], content);
    }
    // the hop count crosses hosts with the message: a ping-pong between hosts stops at the hop limit
    ask(&pair.a, "probe-a", json!({ "action": "bounce", "to": "quoter-b" }));
    let stopped = || {
        [&pair.a, &pair.b].iter().any(|host| {
            let (_, letters) = host.request("GET", "/v1/dead-letters", "");
            letters["dead_letters"].as_array().is_some_and(|l| l.iter().any(|d| d["reason"] == "hop-limit"))
        })
    };
    let started = Instant::now();
    while !stopped() {
        assert!(started.elapsed() < Duration::from_secs(30), "the bounce never hit the hop limit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_full_mailbox_on_another_host_refuses_the_sender_with_the_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = probes(dir.path(), &[("flooder", 1000), ("slow", 2)]);
    let pair = Pair::start(&deployment, "flooder", "slow");
    pair.a.wait_for("b", "slow", true);
    // keep `slow` busy on its own host, then flood it from the other one
    let spin = json!({ "performative": "request", "receiver": "slow", "content": { "action": "spin", "ms": 3000 } });
    assert_eq!(pair.b.request("POST", "/v1/messages", &spin.to_string()).0, 202);
    let result = ask(&pair.a, "flooder", json!({ "action": "flood", "to": "slow", "count": 20 }));
    let (sent, refused) = (result["sent"].as_u64().unwrap(), result["refused"].as_array().unwrap());
    assert!(sent <= 3, "a mailbox of 2 (plus the message in hand) took {sent}");
    assert_eq!(sent + refused.len() as u64, 20);
    assert!(refused[0].as_str().unwrap().contains("mailbox of `slow` is full"), "{refused:?}");
    let (_, letters) = pair.a.request("GET", "/v1/dead-letters", "");
    let full = letters["dead_letters"].as_array().unwrap().iter().filter(|d| d["reason"] == "mailbox-full").count();
    assert_eq!(full, refused.len(), "each refusal is a dead letter on the sender's host");
    // over HTTP too: 503 mailbox-full through the other host
    let more = json!({ "performative": "inform", "receiver": "slow", "content": {} });
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(pair.a.request("POST", "/v1/messages", &more.to_string()));
    }
    let (status, reply) = statuses.into_iter().find(|(s, _)| *s != 202).expect("the full mailbox refused nothing");
    assert_eq!((status, reply["error"]["code"].as_str()), (503, Some("mailbox-full")), "{reply}");
}

#[test]
fn an_envelope_captured_on_nats_and_sent_again_is_dropped_as_a_replay() {
    component("counter");
    let mut pair = Pair::start("policies/demo.toml", "", "counter");
    pair.a.wait_for("b", "counter", true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let _in_runtime = runtime.enter();
    let client = runtime.block_on(async_nats::connect(pair.nats.url())).unwrap();
    // anyone with NATS credentials may listen in (the envelope is signed, not secret)
    let mut tap = runtime.block_on(client.subscribe("caxton.test.deliver.b")).unwrap();
    runtime.block_on(settled(&client));
    let increment = json!({ "performative": "request", "receiver": "counter", "content": { "action": "increment" } });
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &increment.to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"]["result"]["count"], 1);
    let captured = runtime.block_on(async {
        use futures_util::StreamExt;
        tokio::time::timeout(Duration::from_secs(30), tap.next()).await.unwrap().unwrap()
    });
    let headers = captured.headers.clone().unwrap_or_else(|| panic!("no headers on {captured:?}"));
    let _ = runtime.block_on(tokio::time::timeout(
        Duration::from_secs(2),
        client.request_with_headers("caxton.test.deliver.b", headers, captured.payload.clone()),
    ));
    let replayed = |b: &Host| b.request("GET", "/v1/cluster", "").1["dropped"]["replayed"].as_u64().unwrap_or(0);
    let started = Instant::now();
    while replayed(&pair.b) < 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", pair.b.request("GET", "/v1/cluster", "").1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let get = json!({ "performative": "request", "receiver": "counter", "content": { "action": "get" } });
    let (_, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &get.to_string());
    assert_eq!(reply["content"]["result"]["count"], 1, "the replayed increment was not applied: {reply}");
    // nor by the same host after a restart, which keeps no memory of the numbers it saw
    let _ = pair.b.process.0.kill();
    let _ = pair.b.process.0.wait();
    pair.restart_b(&[]);
    pair.a.wait_for("b", "counter", true);
    let headers = captured.headers.clone().unwrap();
    let _ = runtime.block_on(tokio::time::timeout(
        Duration::from_secs(2),
        client.request_with_headers("caxton.test.deliver.b", headers, captured.payload.clone()),
    ));
    let started = Instant::now();
    while replayed(&pair.b) < 1 {
        assert!(started.elapsed() < Duration::from_secs(30), "{}", pair.b.request("GET", "/v1/cluster", "").1);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &get.to_string());
    assert_eq!(reply["content"]["result"]["count"], 1, "not applied after the restart either: {reply}");
}

#[test]
fn a_request_to_another_host_past_its_reply_by_answers_504_and_leaves_a_dead_letter() {
    component("ticker");
    let pair = Pair::start("policies/demo.toml", "", "ticker");
    pair.a.wait_for("b", "ticker", true);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let late = json!({
        "performative": "request", "receiver": "ticker", "reply_by": now + 300,
        "content": { "action": "schedule", "delay_ms": 60000 }
    });
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=20000", &late.to_string());
    assert_eq!((status, reply["error"]["code"].clone()), (504, json!("reply-by-passed")), "{reply}");
    let (_, letters) = pair.a.request("GET", "/v1/dead-letters", "");
    let letters = letters["dead_letters"].as_array().unwrap();
    assert!(letters.iter().any(|d| d["reason"] == "reply-by" && d["receiver"] == "ticker"), "{letters:?}");
}

#[test]
fn a_message_larger_than_nats_carries_is_refused_at_send_with_too_large_and_smaller_ones_go() {
    component("text_processor");
    let config = tempfile::tempdir().unwrap();
    let conf = config.path().join("nats.conf");
    std::fs::write(&conf, "max_payload: 65536\n").unwrap();
    let nats = Nats::start_with(&["-c", conf.to_str().unwrap()]);
    let pair = Pair::start_on(nats, "policies/demo.toml", "", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    let (status, reply) =
        pair.a.request("POST", "/v1/messages?wait_ms=5000", &uppercase(&"x".repeat(80_000)).to_string());
    assert_eq!((status, reply["error"]["code"].clone()), (413, json!("too-large")), "{reply}");
    let sentence = reply["error"]["message"].as_str().unwrap();
    assert!(sentence.contains("65536") && sentence.contains("host `b`"), "{sentence}");
    let (_, letters) = pair.a.request("GET", "/v1/dead-letters", "");
    let letters = letters["dead_letters"].as_array().unwrap();
    assert!(letters.iter().any(|d| d["reason"] == "too-large" && d["receiver"] == "text-processor"), "{letters:?}");
    // a message that fits still goes, in the same batch format
    let (status, reply) =
        pair.a.request("POST", "/v1/messages?wait_ms=5000", &uppercase(&"y".repeat(30_000)).to_string());
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["content"]["result"]["result"], "Y".repeat(30_000));
}

#[test]
fn a_host_that_cannot_reach_nats_or_authenticate_says_so_and_exits_non_zero() {
    let nats = Nats::start_with(&["--auth", "s3cret-token"]);
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path());
    let serve = |url: &str, extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--cluster", url, "--host-id", "a"];
        args.extend_from_slice(&["--cluster-key-file", key.to_str().unwrap(), "--data"]);
        let data = dir.path().join("data");
        let data = data.to_str().unwrap().to_string();
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.push(data);
        all.extend(extra.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        crate::support::process::caxton(&all)
    };
    let out = serve("nats://127.0.0.1:1", &[]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("cannot connect to NATS at `nats://127.0.0.1:1`"), "{said}");
    let out = serve(&nats.url(), &[]);
    assert!(!out.status.success(), "no token: refused by the server");
    let token = dir.path().join("nats.token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let key_less = crate::support::process::caxton(&["serve", "--cluster", &nats.url(), "--host-id", "a"]);
    assert!(String::from_utf8_lossy(&key_less.stderr).contains("--cluster-key-file"), "a cluster needs its key");
    // with the token it joins and serves
    let data = dir.path().join("joined");
    let host = Host::start(&nats, "a", &key, &data, &["--nats-token-file", token.to_str().unwrap()]);
    let (status, cluster) = host.request("GET", "/v1/cluster", "");
    assert_eq!(status, 200);
    assert_eq!((cluster["cluster"].as_str(), cluster["connected"].as_bool()), (Some("test"), Some(true)), "{cluster}");
}

#[test]
fn a_clustered_host_removes_agents_and_stops_on_sigterm_and_the_others_see_it_leave() {
    component("text_processor");
    let mut pair = Pair::start("policies/demo.toml", "counter", "text-processor,ticker");
    pair.a.wait_for("b", "ticker", true);
    // host a holds credits for text-processor; a redeploy on b replaces its mailbox: sends go on
    for _ in 0..5 {
        assert_eq!(pair.a.request("POST", "/v1/messages", &uppercase("before").to_string()).0, 202);
    }
    let out = deploy_text_processor(&pair.b);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for _ in 0..40 {
        assert_eq!(pair.a.request("POST", "/v1/messages", &uppercase("after").to_string()).0, 202);
    }
    let (status, reply) = pair.a.request("POST", "/v1/messages?wait_ms=10000", &uppercase("redeployed").to_string());
    assert_eq!((status, reply["content"]["result"]["result"].as_str()), (200, Some("REDEPLOYED")), "{reply}");
    // host b holds mailbox slots for host a (credits): removing the agent gives them back
    let (status, reply) = pair.b.request("DELETE", "/v1/agents/ticker", "");
    assert_eq!(status, 200, "{reply}");
    pair.a.wait_for("b", "ticker", false);
    let pid = pair.b.process.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = pair.b.process.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "host b did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    pair.a.wait_for("b", "text-processor", false);
}

#[test]
fn a_callers_trace_context_crosses_hosts_with_the_messages_of_its_conversation() {
    use std::io::{Read, Write};
    component("text_processor");
    let pair = Pair::start("policies/demo.toml", "counter", "text-processor");
    pair.a.wait_for("b", "text-processor", true);
    // watch host b's event stream; it opens with `event: ready` once the watcher is in place
    let mut watch = std::net::TcpStream::connect(&pair.b.addr).unwrap();
    write!(watch, "GET /v1/events?kind=message HTTP/1.1\r\nHost: {}\r\n\r\n", pair.b.addr).unwrap();
    watch.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 8192];
    let read_until =
        |seen: &mut Vec<u8>, watch: &mut std::net::TcpStream, chunk: &mut [u8], wanted: &str, times: usize| {
            while String::from_utf8_lossy(seen).matches(wanted).count() < times {
                let n = watch.read(chunk).expect("host b's event stream went quiet");
                assert!(n > 0, "host b's event stream ended");
                seen.extend_from_slice(&chunk[..n]);
            }
        };
    read_until(&mut seen, &mut watch, &mut chunk, "event: ready", 1);
    let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let body = uppercase("traced").to_string();
    let mut client = std::net::TcpStream::connect(&pair.a.addr).unwrap();
    write!(
        client,
        "POST /v1/messages?wait_ms=10000 HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\ntraceparent: {traceparent}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        pair.a.addr,
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("TRACED"), "{answer}");
    // on host b: the request delivered from host a, and text-processor's inform, both in the caller's trace
    read_until(&mut seen, &mut watch, &mut chunk, traceparent, 2);
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains(r#""performative":"request""#) && text.contains(r#""performative":"inform""#), "{text}");
}
