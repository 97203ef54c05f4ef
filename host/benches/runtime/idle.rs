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
pub fn pss_kib() -> f64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("/proc/self/smaps_rollup (Linux only)");
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no Pss line in smaps_rollup")
}

/// PSS in KiB per mapping of this process (by its address range and name).
fn pss_by_mapping() -> std::collections::HashMap<String, u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let (mut out, mut current) = (std::collections::HashMap::new(), String::new());
    for line in smaps.lines() {
        if let Some(pss) = line.strip_prefix("Pss:") {
            let kib: u64 = pss.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            *out.entry(current.clone()).or_default() += kib;
        } else if line.split_whitespace().next().is_some_and(|f| f.contains('-') && !f.ends_with(':')) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            current = format!("{} {}", fields[0], fields.get(5).copied().unwrap_or("[anon]"));
        }
    }
    out
}

/// With `CAXTON_BENCH_SMAPS` set: the mappings that grew most between two snapshots.
fn print_growth(before: &std::collections::HashMap<String, u64>) {
    if std::env::var_os("CAXTON_BENCH_SMAPS").is_none() {
        return;
    }
    let mut grown: Vec<(i64, String)> = pss_by_mapping()
        .into_iter()
        .map(|(k, v)| (v as i64 - before.get(&k).copied().unwrap_or(0) as i64, k))
        .collect();
    grown.sort();
    for (kib, mapping) in grown.iter().rev().take(12) {
        eprintln!("  {kib:>8} KiB  {mapping}");
    }
    // linear memories of the pooling allocator: many small mappings, grouped by kind
    let mut kinds: std::collections::BTreeMap<String, (i64, usize)> = Default::default();
    for (kib, mapping) in &grown {
        let kind = mapping.split_once(' ').map_or("", |(_, k)| k).to_string();
        // anonymous mappings: the pooling allocator's slots sit at low addresses, malloc arenas and pools at 0x7f…
        let kind = if kind == "[anon]" { format!("[anon] at {}", &mapping[..2]) } else { kind };
        let entry = kinds.entry(kind).or_default();
        entry.0 += kib;
        entry.1 += usize::from(*kib != 0);
    }
    for (kind, (kib, n)) in kinds {
        eprintln!("  by kind: {kib:>8} KiB in {n} mappings: {kind}");
    }
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
        let mappings = pss_by_mapping();
        for i in 0..AGENTS {
            rt.deploy_bytes(probe_spec(&format!("idle-{i}")), bytes.clone()).await.unwrap();
        }
        for i in 0..AGENTS {
            ping(&rt, format!("idle-{i}"));
        }
        for _ in 0..AGENTS {
            assert!(matches!(client.recv().await, Some(Event::Message(_))));
        }
        print_growth(&mappings);
        (pss_kib() - before) / AGENTS as f64
    });
    child_result(kib, 0);
}

/// In a child process: KiB of PSS per bare instance on the same pooling
/// engine; with `described`, each instance also answered `capabilities` (as
/// every deployed agent does once) before its `ping`.
pub fn bare_arm(described: bool) {
    let engine = new_engine(POOL).unwrap();
    let component = Component::new(&engine, hop::probe_bytes()).unwrap();
    let mut warm_up = hop::BareProbes::new(&engine, &component, 1);
    if described {
        warm_up.describe(0);
    }
    warm_up.ping(0);
    let before = pss_kib();
    let mappings = pss_by_mapping();
    let mut probes = hop::BareProbes::new(&engine, &component, AGENTS);
    for i in 0..probes.len() {
        if described {
            probes.describe(i);
        }
        probes.ping(i);
    }
    print_growth(&mappings);
    child_result((pss_kib() - before) / AGENTS as f64, 0);
}
