//! Row 4: resident memory of many idle agents, each of which has handled one
//! message, next to as many bare instances of the same component that have
//! done the same. Each arm runs in a fresh process of this bench binary, so
//! neither inherits the other's heap; the figure is the growth of the
//! process's proportional set size (PSS) divided by the number of agents.

use super::{child_result, hop, probe_spec, BENCH_CLIENT};
use caxton::acl::{Message, Performative};
use caxton::bus::Event;
use caxton::runtime::engine::{new_engine, PoolSize};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;
use wasmtime::component::Component;

/// Idle agents per arm.
pub const AGENTS: usize = 10_000;
const POOL: PoolSize = PoolSize { instances: AGENTS as u32 + 10 };

/// The process's proportional set size in KiB.
fn pss_kib() -> f64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("/proc/self/smaps_rollup (Linux only)");
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no Pss line in smaps_rollup")
}

/// In a child process: KiB of PSS per idle Caxton agent.
pub fn caxton_arm() {
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let bytes = hop::probe_bytes();
    let mut client = hop::client(&rt, AGENTS + 1);
    let ping = |rt: &Runtime, name: String| {
        let msg = Message::new(Performative::Request, vec![name], r#"{"action":"ping"}"#.into());
        rt.bus().send(BENCH_CLIENT, msg).unwrap();
    };
    let kib = tokio.block_on(async {
        // one agent first, so the compiled code and the runtime's own buffers are counted in the baseline
        rt.deploy_bytes(probe_spec("idle-warm-up"), bytes.clone()).await.unwrap();
        ping(&rt, "idle-warm-up".into());
        assert!(matches!(client.recv().await, Some(Event::Message(_))));
        let before = pss_kib();
        for i in 0..AGENTS {
            rt.deploy_bytes(probe_spec(&format!("idle-{i}")), bytes.clone()).await.unwrap();
        }
        for i in 0..AGENTS {
            ping(&rt, format!("idle-{i}"));
        }
        for _ in 0..AGENTS {
            assert!(matches!(client.recv().await, Some(Event::Message(_))));
        }
        (pss_kib() - before) / AGENTS as f64
    });
    child_result(kib, 0);
}

/// In a child process: KiB of PSS per bare instance on the same pooling engine.
pub fn bare_arm() {
    let engine = new_engine(POOL).unwrap();
    let component = Component::new(&engine, hop::probe_bytes()).unwrap();
    let mut warm_up = hop::BareProbes::new(&engine, &component, 1);
    warm_up.ping(0);
    let before = pss_kib();
    let mut probes = hop::BareProbes::new(&engine, &component, AGENTS);
    for i in 0..probes.len() {
        probes.ping(i);
    }
    child_result((pss_kib() - before) / AGENTS as f64, 0);
}
