//! `just bench` (runtime): what the platform adds around a guest, each row next
//! to plain wasmtime (or the same engine with a feature off), measured in the
//! same run as the median of several alternating rounds. Written to
//! BENCHMARKS.md as its own section, after the storage bench has written the file.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use caxton::runtime::engine::{base_config, new_engine, EpochTicker, PoolSize};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;
use wasmtime::component::Component;
use wasmtime::{Engine, Module};

mod cluster;
mod cold;
#[path = "../common/mod.rs"]
mod common;
mod hop;
pub use hop::probe_spec;
mod idle;
mod protocols;
mod quick;
mod spawn;
mod virtual_agents;
mod watching;

use common::{median, percentile, root, table, Row};

const ROUNDS: usize = 5;
/// Rounds of the rows that start a process per arm.
const PROCESS_ROUNDS: usize = 3;
/// Which measurement a child process of this bench runs.
const CHILD_VAR: &str = "CAXTON_BENCH_CHILD";
const SECTION: &str = "## Runtime";
/// The name the bench listens as on the bus.
pub const BENCH_CLIENT: &str = "bench-client";
/// Relays timed one at a time per round.
pub const CHAINS: usize = 200;
/// Agent pairs relaying at once in the throughput row.
pub const PAIRS: usize = 500;
/// Relays each pair runs per round.
pub const PAIR_ROUNDS: usize = 4;
/// Instance slots: the pairs, the hop probes and one round of spawns.
pub const POOL: PoolSize = PoolSize { instances: 2 * PAIRS as u32 + 2 + spawn::SPAWNS as u32 + 10 };

/// In a child process: hand the parent a figure and a count.
pub fn child_result(figure: f64, count: u64) {
    println!("child-result {figure} {count}");
}

/// Run `arm` in a fresh process of this binary; its figure and count.
pub fn in_child(arm: &str, env: &[(&str, &std::path::Path)]) -> (f64, u64) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.env(CHILD_VAR, arm);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("child-result "))
        .unwrap_or_else(|| panic!("{arm} failed ({}): {stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr)));
    let mut parts = line.split(' ');
    let figure = parts.next().and_then(|f| f.parse().ok()).unwrap();
    let count = parts.next().and_then(|c| c.parse().ok()).unwrap();
    (figure, count)
}

fn main() {
    match std::env::var(CHILD_VAR).as_deref() {
        Ok("idle-caxton") => return idle::caxton_arm(),
        Ok("idle-bare") => return idle::bare_arm(false),
        Ok("idle-bare-described") => return idle::bare_arm(true),
        Ok("cold-caxton") => return cold::caxton_arm(),
        Ok("cold-bare") => return cold::bare_arm(),
        Ok(virtual_agents::MEMORY_CHILD) => return virtual_agents::memory_child(),
        Ok(virtual_agents::ACTIVE_CHILD) => return virtual_agents::active_child(),
        Ok(other) => panic!("unknown bench child `{other}`"),
        Err(_) => {}
    }
    if std::env::var("CAXTON_BENCH_ONLY").as_deref() == Ok("cluster") {
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _guard = tokio.enter();
        // the section is measured whole: a run of it alone rewrites it in BENCHMARKS.md
        return cluster::run(&tokio, true);
    }
    if std::env::var("CAXTON_BENCH_ONLY").as_deref() == Ok("virtual") {
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _guard = tokio.enter();
        // the section is measured whole: a run of it alone rewrites it in BENCHMARKS.md
        return virtual_agents::run(&tokio, true);
    }
    if std::env::var("CAXTON_BENCH_ONLY").as_deref() == Ok("watching") {
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _guard = tokio.enter();
        return watching::run(&tokio, true);
    }
    if std::env::var("CAXTON_BENCH_ONLY").as_deref() == Ok("protocols") {
        let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let _guard = tokio.enter();
        return protocols::run(&tokio, true);
    }
    // `runtime`: this section alone, rewritten in BENCHMARKS.md; another name: a quick row
    let only = std::env::var("CAXTON_BENCH_ONLY").ok();
    if let Some(row) = only.as_deref().filter(|row| *row != "runtime") {
        return quick::run(row);
    }
    let cold_dir = tempfile::tempdir().unwrap();
    cold::prepare(cold_dir.path());
    let cold_env = [(cold::DIR_VAR, cold_dir.path())];
    let (mut idle_ours, mut idle_bare, mut cold_ours, mut cold_bare, mut compiled) =
        (vec![], vec![], vec![], vec![], 0);
    for round in 0..PROCESS_ROUNDS {
        println!(
            "process round {} of {PROCESS_ROUNDS} ({} idle agents per arm, {} cold types)…",
            round + 1,
            idle::AGENTS,
            cold::TYPES
        );
        idle_ours.push(in_child("idle-caxton", &[]).0);
        idle_bare.push(in_child("idle-bare", &[]).0);
        let (ms, compiles) = in_child("cold-caxton", &cold_env);
        cold_ours.push(ms);
        compiled += compiles;
        cold_bare.push(in_child("cold-bare", &cold_env).0);
    }

    let with_epoch = Engine::new(&base_config()).unwrap();
    let mut config = base_config();
    config.epoch_interruption(false);
    let without_epoch = Engine::new(&config).unwrap();
    let wasm = wat::parse_str(spawn::SPIN).unwrap();
    let module_on = Module::new(&with_epoch, &wasm).unwrap();
    let module_off = Module::new(&without_epoch, &wasm).unwrap();
    let _ticker = EpochTicker::start(&with_epoch).unwrap();

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let component = Component::new(rt.engine(), &bytes).unwrap();
    let bare_engine = new_engine(POOL).unwrap();
    let bare_component = Component::new(&bare_engine, &bytes).unwrap();
    let mut bare_pair = hop::BareProbes::new(&bare_engine, &bare_component, 2);
    let mut client = hop::client(&rt, 2 * PAIRS);
    println!("deploying {} agents…", 2 * PAIRS + 2);
    tokio.block_on(async {
        rt.deploy_bytes(probe_spec("warm-up"), bytes.clone()).await.unwrap();
        rt.remove("warm-up", caxton::runtime::StateOnRemove::Delete).await.unwrap();
        for name in ["hop-a", "hop-b"] {
            rt.deploy_bytes(probe_spec(name), bytes.clone()).await.unwrap();
        }
        for i in 0..PAIRS {
            for side in ["a", "b"] {
                rt.deploy_bytes(probe_spec(&format!("tp-{side}-{i}")), bytes.clone()).await.unwrap();
            }
        }
    });

    let (mut on, mut off, mut ours, mut bare, mut bare_init) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut hops, mut bare_hops) = (vec![], vec![]);
    let (mut tp, mut bare_tp) = (vec![], vec![]);
    for round in 0..ROUNDS {
        println!("round {} of {ROUNDS}…", round + 1);
        // which arm goes first alternates, so neither always follows the busy rows of the last round
        if round % 2 == 0 {
            on.push(spawn::spin_rate(&with_epoch, &module_on));
            off.push(spawn::spin_rate(&without_epoch, &module_off));
        } else {
            off.push(spawn::spin_rate(&without_epoch, &module_off));
            on.push(spawn::spin_rate(&with_epoch, &module_on));
        }
        ours.push(tokio.block_on(spawn::platform_spawn_micros(&rt, &bytes, round)));
        bare.push(spawn::bare_spawn_micros(rt.engine(), &component));
        bare_init.push(spawn::bare_spawn_init_micros(rt.engine(), &component));
        hops.extend(tokio.block_on(hop::platform_hops(&rt, &mut client, CHAINS)));
        bare_hops.extend(hop::bare_hops(&mut bare_pair, CHAINS));
        tp.push(tokio.block_on(hop::platform_throughput(&rt, &mut client, PAIRS, PAIR_ROUNDS)));
        bare_tp.push(hop::bare_throughput(&bare_engine, &bare_component, PAIRS, PAIR_ROUNDS, 2));
    }
    let rows = [
        Row {
            what: "message hop A → host → B, p50",
            ours: percentile(hops.clone(), 50.0),
            peer_name: "same guests on plain wasmtime, p50",
            peer: percentile(bare_hops.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "message hop A → host → B, p99",
            ours: percentile(hops, 99.0),
            peer_name: "same guests on plain wasmtime, p99",
            peer: percentile(bare_hops, 99.0),
            unit: "µs",
        },
        Row {
            what: "bus throughput, 1,000 agents in relaying pairs",
            ours: median(tp),
            peer_name: "same pairs on plain wasmtime, 2 threads",
            peer: median(bare_tp),
            unit: "msg/s",
        },
        Row {
            what: "idle memory per agent (PSS, each handled one message)",
            ours: median(idle_ours),
            peer_name: "bare instance of the same component, same message",
            peer: median(idle_bare),
            unit: "KiB",
        },
        Row {
            what: "cold start: 100 cached agent types, first answer from each",
            ours: median(cold_ours),
            peer_name: "deserialize + instantiate + call, plain wasmtime",
            peer: median(cold_bare),
            unit: "ms",
        },
        Row {
            what: "spawn an already-compiled agent",
            ours: median(ours.clone()),
            peer_name: "InstancePre::instantiate + init + capabilities, plain wasmtime",
            peer: median(bare_init),
            unit: "µs",
        },
        Row {
            what: "spawn an already-compiled agent",
            ours: median(ours),
            peer_name: "bare InstancePre::instantiate, same pool",
            peer: median(bare),
            unit: "µs",
        },
        Row {
            what: "CPU-bound loop, epoch interruption on (ticker running)",
            ours: median(on) / 1e6,
            peer_name: "same settings, epoch off",
            peer: median(off) / 1e6,
            unit: "M it/s",
        },
    ];

    let mut section = format!("{SECTION}\n\n{}", table(&rows, 1));
    section.push_str(&format!(
        "\nMethod. **Hop**: `bus-probe` agents relay a message back and forth {hops} times (a `request` that starts it, then `inform`s of {content} bytes of text content that the guest rewrites each hop); a hop is the relay's time from the \
         request to the report, divided by {hops}, over {chains} relays per round; the peer runs the same \
         component as two instances on plain wasmtime whose `messaging.send` hands the message straight to \
         the other's `handle-message` on one thread. Goal: p50 ≤ 1.3×, p99 ≤ 3×. **Throughput**: {pairs} \
         pairs (1,000 agents) each run {pair_rounds} relays per round, all pairs at once; messages counted \
         are the request, the {hops} relayed messages and the report; the peer runs as many bare pairs \
         split over 2 threads. Goal: ≥ 250,000 msg/s and ≥ 0.55×. **Spawn** deploys `bus-probe` {spawns} times per round \
         from the in-memory compile cache through `Runtime::deploy_bytes` (preflight, recognising the bytes, link of \
         the granted capabilities, instantiate, `init`, registration, release to the scheduler), each deploy given a \
         copy of the bytes made just before it, untimed, as an upload hands over what it just received, next to `InstancePre::instantiate` \
         of the same component on the runtime's own pooling engine, and next to that instantiate plus the \
         guest's `init` and `capabilities` calls with WASI and messaging linked (goal: ≤ 1.5× the latter). **Idle memory**: a fresh \
         process deploys {idle} agents (after one warm-up agent), sends each a `ping` and takes the \
         replies; the figure is the growth of the process's PSS (`/proc/self/smaps_rollup`) per agent; the \
         peer process instantiates {idle} bare instances on the same pooling engine and pings each with \
         the same message (with the conversation id the host stamps on it). \
         Goal: the platform's share ≤ 4 KiB per agent above the bare instance. **Cold start**: {types} variants of `bus-probe` (distinct digests) are \
         compiled into a cache directory first; then a fresh process creates the runtime, deploys all \
         of them from disk and waits for the answer to one request to each; components compiled during \
         these cold starts: {compiled} (goal: 0; ready in ≤ 100 ms). The peer process deserializes the \
         same artifacts on plain wasmtime, instantiates each and sends it the same request. These two \
         rows take {PROCESS_ROUNDS} rounds, each arm in its own process. **Epoch**: core wasm, \
         {iterations} iterations of multiply-add, decrement, branch, on `runtime::engine::base_config` \
         with fuel metering in both arms; goal: epoch checks cost ≤ 15% (ratio ≥ 0.85×). {ROUNDS} \
         alternating rounds; medians, and percentiles over all rounds' samples.\n",
        hops = hop::HOPS,
        content = hop::relayed_content_bytes(),
        chains = CHAINS,
        pairs = PAIRS,
        pair_rounds = PAIR_ROUNDS,
        spawns = spawn::SPAWNS,
        iterations = spawn::ITERATIONS,
        idle = idle::AGENTS,
        types = cold::TYPES,
    ));
    common::write_section(SECTION, &section);
    drop((rt, client, bare_pair));
    if only.is_some() {
        return;
    }
    cluster::run(&tokio, true);
    virtual_agents::run(&tokio, true);
    protocols::run(&tokio, true);
    watching::run(&tokio, true);
}
