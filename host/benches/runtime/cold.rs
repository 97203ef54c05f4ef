//! Row 6: cold start of many agent types whose compiled forms are already in
//! the cache directory — a fresh process that loads them all and answers the
//! first request to each — next to a fresh process that deserializes the same
//! artifacts with plain wasmtime, instantiates each once and sends it the same
//! request. The Caxton arm also reports how many components it compiled: the
//! goal is none.

use super::{child_result, hop, probe_spec, BENCH_CLIENT};
use caxton::acl::{Message, Performative};
use caxton::bus::Event;
use caxton::runtime::engine::{new_engine, PoolSize};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::Component;

/// Distinct agent types loaded.
pub const TYPES: usize = 100;
/// Where the children find the prepared directory.
pub const DIR_VAR: &str = "CAXTON_BENCH_COLD_DIR";

/// `bytes` made distinct by a trailing custom section, so each variant is its
/// own component type to the cache (same code, different digest).
fn variant(bytes: &[u8], n: usize) -> Vec<u8> {
    let name = format!("caxton-bench-variant-{n}");
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    leb128(&mut out, 1 + name.len() + 1); // name length (one byte), name, one byte of payload
    leb128(&mut out, name.len());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn variants(dir: &Path) -> Vec<PathBuf> {
    (0..TYPES).map(|n| dir.join(format!("variants/probe-{n}.wasm"))).collect()
}

fn config(dir: &Path) -> RuntimeConfig {
    RuntimeConfig {
        cache_dir: Some(dir.join("cache")),
        pool: PoolSize::default(),
        ..RuntimeConfig::new(Arc::new(MemoryStore::new()))
    }
}

/// Write the variants under `dir` and compile each into the cache (untimed).
pub fn prepare(dir: &Path) {
    std::fs::create_dir_all(dir.join("variants")).unwrap();
    let bytes = hop::probe_bytes();
    for (n, path) in variants(dir).iter().enumerate() {
        std::fs::write(path, variant(&bytes, n)).unwrap();
    }
    println!("compiling {TYPES} agent types into the cache…");
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let rt = Arc::new(Runtime::new(config(dir)).unwrap());
    tokio.block_on(deploy_all(&rt, dir));
    assert_eq!(rt.components_compiled(), TYPES as u64, "the variants should be distinct components");
}

async fn deploy_all(rt: &Arc<Runtime>, dir: &Path) {
    let mut deploys = tokio::task::JoinSet::new();
    for (n, path) in variants(dir).into_iter().enumerate() {
        let rt = rt.clone();
        deploys.spawn(async move {
            let spec = caxton::policy::AgentSpec { component: path, ..probe_spec(&format!("cold-{n}")) };
            rt.deploy(spec).await.unwrap();
        });
    }
    while let Some(done) = deploys.join_next().await {
        done.unwrap();
    }
}

/// In a child process: milliseconds from a new runtime to the answer of the
/// first request to each of the cached types, and how many it compiled.
pub fn caxton_arm() {
    let dir = PathBuf::from(std::env::var(DIR_VAR).unwrap());
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let _guard = tokio.enter();
    let started = Instant::now();
    let rt = Arc::new(Runtime::new(config(&dir)).unwrap());
    let mut client = hop::client(&rt, TYPES);
    tokio.block_on(async {
        deploy_all(&rt, &dir).await;
        for n in 0..TYPES {
            let ping = Message::new(Performative::Request, vec![format!("cold-{n}")], r#"{"action":"ping"}"#.into());
            rt.bus().send(BENCH_CLIENT, ping).unwrap();
        }
        for _ in 0..TYPES {
            assert!(matches!(client.recv().await, Some(Event::Message(_))));
        }
    });
    child_result(started.elapsed().as_secs_f64() * 1e3, rt.components_compiled());
}

/// In a child process: milliseconds to deserialize the same artifacts with
/// plain wasmtime (same pooling engine), instantiate each and answer one request.
#[allow(unsafe_code)]
pub fn bare_arm() {
    let dir = PathBuf::from(std::env::var(DIR_VAR).unwrap());
    let started = Instant::now();
    let engine = new_engine(PoolSize::default()).unwrap();
    let mut artifacts = 0;
    for entry in std::fs::read_dir(dir.join("cache")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cwasm") {
            // SAFETY: written by `Component::serialize` of this same build during `prepare`.
            let component = unsafe { Component::deserialize_file(&engine, &path) }.unwrap();
            hop::BareProbes::new(&engine, &component, 1).ping(0);
            artifacts += 1;
        }
    }
    assert_eq!(artifacts, TYPES);
    child_result(started.elapsed().as_secs_f64() * 1e3, 0);
}
