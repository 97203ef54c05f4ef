//! `CAXTON_BENCH_ONLY=hop|spawn|throughput|idle cargo bench --bench runtime`: one row's two
//! arms for a few alternating rounds, printed and not written to
//! BENCHMARKS.md (for trying a change; `just bench` is the record, and
//! `CAXTON_BENCH_ONLY=runtime|cluster|virtual|protocols|watching` measures
//! one of its sections whole and rewrites it there).

use super::common::{median, percentile};
use super::{hop, probe_spec, spawn, CHAINS, POOL};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;
use wasmtime::component::Component;

/// Rounds per arm.
const ROUNDS: usize = 7;

/// Run the arms of `row` and print their figures.
pub fn run(row: &str) {
    if row == "idle" {
        let (ours, _) = super::in_child("idle-caxton", &[]);
        let (bare, _) = super::in_child("idle-bare", &[]);
        let (described, _) = super::in_child("idle-bare-described", &[]);
        println!(
            "idle PSS per agent {ours:.1} KiB vs {bare:.1} KiB bare ({:.1} KiB more), {described:.1} KiB bare after `capabilities` ({:.1} KiB more)",
            ours - bare,
            ours - described
        );
        return;
    }
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let component = Component::new(rt.engine(), &bytes).unwrap();
    let mut client = hop::client(&rt, 1_000);
    tokio.block_on(async {
        for name in ["hop-a", "hop-b"] {
            rt.deploy_bytes(probe_spec(name), bytes.clone()).await.unwrap();
        }
    });
    let (mut ours, mut peer) = (vec![], vec![]);
    match row {
        "hop" => {
            let mut bare = hop::BareProbes::new(rt.engine(), &component, 2);
            for _ in 0..ROUNDS {
                ours.extend(tokio.block_on(hop::platform_hops(&rt, &mut client, CHAINS)));
                peer.extend(hop::bare_hops(&mut bare, CHAINS));
            }
            println!(
                "hop p50 {:.2} µs vs {:.2} µs ({:.2}×); p99 {:.2} µs vs {:.2} µs ({:.2}×)",
                percentile(ours.clone(), 50.0),
                percentile(peer.clone(), 50.0),
                percentile(ours.clone(), 50.0) / percentile(peer.clone(), 50.0),
                percentile(ours.clone(), 99.0),
                percentile(peer.clone(), 99.0),
                percentile(ours, 99.0) / percentile(peer, 99.0),
            );
        }
        "spawn" => {
            for round in 0..ROUNDS {
                ours.push(tokio.block_on(spawn::platform_spawn_micros(&rt, &bytes, round)));
                peer.push(spawn::bare_spawn_init_micros(rt.engine(), &component));
            }
            let (ours, peer) = (median(ours), median(peer));
            println!("spawn {ours:.1} µs vs {peer:.1} µs instantiate + init + capabilities ({:.2}×)", ours / peer);
        }
        "throughput" => {
            tokio.block_on(async {
                for i in 0..super::PAIRS {
                    for side in ["a", "b"] {
                        rt.deploy_bytes(probe_spec(&format!("tp-{side}-{i}")), bytes.clone()).await.unwrap();
                    }
                }
            });
            // the bare pairs on an engine (and instance pool) of their own, as in the full run
            let engine = caxton::runtime::engine::new_engine(POOL).unwrap();
            let bare = Component::new(&engine, &bytes).unwrap();
            for _ in 0..ROUNDS {
                ours.push(tokio.block_on(hop::platform_throughput(&rt, &mut client, super::PAIRS, super::PAIR_ROUNDS)));
                peer.push(hop::bare_throughput(&engine, &bare, super::PAIRS, super::PAIR_ROUNDS, 2));
            }
            let (ours, peer) = (median(ours), median(peer));
            println!("throughput {ours:.0} msg/s vs {peer:.0} msg/s bare pairs ({:.2}×)", ours / peer);
        }
        other => panic!("CAXTON_BENCH_ONLY: no quick row `{other}` (hop, spawn, throughput or idle)"),
    }
}
