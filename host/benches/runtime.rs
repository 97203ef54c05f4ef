//! `just bench` (runtime): what the platform adds around a guest, each row next
//! to plain wasmtime on the same engine settings, measured in the same run as
//! the median of several alternating rounds. Written to BENCHMARKS.md as its
//! own section, after the storage bench has written the file.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use caxton::policy::{AgentSpec, Grants, Limits, MessagingGrant};
use caxton::runtime::engine::{base_config, EpochTicker};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Instance, Module, Store};

mod common;

use common::{median, root, table, Row};

const ROUNDS: usize = 5;
const ITERATIONS: i64 = 200_000_000;
const SPAWNS: usize = 200;
const SECTION: &str = "## Runtime";

/// A guest that spins: a counted loop doing a little integer work per turn.
const SPIN: &str = r#"(module
  (func (export "spin") (param $n i64) (result i64)
    (local $acc i64)
    (loop $top
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $top (i64.gt_s (local.get $n) (i64.const 0))))
    (local.get $acc)))"#;

/// Loop iterations per second for one run of the spinning guest on `engine`.
fn spin_rate(engine: &Engine, module: &Module) -> f64 {
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let spin = instance.get_typed_func::<i64, i64>(&mut store, "spin").unwrap();
    let started = Instant::now();
    std::hint::black_box(spin.call(&mut store, ITERATIONS).unwrap());
    ITERATIONS as f64 / started.elapsed().as_secs_f64()
}

fn probe_spec(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        component: root().join("components/bus_probe.wasm"),
        grants: Grants {
            messaging: Some(MessagingGrant::send_to_all()),
            kv_store: Some(caxton::policy::KvStoreGrant::default()),
            timers: Some(caxton::policy::TimersGrant { max_active: 1 }),
            logging: None,
            filesystem: None,
        },
        limits: Limits::default(),
        policy: PathBuf::from("bench"),
    }
}

/// Microseconds per deploy of an already-compiled agent (checks, link,
/// instantiate, `init`, registration, actor start); agents removed untimed.
async fn platform_spawn_micros(rt: &Runtime, bytes: &[u8], round: usize) -> f64 {
    let names: Vec<String> = (0..SPAWNS).map(|i| format!("spawn-{round}-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        rt.deploy_bytes(probe_spec(name), bytes.to_vec()).await.unwrap();
    }
    let micros = started.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64;
    for name in &names {
        rt.remove(name).await.unwrap();
    }
    micros
}

/// Microseconds per bare `InstancePre::instantiate` of the same component on
/// the same (pooling) engine, every import defined as a trap.
fn bare_spawn_micros(engine: &Engine, component: &Component) -> f64 {
    let mut linker = Linker::<()>::new(engine);
    linker.define_unknown_imports_as_traps(component).unwrap();
    let pre = linker.instantiate_pre(component).unwrap();
    let started = Instant::now();
    for _ in 0..SPAWNS {
        let mut store = Store::new(engine, ());
        store.set_fuel(u64::MAX).unwrap();
        store.set_epoch_deadline(u64::MAX / 2);
        std::hint::black_box(pre.instantiate(&mut store).unwrap());
    }
    started.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64
}

fn main() {
    let with_epoch = Engine::new(&base_config()).unwrap();
    let mut config = base_config();
    config.epoch_interruption(false);
    let without_epoch = Engine::new(&config).unwrap();
    let wasm = wat::parse_str(SPIN).unwrap();
    let module_on = Module::new(&with_epoch, &wasm).unwrap();
    let module_off = Module::new(&without_epoch, &wasm).unwrap();
    let _ticker = EpochTicker::start(&with_epoch).unwrap();

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let rt = Runtime::new(RuntimeConfig::new(Arc::new(MemoryStore::new()))).unwrap();
    let bytes = std::fs::read(root().join("components/bus_probe.wasm"))
        .unwrap_or_else(|e| panic!("components/bus_probe.wasm: {e} (run `just build-guests`)"));
    let component = Component::new(rt.engine(), &bytes).unwrap();
    tokio.block_on(async {
        rt.deploy_bytes(probe_spec("warm-up"), bytes.clone()).await.unwrap();
        rt.remove("warm-up").await.unwrap();
    });

    let (mut on, mut off, mut ours, mut bare) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        on.push(spin_rate(&with_epoch, &module_on));
        off.push(spin_rate(&without_epoch, &module_off));
        ours.push(tokio.block_on(platform_spawn_micros(&rt, &bytes, round)));
        bare.push(bare_spawn_micros(rt.engine(), &component));
    }
    let rows = [
        Row {
            what: "CPU-bound loop, epoch interruption on (ticker running)",
            ours: median(on) / 1e6,
            peer_name: "same settings, epoch off",
            peer: median(off) / 1e6,
            unit: "M it/s",
        },
        Row {
            what: "spawn an already-compiled agent",
            ours: median(ours),
            peer_name: "bare InstancePre::instantiate, same pool",
            peer: median(bare),
            unit: "µs",
        },
    ];

    let mut section = format!("{SECTION}\n\n{}", table(&rows, 1));
    section.push_str(&format!(
        "\nMethod: the loop is core wasm, {ITERATIONS} iterations of multiply-add, decrement, branch, on \
         `runtime::engine::base_config` with fuel metering in both arms; goal: epoch checks cost ≤ 15% \
         (ratio ≥ 0.85×). Spawn deploys `bus-probe` {SPAWNS} times per round from the in-memory compile \
         cache through `Runtime::deploy_bytes` (preflight, link of the granted capabilities, instantiate, \
         `init`, registration, actor start) next to `InstancePre::instantiate` of the same component on \
         the runtime's own pooling engine; goal: ≤ 1.3×. {ROUNDS} alternating rounds, median.\n"
    ));
    let path = root().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let kept = existing.split("## Preemption").next().unwrap_or_default();
    let kept = kept.split(SECTION).next().unwrap_or_default().trim_end();
    if let Err(e) = std::fs::write(&path, format!("{kept}\n\n{section}")) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}
