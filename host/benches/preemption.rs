//! `just bench` (preemption): what epoch interruption costs a CPU-bound guest.
//! The same loop runs on Caxton's engine settings with the epoch ticker
//! running and, alternately, on the same settings with epoch interruption off.
//! The median of several alternating rounds is written to BENCHMARKS.md as
//! its own section, after the storage bench has written the file.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use caxton::runtime::engine::{base_config, EpochTicker};
use std::path::{Path, PathBuf};
use std::time::Instant;
use wasmtime::{Engine, Instance, Module, Store};

const ROUNDS: usize = 5;
const ITERATIONS: i64 = 200_000_000;
const SECTION: &str = "## Preemption";

/// A guest that spins: a counted loop doing a little integer work per turn.
const SPIN: &str = r#"(module
  (func (export "spin") (param $n i64) (result i64)
    (local $acc i64)
    (loop $top
      (local.set $acc (i64.add (i64.mul (local.get $acc) (i64.const 31)) (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $top (i64.gt_s (local.get $n) (i64.const 0))))
    (local.get $acc)))"#;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Loop iterations per second for one run of the spinning guest on `engine`.
fn spin_rate(engine: &Engine, module: &Module) -> f64 {
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    let spin = instance.get_typed_func::<i64, i64>(&mut store, "spin").unwrap();
    let started = Instant::now();
    let acc = spin.call(&mut store, ITERATIONS).unwrap();
    std::hint::black_box(acc);
    ITERATIONS as f64 / started.elapsed().as_secs_f64()
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

    let (mut on, mut off) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        on.push(spin_rate(&with_epoch, &module_on));
        off.push(spin_rate(&without_epoch, &module_off));
    }
    let (on, off) = (median(on), median(off));
    let ratio = on / off;
    println!("spin loop, epoch on {on:.0} it/s vs epoch off {off:.0} it/s ({ratio:.2}×)");

    let mut section = format!(
        "{SECTION}\n\n| measure | Caxton | peer | peer figure | ratio |\n| --- | ---: | --- | ---: | ---: |\n\
         | CPU-bound loop, epoch interruption on (ticker running) | {:.0} M it/s | same settings, epoch off | {:.0} M it/s | {ratio:.2}× |\n",
        on / 1e6,
        off / 1e6
    );
    section.push_str(&format!(
        "\nMethod: a core-wasm loop of {ITERATIONS} iterations (multiply-add, decrement, branch) on \
         `runtime::engine::base_config` (fuel metering on in both arms), {ROUNDS} alternating rounds, median. \
         Goal: epoch checks cost ≤ 15%, i.e. ratio ≥ 0.85×.\n"
    ));
    let path = root().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let kept = existing.split(SECTION).next().unwrap_or_default().trim_end();
    if let Err(e) = std::fs::write(&path, format!("{kept}\n\n{section}")) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}
