//! Rows 3 and 7: spawning an already-compiled agent next to a bare
//! `InstancePre::instantiate`, and the cost of epoch preemption on a CPU-bound
//! guest next to the same engine with interruption off.

use super::probe_spec;
use caxton::runtime::Runtime;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Instance, Module, Store};

/// Iterations of the spinning loop per run.
pub const ITERATIONS: i64 = 200_000_000;
/// Deploys per round.
pub const SPAWNS: usize = 200;

/// A guest that spins: a counted loop doing a little integer work per turn.
pub const SPIN: &str = r#"(module
  (func (export "spin") (param $n i64) (result i64)
    (local $acc i64)
    (loop $top
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $top (i64.gt_s (local.get $n) (i64.const 0))))
    (local.get $acc)))"#;

/// Loop iterations per second for one run of the spinning guest on `engine`.
pub fn spin_rate(engine: &Engine, module: &Module) -> f64 {
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let spin = instance.get_typed_func::<i64, i64>(&mut store, "spin").unwrap();
    let started = Instant::now();
    std::hint::black_box(spin.call(&mut store, ITERATIONS).unwrap());
    ITERATIONS as f64 / started.elapsed().as_secs_f64()
}

/// Microseconds per deploy of an already-compiled agent (checks, link,
/// instantiate, `init`, registration, actor start); agents removed untimed.
pub async fn platform_spawn_micros(rt: &Runtime, bytes: &[u8], round: usize) -> f64 {
    let names: Vec<String> = (0..SPAWNS).map(|i| format!("spawn-{round}-{i}")).collect();
    let mut took = Duration::ZERO;
    for name in &names {
        // each deploy takes its own copy of the bytes, made just before it (untimed), as an
        // upload hands over the bytes it has just received
        let (spec, bytes) = (probe_spec(name), bytes.to_vec());
        let started = Instant::now();
        rt.deploy_bytes(spec, bytes).await.unwrap();
        took += started.elapsed();
    }
    let micros = took.as_secs_f64() * 1e6 / SPAWNS as f64;
    for name in &names {
        rt.remove(name, caxton::runtime::StateOnRemove::Delete).await.unwrap();
    }
    micros
}

/// Microseconds per bare `InstancePre::instantiate` of the same component on
/// the same (pooling) engine, every import defined as a trap.
pub fn bare_spawn_micros(engine: &Engine, component: &Component) -> f64 {
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

/// Microseconds per instantiate of the same component on plain wasmtime with
/// WASI and messaging linked, plus the guest's `init` and `capabilities`
/// calls: what a deploy cannot do without.
pub fn bare_spawn_init_micros(engine: &Engine, component: &Component) -> f64 {
    let pre = super::hop::bare_pre(engine, component);
    let started = Instant::now();
    for i in 0..SPAWNS {
        let (mut store, agent) = super::hop::bare_instance(engine, &pre, i);
        std::hint::black_box(agent.caxton_agent_guest().call_capabilities(&mut store).unwrap());
    }
    started.elapsed().as_secs_f64() * 1e6 / SPAWNS as f64
}
