//! Durable state through the real binary: kill -9 loses no acknowledged write,
//! and a restarted server brings its agents back with their state.

use crate::support::component;
use crate::support::process::{http, spawn_server};
use serde_json::{json, Value};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn kill_hard(mut child: Child) {
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
}

fn ask(addr: &str, receiver: &str, content: Value) -> Option<Value> {
    let message = json!({ "performative": "request", "receiver": receiver, "content": content });
    match http(addr, "POST", "/v1/messages?wait_ms=10000", &message.to_string()) {
        Ok((200, reply)) if reply["performative"] == "inform" => Some(reply["content"]["result"].clone()),
        _ => None,
    }
}

/// A deployment file in `dir` running one `bus-probe` agent called `name`, with
/// `messaging` granted and `extra` appended to its `[agent.grants]`.
fn probe_deployment(dir: &std::path::Path, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let component = component("bus_probe");
    let text = format!(
        "[deployment]\nname = '{name}'\n[[agent]]\nname = '{name}'\ncomponent = '{}'\n[agent.grants]\nmessaging = {{}}\n{extra}",
        component.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_counter_keeps_its_count_across_kill_9_and_a_restart_without_the_deployment_file() {
    component("counter");
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let (server, addr) = spawn_server(&["--deployment", "policies/demo.toml", "--data", data_arg]);
    for want in 1..=3 {
        assert_eq!(ask(&addr, "counter", json!({ "action": "increment" })).unwrap()["count"], want);
    }
    kill_hard(server);
    // no --deployment: the agents come back from the data directory
    let (server, addr) = spawn_server(&["--data", data_arg]);
    assert_eq!(ask(&addr, "counter", json!({ "action": "increment" })).unwrap()["count"], 4);
    let text = ask(&addr, "text-processor", json!({ "action": "get_status" })).unwrap();
    assert_eq!(text["status"], "ready", "every agent of the deployment is back");
    kill_hard(server);
}

#[test]
fn sigterm_keeps_dead_letters_for_the_next_start() {
    component("counter");
    let data = tempfile::tempdir().unwrap();
    let data_arg = data.path().to_str().unwrap();
    let (server, addr) = spawn_server(&["--deployment", "policies/demo.toml", "--data", data_arg]);
    let (status, _) = http(&addr, "POST", "/v1/messages", r#"{"performative":"inform","receiver":"ghost"}"#).unwrap();
    assert_eq!(status, 404);
    let term = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(term.success());
    let mut server = server;
    assert!(server.wait().unwrap().success(), "SIGTERM is a clean exit");
    let (server, addr) = spawn_server(&["--data", data_arg]);
    let (_, letters) = http(&addr, "GET", "/v1/dead-letters", "").unwrap();
    let letters = letters["dead_letters"].as_array().unwrap();
    assert!(letters.iter().any(|d| d["receiver"] == "ghost" && d["reason"] == "no-such-agent"), "{letters:?}");
    kill_hard(server);
}

#[test]
fn pending_timers_survive_kill_9_and_overdue_ones_fire_at_once() {
    let data = tempfile::tempdir().unwrap();
    let policy = probe_deployment(data.path(), "timed", "kv-store = {}\ntimers = {}\n");
    let data_arg = data.path().join("data");
    let data_arg = data_arg.to_str().unwrap();
    let (server, addr) = spawn_server(&["--deployment", policy.to_str().unwrap(), "--data", data_arg]);
    let set = ask(&addr, "timed", json!({ "action": "timers", "delays": [300, 60_000] })).unwrap();
    let ids: Vec<u64> = set["timers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    kill_hard(server);
    std::thread::sleep(Duration::from_millis(600)); // the first timer falls due while the host is down
    let (server, addr) = spawn_server(&["--data", data_arg]);
    let fired = |id: u64| ask(&addr, "timed", json!({ "action": "get", "key": format!("timer-fired-{id}") })).unwrap();
    let mut waited = 0;
    while fired(ids[0]).is_null() {
        assert!(waited < 3000, "the overdue timer never fired after the restart");
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
    }
    assert!(fired(ids[1]).is_null(), "the one-minute timer is still pending, not fired early");
    kill_hard(server);
}

fn raw_get(addr: &str, key: &str) -> std::io::Result<(u16, Value)> {
    let message =
        json!({ "performative": "request", "receiver": "ledger", "content": { "action": "get", "key": key } });
    http(addr, "POST", "/v1/messages?wait_ms=10000", &message.to_string())
}

/// A tiny deterministic generator, so a failing round can be replayed from its seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn kill_9_at_random_moments_never_loses_an_acknowledged_write() {
    component("bus_probe");
    let rounds: u64 = std::env::var("CAXTON_CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("crash loop: {rounds} rounds, seed {seed}");
    let mut rng = XorShift(seed);
    let data = tempfile::tempdir().unwrap();
    let policy = probe_deployment(
        data.path(),
        "ledger",
        "kv-store = { max-keys = 1_000_000, quota-bytes = 1_000_000_000 }\ntimers = {}\n[agent.limits]\nmessages-per-second = 1_000_000\n",
    );
    let data_arg = data.path().join("data");
    let data_arg = data_arg.to_str().unwrap();
    let (first, _) = spawn_server(&["--deployment", policy.to_str().unwrap(), "--data", data_arg]);
    kill_hard(first);

    let mut verified = 0usize;
    for round in 0..rounds {
        let (server, addr) = spawn_server(&["--data", data_arg]);
        let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let attempted: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let writers: Vec<_> = (0..4)
            .map(|client| {
                let (addr, acked, attempted) = (addr.clone(), acked.clone(), attempted.clone());
                std::thread::spawn(move || {
                    for n in 0.. {
                        let key = format!("r{round}-c{client}-{n}");
                        let value = format!("{key}:{}", "v".repeat(64));
                        attempted.lock().unwrap().push((key.clone(), value.clone()));
                        match ask(&addr, "ledger", json!({ "action": "put", "key": key, "value": value })) {
                            Some(r) if r == "stored" => acked.lock().unwrap().push((key, value)),
                            _ => return, // the server is gone
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + rng.next(200)));
        kill_hard(server);
        for w in writers {
            w.join().unwrap();
        }
        let (server, addr) = spawn_server(&["--data", data_arg]);
        let acked = acked.lock().unwrap().clone();
        for (key, value) in &acked {
            let got = ask(&addr, "ledger", json!({ "action": "get", "key": key }));
            assert_eq!(
                got,
                Some(json!(value)),
                "round {round} (seed {seed}): acknowledged write `{key}` lost or torn: {:?}",
                raw_get(&addr, key)
            );
        }
        for (key, value) in attempted.lock().unwrap().iter().skip(acked.len()) {
            let got = ask(&addr, "ledger", json!({ "action": "get", "key": key }))
                .unwrap_or_else(|| panic!("round {round}: reading `{key}` failed: {:?}", raw_get(&addr, key)));
            assert!(got.is_null() || got == json!(value), "round {round}: unacknowledged `{key}` is torn: {got}");
        }
        verified += acked.len();
        kill_hard(server);
    }
    println!("crash loop: {rounds} rounds, {verified} acknowledged writes verified");
    assert!(verified > 0, "no write was ever acknowledged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_reaches_the_agent_as_a_storage_error_and_nothing_is_acknowledged() {
    use crate::support::{ask as ask_agent, content, deploy_all, probe, runtime_on};
    let dir = tempfile::tempdir().unwrap();
    let store =
        caxton::store::sqlite::SqliteStore::open_with_page_limit(&dir.path().join("kv.sqlite"), Some(8)).unwrap();
    let store = std::sync::Arc::new(store);
    let rt = runtime_on(store.clone());
    let mut writer = probe("writer");
    writer.limits.host_calls_per_message = 1_000_000;
    writer.limits.deadline_micros = 60_000_000; // syncs are slow on a busy disk
    writer.limits.cpu_micros_per_message = 60_000_000;
    deploy_all(&rt, vec![writer]).await;
    let reply = ask_agent(&rt, "writer", json!({ "action": "bench-put", "key": "k", "count": 10_000 })).await;
    assert_eq!(reply.performative, caxton::acl::Performative::Failure);
    let error = content(&reply)["error"].as_str().unwrap().to_string();
    assert!(error.contains("storage failed") && error.contains("full"), "{error}");
    use caxton::store::KvBackend;
    let stored = store.list("writer", "k-", None, 100_000).unwrap().len();
    assert!(stored < 10_000, "the writes past the full disk were not made");
    for n in 0..stored {
        assert!(
            store.get("writer", &format!("k-{n}")).unwrap().is_some(),
            "acknowledged writes are all there, in order"
        );
    }
}
