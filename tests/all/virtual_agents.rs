//! Virtual agents: instances `TYPE/KEY` of an `[[agent-type]]` exist from
//! their first message, leave memory when idle, and keep their kv state.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::policy::types::AgentTypeSpec;
use caxton::runtime::Runtime;
use serde_json::{json, Value};
use std::time::Duration;

/// The `counter` component as agent type `account`.
fn account(idle_after: Duration, max_active: u32) -> AgentTypeSpec {
    let mut agent = spec("account", "counter", all_grants());
    agent.grants.timers = None;
    agent.grants.logging = None;
    AgentTypeSpec { agent, idle_after, max_active }
}

async fn runtime_with_type(t: AgentTypeSpec) -> Runtime {
    let rt = runtime();
    let bytes = std::fs::read(&t.agent.component).unwrap();
    rt.deploy_type(t, bytes).await.unwrap();
    rt
}

/// Send `increment` to `to` and wait for the reply, with no timeout (the
/// paused clock would fire one at once); the reply.
async fn increment(rt: &Runtime, to: &str) -> Message {
    let bus = rt.bus();
    let mut msg = Message::new(Performative::Request, vec![to.into()], json!({ "action": "increment" }).to_string());
    msg.reply_with = Some(bus.fresh_id("test"));
    let waiter = bus.expect_reply("tester", &mut msg);
    bus.send("tester", msg).unwrap();
    waiter.recv().await.unwrap()
}

fn count(reply: &Message) -> i64 {
    content(reply)["result"]["count"].as_i64().unwrap_or_else(|| panic!("not a count: {reply:?}"))
}

fn active(rt: &Runtime) -> Vec<String> {
    rt.agent_types().unwrap().instances("account").unwrap().into_iter().map(|i| i.name).collect()
}

/// Wait (yielding to the runtime, whose clock may be paused) until `done`.
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_keys_of_one_type_count_independently_and_answer_in_their_own_name() {
    let rt = runtime_with_type(account(Duration::from_secs(60), 100)).await;
    assert_eq!(count(&increment(&rt, "account/alice").await), 1);
    assert_eq!(count(&increment(&rt, "account/alice").await), 2);
    let bob = increment(&rt, "account/bob@example.com").await;
    assert_eq!((count(&bob), bob.sender.as_str()), (1, "account/bob@example.com"));
    assert_eq!(active(&rt), ["account/alice", "account/bob@example.com"]);
    let types = rt.agent_types().unwrap().summaries();
    assert_eq!((types[0].name.as_str(), types[0].active, types[0].activations), ("account", 2, 2));
    // not an instance: a key that breaks the rules, or a type nobody deployed
    for nobody in ["account/white space", "account/", "ledger/alice"] {
        let msg = Message::new(Performative::Request, vec![nobody.into()], "{}".into());
        let refused = rt.bus().send("tester", msg).unwrap_err();
        assert!(refused.to_string().contains("no agent named"), "{nobody}: {refused}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_idle_instance_is_passivated_and_its_next_message_sees_its_kv_state() {
    let rt = runtime_with_type(account(Duration::from_millis(200), 100)).await;
    assert_eq!(count(&increment(&rt, "account/alice").await), 1);
    assert_eq!(count(&increment(&rt, "account/bob").await), 1);
    // the paused clock moves on (also while the test waits for an agent): both have been idle
    // for longer than idle-after-ms
    tokio::time::sleep(Duration::from_millis(450)).await;
    until(|| rt.agent_types().unwrap().summaries()[0].passivations == 2).await;
    assert!(active(&rt).is_empty());
    assert!(!rt.bus().is_agent("account/alice"));
    assert_eq!(count(&increment(&rt, "account/alice").await), 2, "the count outlived the instance");
    assert_eq!(active(&rt), ["account/alice"]);
    assert_eq!(rt.agent_types().unwrap().summaries()[0].activations, 3);
    // what the passivated instances freed is given back to the system, and only after passivations
    let types = rt.agent_types().unwrap();
    until(|| types.memory_trims() > 0).await;
    until(|| types.summaries()[0].passivations == 3).await;
    tokio::time::sleep(caxton::runtime::reclaim::WINDOW + caxton::runtime::reclaim::EVERY).await;
    let trims = types.memory_trims();
    tokio::time::sleep(3 * caxton::runtime::reclaim::EVERY).await;
    assert_eq!(types.memory_trims(), trims, "no trimming long after the last passivation");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_active_keeps_at_most_that_many_in_memory_and_the_evicted_keep_their_state() {
    let rt = runtime_with_type(account(Duration::from_secs(3600), 2)).await;
    let types = rt.agent_types().unwrap();
    // an instance is idle only once the batch that sent its reply has ended: waiting for that
    // makes the least recently used one the one that is idle when the next key needs room
    let all_idle = || types.instances("account").unwrap().iter().all(|i| i.state == "idle");
    for round in 1..=3 {
        for key in ["account/a", "account/b", "account/c"] {
            assert_eq!(count(&increment(&rt, key).await), round, "{key}");
            assert!(active(&rt).len() <= 2, "{:?}", active(&rt));
            until(all_idle).await;
        }
    }
    let types = rt.agent_types().unwrap().summaries();
    assert_eq!(types[0].activations, 9, "each key was evicted before its next message");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_to_more_new_instances_than_a_type_can_hold_waiting_is_refused_as_mailbox_full() {
    let rt = runtime_with_type(account(Duration::from_secs(3600), 2)).await;
    let limit = caxton::runtime::agent_types::MAX_WAITING * 2;
    let keys: Vec<String> = (0..=limit).map(|i| format!("account/k{i}")).collect();
    let fan_out = Message::new(Performative::Inform, keys.clone(), json!({ "action": "increment" }).to_string());
    let refused = rt.bus().send("tester", fan_out);
    assert_eq!(refused, Err(caxton::bus::BusError::MailboxFull(keys[limit].clone())), "back-pressure, not a queue");
    let dead = rt.bus().dead_letters();
    assert_eq!(dead.last().map(|d| d.reason.as_str()), Some("mailbox-full"));
    // what fits goes, and the type keeps answering
    let fits =
        Message::new(Performative::Request, keys[..limit].to_vec(), json!({ "action": "increment" }).to_string());
    rt.bus().send("tester", fits).unwrap();
    assert_eq!(count(&increment(&rt, "account/k0").await), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_receives_publications_on_its_subscriptions_while_it_is_in_memory() {
    let mut agent = probe("vprobe");
    if let Some(messaging) = agent.grants.messaging.as_mut() {
        messaging.subscribe = vec!["prices.*".into()];
    }
    let rt = runtime_with_type(AgentTypeSpec { agent, idle_after: Duration::from_secs(3600), max_active: 10 }).await;
    let subscribed = ask(&rt, "vprobe/eu", json!({ "action": "subscribe", "pattern": "prices.*" })).await;
    assert_eq!(content(&subscribed)["result"], "subscribed", "{}", subscribed.content);
    assert_eq!(rt.bus().subscribers("prices.eu"), ["vprobe/eu"]);
    let inform = Message::new(Performative::Inform, vec![], json!({ "price": 3 }).to_string());
    assert_eq!(rt.bus().publish("tester", "prices.eu", &inform), 1);
    let types = rt.agent_types().unwrap();
    until(|| types.passivate_now("vprobe/eu")).await;
    assert!(rt.bus().subscribers("prices.eu").is_empty(), "subscriptions end with the instance in memory");
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_sent_while_an_instance_activates_arrive_in_order() {
    let rt = runtime_with_type(account(Duration::from_secs(60), 100)).await;
    let bus = rt.bus();
    let mut waiters = Vec::new();
    for _ in 0..50 {
        let mut msg = Message::new(
            Performative::Request,
            vec!["account/carol".into()],
            json!({ "action": "increment" }).to_string(),
        );
        msg.reply_with = Some(bus.fresh_id("test"));
        waiters.push(bus.expect_reply("tester", &mut msg));
        bus.send("tester", msg).unwrap();
    }
    for (n, waiter) in (1..).zip(waiters) {
        assert_eq!(count(&waiter.recv().await.unwrap()), n);
    }
    assert_eq!(rt.agent_types().unwrap().summaries()[0].activations, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_that_cannot_start_answers_its_message_with_a_failure_naming_the_cause() {
    let mut tiny = account(Duration::from_millis(100), 100);
    tiny.agent.limits.memory_bytes = 64 * 1024;
    let rt = runtime_with_type(tiny).await;
    let reply = increment(&rt, "account/alice").await;
    assert_eq!(reply.performative, Performative::Failure, "{reply:?}");
    let failure = content(&reply);
    assert_eq!(failure["reason"], "init-failed", "{failure}");
    assert!(failure["error"].as_str().unwrap().contains("account/alice"), "{failure}");
    // once it has answered what was queued it leaves, and the next message tries again
    until(|| active(&rt).is_empty()).await;
    let again = increment(&rt, "account/alice").await;
    assert_eq!(content(&again)["reason"], "init-failed", "{again:?}");
}

// on the real clock: under a paused one the sweeper's ticks would spread the failures past the supervisor's window
#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_instance_is_restarted_and_quarantined_on_its_own_and_its_siblings_answer() {
    let crasher = AgentTypeSpec {
        agent: spec("crasher", "misbehaver", all_grants()),
        idle_after: Duration::from_secs(3600),
        max_active: 10,
    };
    let rt = runtime_with_type(crasher).await;
    assert_eq!(content(&ask(&rt, "crasher/b", json!({ "action": "ping" })).await)["result"], "pong");
    for _ in 0..5 {
        let reply = ask(&rt, "crasher/a", json!({ "action": "panic" })).await;
        assert_eq!(content(&reply)["reason"], "trap", "{}", reply.content);
    }
    let refused = ask(&rt, "crasher/a", json!({ "action": "ping" })).await;
    assert_eq!(content(&refused)["reason"], "quarantined", "{}", refused.content);
    assert!(refused.content.contains("until it is passivated"), "{}", refused.content);
    let pong = ask(&rt, "crasher/b", json!({ "action": "ping" })).await;
    assert_eq!(content(&pong)["result"], "pong", "a sibling of a quarantined instance still answers");
    let state = |name: &str| {
        let instances = rt.agent_types().unwrap().instances("crasher").unwrap();
        instances.iter().find(|i| i.name == name).map(|i| (i.state, i.stats.restarts))
    };
    assert_eq!(state("crasher/a"), Some(("quarantined", 4)));
    // its reply left before its turn ended: wait for the turn, not for a time
    until(|| state("crasher/b").is_some_and(|(s, _)| s != "running")).await;
    assert_eq!(state("crasher/b"), Some(("idle", 0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reminder_set_before_passivation_activates_the_instance_when_due() {
    let store = std::sync::Arc::new(caxton::store::memory::MemoryStore::new());
    let rt = runtime_on(store.clone());
    let probe = AgentTypeSpec {
        agent: spec("probe", "bus_probe", all_grants()),
        idle_after: Duration::from_millis(20),
        max_active: 10,
    };
    let bytes = std::fs::read(&probe.agent.component).unwrap();
    rt.deploy_type(probe, bytes).await.unwrap();
    let set = ask(&rt, "probe/a", json!({ "action": "timers", "delays": [400] })).await;
    let id = content(&set)["result"]["timers"][0].as_u64().unwrap();
    let summary = || rt.agent_types().unwrap().summaries().remove(0);
    // passivated while its timer is pending (an idle instance with a reminder leaves memory)...
    until(|| summary().passivations >= 1).await;
    assert!(rt.agent_types().unwrap().instances("probe").unwrap().is_empty());
    // ...and the timer activates it when due: its handler writes down that it fired
    let fired = format!("timer-fired-{id}");
    until(|| caxton::store::KvBackend::get(&*store, "probe/a", &fired).unwrap().is_some()).await;
    assert_eq!(summary().activations, 2, "activated by its message, then by its reminder");
}

#[test]
fn the_accounts_deployment_counts_per_key_from_the_cli_lists_instances_and_survives_a_restart() {
    use crate::support::process::{caxton, http, spawn_server};
    component("counter");
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let send = |addr: &str, to: &str| {
        let out = caxton(&[
            "send",
            to,
            r#"{"action":"increment"}"#,
            "--wait",
            "10000",
            "--server",
            &format!("http://{addr}"),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        reply["content"]["result"]["count"].as_i64().unwrap_or_else(|| panic!("{reply}"))
    };
    let (mut server, addr) = spawn_server(&["--deployment", "policies/accounts.toml", "--data", data_arg]);
    assert_eq!((send(&addr, "account/alice"), send(&addr, "account/alice"), send(&addr, "account/bob")), (1, 2, 1));
    let (status, listed) = http(&addr, "GET", "/v1/agents?type=account", "").unwrap();
    assert_eq!(status, 200, "{listed}");
    let names: Vec<&str> = listed["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["account/alice", "account/bob"]);
    let (_, types) = http(&addr, "GET", "/v1/agent-types", "").unwrap();
    assert_eq!(
        (types["agent_types"][0]["name"].clone(), types["agent_types"][0]["activations"].clone()),
        (json!("account"), json!(2))
    );
    let (_, metrics) = http(&addr, "GET", "/metrics", "").unwrap();
    let metrics = metrics.as_str().unwrap();
    for line in [
        "caxton_agent_type_active{agent_type=\"account\"} 2",
        "caxton_agent_type_activations_total{agent_type=\"account\"} 2",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("caxton_agent_type_activation_seconds_count{agent_type=\"account\"} 2"), "{metrics}");
    let (status, unknown) = http(&addr, "GET", "/v1/agents?type=ledger", "").unwrap();
    assert_eq!((status, unknown["error"]["code"].clone()), (404, json!("no-such-agent-type")), "{unknown}");
    // a type is not removed like an agent (that would forget it at the next start), and a client cannot
    // speak in the name of an instance, in memory or not
    let (status, refused) = http(&addr, "DELETE", "/v1/agents/account", "").unwrap();
    assert_eq!((status, refused["error"]["code"].clone()), (409, json!("agent-type")), "{refused}");
    for forged in ["account/alice", "account/carol", "account"] {
        let msg = json!({ "performative": "request", "sender": forged, "receiver": "account/bob", "content": { "action": "increment" } });
        let (status, refused) = http(&addr, "POST", "/v1/messages", &msg.to_string()).unwrap();
        assert_eq!((status, refused["error"]["code"].clone()), (400, json!("bad-sender")), "{forged}: {refused}");
    }
    // a message to the type itself, or to a key that cannot be one, says what an instance's name is
    for (to, says) in [("account", "is an agent type"), ("account/has space", "is not a key")] {
        let msg = json!({ "performative": "request", "receiver": to, "content": { "action": "increment" } });
        let (status, refused) = http(&addr, "POST", "/v1/messages", &msg.to_string()).unwrap();
        assert_eq!((status, refused["error"]["code"].clone()), (404, json!("no-such-agent")), "{to}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap_or_default().contains(says), "{to}: {refused}");
    }
    let (status, refused) = http(&addr, "DELETE", "/v1/agents/account/bob?keep_state=true", "").unwrap();
    assert_eq!(status, 400, "a purge always deletes: {refused}");
    let (status, bad) = http(&addr, "GET", "/v1/agents/account/has%20space", "").unwrap();
    assert_eq!((status, bad["error"]["code"].clone()), (400, json!("bad-name")), "{bad}");
    let (status, nosuch) = http(&addr, "GET", "/v1/agents/ledger/alice", "").unwrap();
    assert_eq!((status, nosuch["error"]["code"].clone()), (404, json!("no-such-agent-type")), "{nosuch}");
    // the CLI addresses instances too
    let url = format!("http://{addr}");
    let got = caxton(&["agents", "get", "account/alice", "--server", &url]);
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));
    assert!(String::from_utf8_lossy(&got.stdout).contains("\"account/alice\""));
    let types = caxton(&["agents", "types", "--server", &url]);
    let types = String::from_utf8_lossy(&types.stdout);
    assert!(types.contains("account") && types.contains("30000 ms"), "{types}");
    let listed = caxton(&["agents", "--type", "account", "--server", &url]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("INSTANCE") && listed.contains("account/alice") && listed.contains("account/bob"),
        "{listed}"
    );
    let purged = caxton(&["remove", "account/bob", "--server", &url]);
    assert!(purged.status.success(), "{}", String::from_utf8_lossy(&purged.stderr));
    assert!(String::from_utf8_lossy(&purged.stdout).contains("purged `account/bob`"));
    assert_eq!(send(&addr, "account/bob"), 1, "a purged instance starts afresh");
    // the type is listed in the directory once, not its instances
    let (_, directory) = http(&addr, "GET", "/v1/directory", "").unwrap();
    let entries: Vec<&str> =
        directory["agents"].as_array().unwrap().iter().filter_map(|a| a["name"].as_str()).collect();
    assert!(entries.contains(&"account") && !entries.iter().any(|e| e.contains('/')), "{directory}");
    let _ = server.kill();
    let _ = server.wait();
    // restored from the registry without the file: the counts are in the durable kv-store
    let (mut server, addr) = spawn_server(&["--data", data_arg]);
    assert_eq!(send(&addr, "account/alice"), 3);
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_reminder_outlives_a_server_restart_and_activates_its_instance_when_due() {
    use crate::support::process::{http, spawn_server};
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("probes.toml");
    let file = format!(
        "[deployment]\nname = \"probes\"\n\n[[agent-type]]\nname = \"probe\"\ncomponent = \"{}\"\nidle-after-ms = 50\n\
         [agent-type.grants]\nmessaging = {{ send-to = [\"*\"] }}\nkv-store = {{}}\ntimers = {{ max-active = 4 }}\nlogging = {{}}\n",
        component("bus_probe").display()
    );
    std::fs::write(&policy, file).unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let ask = |addr: &str, content: Value| {
        let msg = json!({ "performative": "request", "receiver": "probe/a", "content": content });
        let (status, reply) = http(addr, "POST", "/v1/messages?wait_ms=10000", &msg.to_string()).unwrap();
        assert_eq!(status, 200, "{reply}");
        reply["content"]["result"].clone()
    };
    let (mut server, addr) = spawn_server(&["--deployment", policy.to_str().unwrap(), "--data", data_arg]);
    let id = ask(&addr, json!({ "action": "timers", "delays": [3000] }))["timers"][0].as_u64().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let (mut server, addr) = spawn_server(&["--data", data_arg]);
    // nobody sends probe/a anything: its reminder alone brings it back
    let activations = || http(&addr, "GET", "/v1/agent-types", "").unwrap().1["agent_types"][0]["activations"].as_u64();
    let started = std::time::Instant::now();
    while activations() != Some(1) {
        assert!(started.elapsed() < Duration::from_secs(60), "the reminder never fired");
        std::thread::sleep(Duration::from_millis(50));
    }
    let fired = ask(&addr, json!({ "action": "get", "key": format!("timer-fired-{id}") }));
    assert!(fired.as_str().is_some_and(|at| !at.is_empty()), "{fired}");
    let _ = server.kill();
    let _ = server.wait();
}
