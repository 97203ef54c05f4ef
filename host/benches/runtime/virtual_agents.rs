//! The virtual-agents section of `just bench`: activating a passivated
//! instance next to spawning an already-compiled agent in the same run, and
//! the memory of a process after many keys were touched once and passivated,
//! next to the same process idle.

use super::common::{median, table, Row};
use super::{hop, in_child, probe_spec, spawn, BENCH_CLIENT, POOL};
use caxton::acl::{Message, Performative};
use caxton::bus::mailbox::Receiver;
use caxton::bus::Event;
use caxton::policy::types::AgentTypeSpec;
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECTION: &str = "## Virtual agents";
/// Rounds, alternating the arms.
const ROUNDS: usize = 5;
/// Keys touched in the memory row (`CAXTON_BENCH_KEYS` overrides it).
const KEYS: usize = 1_000_000;
/// Messages in flight at once while the keys are touched.
const IN_FLIGHT: usize = 500;
/// The memory row's child process.
pub const MEMORY_CHILD: &str = "virtual-memory";

/// The `bus-probe` component as agent type `vprobe`, instances kept until passivated by hand.
fn vprobe() -> AgentTypeSpec {
    AgentTypeSpec { agent: probe_spec("vprobe"), idle_after: Duration::from_secs(3600), max_active: 100_000 }
}

async fn reply(rx: &mut Receiver) -> Message {
    // a safety net against a lost message hanging the bench, not a measurement
    match tokio::time::timeout(Duration::from_secs(120), rx.recv()).await.expect("no reply within 120 s") {
        Some(Event::Message(m)) => *m,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn ping(to: &str) -> Message {
    let mut msg = Message::new(Performative::Request, vec![to.into()], r#"{"action":"ping"}"#.into());
    msg.reply_with = Some("bench".into());
    msg
}

/// Microseconds per message → reply of `count` passivated instances of
/// `vprobe`, each activated by the message (round `round`'s keys).
async fn activation_micros(rt: &Runtime, rx: &mut Receiver, round: usize, count: usize) -> f64 {
    let types = rt.agent_types().unwrap();
    let keys: Vec<String> = (0..count).map(|i| format!("vprobe/r{round}-{i}")).collect();
    for key in &keys {
        rt.bus().send(BENCH_CLIENT, ping(key)).unwrap();
        reply(rx).await;
    }
    let passivated = types.summaries()[0].passivations;
    for key in &keys {
        while !types.passivate_now(key) {
            tokio::task::yield_now().await;
        }
    }
    while types.summaries()[0].passivations < passivated + count as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let started = Instant::now();
    for key in &keys {
        rt.bus().send(BENCH_CLIENT, ping(key)).unwrap();
        assert!(reply(rx).await.content.contains("pong"));
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    for key in &keys {
        while !types.passivate_now(key) {
            tokio::task::yield_now().await;
        }
    }
    micros
}

/// In a child process: touch `CAXTON_BENCH_KEYS` keys of the `counter` type once each on a
/// SQLite store, passivate them all, and report the RSS growth factor and the store's size.
pub fn memory_child() {
    let keys = std::env::var("CAXTON_BENCH_KEYS").ok().and_then(|k| k.parse().ok()).unwrap_or(KEYS);
    let dir = tempfile::tempdir().unwrap();
    let store = caxton::store::sqlite::SqliteStore::open(&dir.path().join("kv.sqlite3")).unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(store)) }).unwrap();
    let mut agent = probe_spec("account");
    agent.component = super::common::root().join("components/counter.wasm");
    agent.grants.timers = None;
    agent.grants.logging = None;
    let bytes = std::fs::read(&agent.component).unwrap();
    let account = AgentTypeSpec { agent, idle_after: Duration::from_millis(200), max_active: 1_000 };
    let (idle_rss, after_rss) = tokio.block_on(async {
        rt.deploy_type(account, bytes).await.unwrap();
        let mut rx = hop::client(&rt, 2 * IN_FLIGHT);
        let idle_rss = rss_kib();
        let increment = |key: usize| {
            let mut msg = Message::new(
                Performative::Request,
                vec![format!("account/k{key}")],
                r#"{"action":"increment"}"#.into(),
            );
            msg.reply_with = Some("bench".into());
            msg
        };
        let started = Instant::now();
        let mut sent = 0;
        for answered in 0..keys {
            while sent < keys && sent < answered + IN_FLIGHT {
                rt.bus().send(BENCH_CLIENT, increment(sent)).unwrap();
                sent += 1;
            }
            reply(&mut rx).await;
            if (answered + 1) % 100_000 == 0 {
                eprintln!(
                    "  virtual agents: {} keys touched in {:.0} s…",
                    answered + 1,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let types = rt.agent_types().unwrap();
        while types.summaries()[0].active > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (idle_rss, rss_kib())
    });
    let store_bytes: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    eprintln!("  virtual agents: idle {idle_rss:.0} KiB, after {keys} keys passivated {after_rss:.0} KiB, store {store_bytes} bytes");
    super::child_result(after_rss / idle_rss, store_bytes);
}

/// This process's resident set, in KiB.
fn rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("no VmRSS line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("VmRSS in KiB")
}

/// Run the section's rows; with `write`, write it to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let mut rx = hop::client(&rt, 16);
    tokio.block_on(rt.deploy_type(vprobe(), bytes.clone())).unwrap();
    let (mut activation, mut spawns) = (vec![], vec![]);
    for round in 0..ROUNDS {
        println!("virtual agents round {} of {ROUNDS}…", round + 1);
        activation.push(tokio.block_on(activation_micros(&rt, &mut rx, round, spawn::SPAWNS)));
        spawns.push(tokio.block_on(spawn::platform_spawn_micros(&rt, &bytes, round)));
    }
    println!("virtual agents: touching keys in a child process…");
    let (growth, store_bytes) = in_child(MEMORY_CHILD, &[]);
    let keys = std::env::var("CAXTON_BENCH_KEYS").ok().and_then(|k| k.parse().ok()).unwrap_or(KEYS);
    let rows = [
        Row {
            what: "activate a passivated instance: message → reply",
            ours: median(activation),
            peer_name: "spawn an already-compiled agent (deploy, no message)",
            peer: median(spawns),
            unit: "µs",
        },
        Row {
            what: "RSS after every key was touched once and passivated",
            ours: growth,
            peer_name: "RSS of the same process idle, type deployed",
            peer: 1.0,
            unit: "× idle",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 2));
    section.push_str(&format!(
        "\nMethod. **Activation**: `bus-probe` as agent type `vprobe`; per round {spawns} keys are \
         activated by a `ping`, passivated (`shutdown`, out of memory), then timed: a `ping` to each \
         (activation from the linked type: instantiate, `init`, then the message and its reply), one \
         at a time; the peer deploys `bus-probe` {spawns} times from the in-memory compile cache \
         (`Runtime::deploy_bytes`), in the same run. Goal ≤ 1.2×. **Memory**: a fresh process on \
         the SQLite store deploys `counter` as type `account` (`max-active` 1,000, `idle-after-ms` \
         200) and sends `increment` to {keys} keys, {in_flight} in flight; once every instance is \
         passivated its RSS (`VmRSS`) is {growth:.2}× the RSS it had idle with the type deployed \
         (goal ≤ 2×); the store holds {store} bytes ({per_key:.0} bytes per key). {ROUNDS} \
         alternating rounds; medians.\n",
        spawns = spawn::SPAWNS,
        in_flight = IN_FLIGHT,
        store = store_bytes,
        per_key = store_bytes as f64 / keys as f64,
    ));
    if write {
        super::common::write_section(SECTION, &section);
    } else {
        print!("{section}");
    }
}
