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
/// The active-instances row's child process.
pub const ACTIVE_CHILD: &str = "virtual-active";
/// Instances in memory at once in the active-instances row, as far as the
/// kernel's `vm.max_map_count` allows (see [`active_count`]).
const ACTIVE: usize = 100_000;
/// Memory mappings one instance of `vprobe` takes (its memory's image, the rest of its slot, tables).
const MAPPINGS_PER_INSTANCE: usize = 5;

/// [`ACTIVE`], or fewer when `vm.max_map_count` (65,530 by default) would not hold their
/// mappings: raise it (`sysctl -w vm.max_map_count=1048576`) to measure all of them.
fn active_count() -> usize {
    let max_maps = std::fs::read_to_string("/proc/sys/vm/max_map_count").ok().and_then(|m| m.trim().parse().ok());
    let fits = max_maps.map_or(ACTIVE, |m: usize| m / MAPPINGS_PER_INSTANCE / 1_000 * 1_000);
    ACTIVE.min(fits)
}

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
/// `vprobe`, each activated by the message (round `round`'s keys), and of
/// the same instances while they are in memory.
async fn activation_micros(rt: &Runtime, rx: &mut Receiver, round: usize, count: usize) -> (f64, f64) {
    let types = rt.agent_types().unwrap();
    let keys: Vec<String> = (0..count).map(|i| format!("vprobe/r{round}-{i}")).collect();
    for key in &keys {
        rt.bus().send(BENCH_CLIENT, ping(key)).unwrap();
        reply(rx).await;
    }
    let started = Instant::now();
    for key in &keys {
        rt.bus().send(BENCH_CLIENT, ping(key)).unwrap();
        reply(rx).await;
    }
    let in_memory = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    passivate_all(types, &keys).await;
    let started = Instant::now();
    for key in &keys {
        rt.bus().send(BENCH_CLIENT, ping(key)).unwrap();
        assert!(reply(rx).await.content.contains("pong"));
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / count as f64;
    passivate_all(types, &keys).await;
    (micros, in_memory)
}

/// Passivate the instances `keys` and wait until all of them are out of
/// memory, so that no shutdown or release of theirs runs during what is timed next.
async fn passivate_all(types: &caxton::runtime::agent_types::AgentTypes, keys: &[String]) {
    let passivated = types.summaries()[0].passivations;
    for key in keys {
        while !types.passivate_now(key) {
            tokio::task::yield_now().await;
        }
    }
    while types.summaries()[0].passivations < passivated + keys.len() as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
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
        let (idle_rss, idle_threads) = (rss_kib(), threads());
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
        // the steady state: the threads the burst started have left (after `IDLE_EXIT` idle) and
        // the reclaimer has trimmed since
        while threads() > idle_threads {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let trims = types.memory_trims();
        let waited = Instant::now();
        while types.memory_trims() == trims && waited.elapsed() < 2 * caxton::runtime::reclaim::WINDOW {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (idle_rss, rss_kib())
    });
    let store_bytes: u64 = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    eprintln!("  virtual agents: idle {idle_rss:.0} KiB, after {keys} keys passivated {after_rss:.0} KiB, store {store_bytes} bytes");
    super::child_result(after_rss / idle_rss, store_bytes);
}

/// In a child process: `ACTIVE` instances of `vprobe` activated by a `ping` each and kept in
/// memory; the growth of the process's PSS per instance, in KiB.
pub fn active_child() {
    let count = active_count();
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let pool = caxton::runtime::engine::PoolSize { instances: count as u32 + 10 };
    let rt = Runtime::new(RuntimeConfig { pool, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let spec = AgentTypeSpec { max_active: count as u32 + 1, ..vprobe() };
    let kib = tokio.block_on(async {
        rt.deploy_type(spec, hop::probe_bytes()).await.unwrap();
        let mut rx = hop::client(&rt, 2 * IN_FLIGHT);
        // one instance first, so the compiled code and the runtime's own buffers are in the baseline
        rt.bus().send(BENCH_CLIENT, ping("vprobe/warm-up")).unwrap();
        reply(&mut rx).await;
        let before = super::idle::pss_kib();
        let mut sent = 0;
        for answered in 0..count {
            while sent < count && sent < answered + IN_FLIGHT {
                rt.bus().send(BENCH_CLIENT, ping(&format!("vprobe/k{sent}"))).unwrap();
                sent += 1;
            }
            let answer = reply(&mut rx).await;
            assert!(answer.content.contains("pong"), "instance {answered}: {}", answer.content);
        }
        assert_eq!(rt.agent_types().unwrap().summaries()[0].active, count + 1, "every instance stayed in memory");
        (super::idle::pss_kib() - before) / count as f64
    });
    eprintln!("  virtual agents: {kib:.1} KiB of PSS per active instance");
    super::child_result(kib, count as u64);
}

/// This process's resident set, in KiB.
fn rss_kib() -> f64 {
    status_field("VmRSS:")
}

/// This process's threads.
fn threads() -> f64 {
    status_field("Threads:")
}

/// A number from `/proc/self/status`.
fn status_field(name: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux only)");
    let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} line"));
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no number in {line}"))
}

/// Run the section's rows; with `write`, write it to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let mut rx = hop::client(&rt, 16);
    tokio.block_on(rt.deploy_type(vprobe(), bytes.clone())).unwrap();
    let (mut activation, mut in_memory, mut spawns) = (vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        println!("virtual agents round {} of {ROUNDS}…", round + 1);
        let (activated, warm) = tokio.block_on(activation_micros(&rt, &mut rx, round, spawn::SPAWNS));
        activation.push(activated);
        in_memory.push(warm);
        spawns.push(tokio.block_on(spawn::platform_spawn_micros(&rt, &bytes, round)));
    }
    println!("virtual agents: touching keys in a child process…");
    let (growth, store_bytes) = in_child(MEMORY_CHILD, &[]);
    println!("virtual agents: {} active instances, and bare instances, in child processes…", active_count());
    let (active_kib, active) = in_child(ACTIVE_CHILD, &[]);
    let (bare_kib, _) = in_child("idle-bare", &[]);
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
        Row {
            what: "PSS per instance, every instance in memory",
            ours: active_kib,
            peer_name: "PSS per bare wasmtime instance of the component",
            peer: bare_kib,
            unit: "KiB",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 2));
    section.push_str(&format!(
        "\nMethod. **Activation**: `bus-probe` as agent type `vprobe`; per round {spawns} keys are \
         activated by a `ping`, passivated (`shutdown`, out of memory), then timed: a `ping` to each \
         (activation from the linked type: instantiate, `init`, then the message and its reply), one \
         at a time; the peer, once those instances are out of memory again, deploys `bus-probe` \
         {spawns} times from the in-memory compile cache as the Runtime section's spawn row does \
         (`Runtime::deploy_bytes`), in the same run. Goal ≤ 1.2×. The same `ping` → reply to \
         an instance already in memory took {in_memory:.1} µs (median) in this run: the rest is \
         the activation. **Memory**: a fresh process on \
         the SQLite store deploys `counter` as type `account` (`max-active` 1,000, `idle-after-ms` \
         200) and sends `increment` to {keys} keys, {in_flight} in flight; once every instance is \
         passivated, the threads the burst started have left and the reclaimer has trimmed the \
         allocator since, its RSS (`VmRSS`) is {growth:.2}× the RSS it had idle with the type deployed \
         (goal ≤ 2×); the store holds {store} bytes ({per_key:.0} bytes per key). **Active \
         instances**: a fresh process activates {active} instances of `vprobe` (`max-active` and \
         an instance pool as large; {ACTIVE} where `vm.max_map_count` holds their mappings, about \
         {MAPPINGS_PER_INSTANCE} each: the default 65,530 holds 13,000) with a `ping` each and \
         keeps them; the growth of its \
         PSS (`smaps_rollup`) per instance, next to the PSS per bare instance of the same \
         component on the same pooling engine (the process rows' `idle-bare` arm, \
         {bare} instances), measured once each. {ROUNDS} alternating rounds; medians.\n",
        spawns = spawn::SPAWNS,
        in_memory = median(in_memory),
        bare = super::idle::AGENTS,
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
