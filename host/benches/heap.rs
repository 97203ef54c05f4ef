//! `cargo bench --bench heap`: where an idle agent's heap goes. Deploys
//! agents the way the idle-memory row does (each handles one `ping`), and as
//! many bare instances of the same component; prints the live heap bytes per
//! agent of each arm and the allocation sites that hold the most of the
//! platform's share, from dhat's heap profile; then the allocations per
//! message of the hop row's relay, next to the same relay on plain wasmtime
//! (a diagnostic, not a row of BENCHMARKS.md).
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;
#[path = "runtime/hop.rs"]
#[allow(dead_code)]
mod hop;

use caxton::acl::{Message, Performative};
use caxton::bus::Event;
use caxton::runtime::engine::PoolSize;
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
pub use common::root;
use std::sync::Arc;
use wasmtime::component::Component;

pub const BENCH_CLIENT: &str = "bench-client";
const AGENTS: usize = 1_000;

fn live() -> usize {
    dhat::HeapStats::get().curr_bytes
}

fn main() {
    let profile = std::env::temp_dir().join("caxton-dhat-heap.json");
    let profiler = dhat::Profiler::builder().file_name(&profile).trim_backtraces(Some(16)).build();
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let pool = PoolSize { instances: 2 * AGENTS as u32 + 10 };
    let rt = Runtime::new(RuntimeConfig { pool, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let mut client = hop::client(&rt, AGENTS + 1);
    let ping = |rt: &Runtime, name: String| {
        let msg = Message::new(Performative::Request, vec![name], r#"{"action":"ping"}"#.into());
        rt.bus().send(BENCH_CLIENT, msg).unwrap();
    };
    let ours = tokio.block_on(async {
        rt.deploy_bytes(hop::probe_spec("warm-up"), bytes.clone()).await.unwrap();
        ping(&rt, "warm-up".into());
        assert!(matches!(client.recv().await, Some(Event::Message(_))));
        let before = live();
        for i in 0..AGENTS {
            rt.deploy_bytes(hop::probe_spec(&format!("idle-{i}")), bytes.clone()).await.unwrap();
            ping(&rt, format!("idle-{i}"));
            assert!(matches!(client.recv().await, Some(Event::Message(_))));
        }
        (live() - before) / AGENTS
    });
    let component = Component::new(rt.engine(), &bytes).unwrap();
    let mut warm = hop::BareProbes::new(rt.engine(), &component, 1);
    warm.ping(0);
    let before = live();
    let mut probes = hop::BareProbes::new(rt.engine(), &component, AGENTS);
    for i in 0..AGENTS {
        probes.ping(i);
    }
    let bare = (live() - before) / AGENTS;
    println!(
        "live heap per agent: {ours} bytes; per bare instance: {bare} bytes; the platform's share: {} bytes",
        ours.saturating_sub(bare)
    );
    // allocations per relayed message: each one is a malloc and a free on the message path
    let blocks = || dhat::HeapStats::get().total_blocks;
    let relayed = (100 * (hop::HOPS + 2)) as f64;
    let per_msg = tokio.block_on(async {
        for name in ["hop-a", "hop-b"] {
            rt.deploy_bytes(hop::probe_spec(name), bytes.clone()).await.unwrap();
        }
        hop::platform_hops(&rt, &mut client, 10).await;
        let b = blocks();
        hop::platform_hops(&rt, &mut client, 100).await;
        (blocks() - b) as f64 / relayed
    });
    let mut pair = hop::BareProbes::new(rt.engine(), &component, 2);
    hop::bare_hops(&mut pair, 10);
    let b = blocks();
    hop::bare_hops(&mut pair, 100);
    let bare_per_msg = (blocks() - b) as f64 / relayed;
    println!("allocations per relayed message: {per_msg:.2}; on plain wasmtime: {bare_per_msg:.2}");
    drop(profiler);
    drop(probes);
    println!("allocation sites: {} (dh_view.html, or the largest with jq)", profile.display());
}
