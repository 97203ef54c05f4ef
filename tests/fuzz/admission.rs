//! Component admission: real components and the minimal WAT agent, mutated
//! (bytes flipped, overwritten, cut, duplicated, spliced from another seed),
//! through every step a deploy takes before running anything — header,
//! inspection, grants, compilation, export and import type-checks. No step
//! panics, and a component the offline check (`caxton policy check`) passes
//! is never refused by a deploy for a reason that check covers.

use crate::fuzz;
use crate::hostile_wat::WatAgent;
use arbtest::arbitrary::{Result, Unstructured};
use caxton::component::{self, Compiler, MAX_COMPONENT_BYTES};
use caxton::policy::{AgentSpec, Grants, KvStoreGrant, Limits, LoggingGrant, MessagingGrant, TimersGrant};
use caxton::runtime::{engine, verify, Runtime, RuntimeConfig, RuntimeError};
use caxton::store::memory::MemoryStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("components");
    let mut seeds = vec![WatAgent::default().bytes()];
    for name in ["textops", "text_processor", "composed_text_full"] {
        let path = root.join(format!("{name}.wasm"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `just build-guests`", path.display()));
        seeds.push(bytes);
    }
    seeds
}

/// One seed with a few mutations.
fn mutant(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> Result<Vec<u8>> {
    let mut bytes = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(0..=6)? {
        let len = bytes.len().max(1);
        let at = u.int_in_range(0..=len - 1)?;
        match u.int_in_range(0..=5)? {
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << u.int_in_range(0..=7)?;
                }
            }
            1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = u.arbitrary()?;
                }
            }
            2 => bytes.truncate(at),
            3 => {
                let end = (at + u.int_in_range(1..=64)?).min(bytes.len());
                let piece = bytes.get(at..end).unwrap_or_default().to_vec();
                bytes.splice(at..at, piece);
            }
            4 => {
                let donor = u.choose(seeds)?;
                let from = u.int_in_range(0..=donor.len().saturating_sub(1))?;
                let piece = donor.get(from..(from + 256).min(donor.len())).unwrap_or_default().to_vec();
                let end = (at + piece.len()).min(bytes.len());
                bytes.splice(at..end, piece);
            }
            _ => {
                let end = (at + u.int_in_range(1..=64)?).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    Ok(bytes)
}

fn spec(grants: Grants) -> AgentSpec {
    AgentSpec {
        name: "fuzzed".into(),
        component: PathBuf::from("fuzzed.wasm"),
        grants,
        limits: Limits::default(),
        policy: PathBuf::from("fuzz.toml"),
    }
}

fn grants(u: &mut Unstructured<'_>) -> Result<Grants> {
    Ok(Grants {
        messaging: u.arbitrary::<bool>()?.then(MessagingGrant::send_to_all),
        kv_store: u.arbitrary::<bool>()?.then(KvStoreGrant::default),
        timers: u.arbitrary::<bool>()?.then_some(TimersGrant { max_active: 4 }),
        logging: u.arbitrary::<bool>()?.then_some(LoggingGrant { max_level: caxton::policy::LogLevel::Info }),
        filesystem: None,
    })
}

/// Whether a deploy's refusal is one the offline check should have made.
fn checked_offline(e: &RuntimeError) -> bool {
    matches!(
        e,
        RuntimeError::Component { .. }
            | RuntimeError::Policy(_)
            | RuntimeError::Link { .. }
            | RuntimeError::MissingExports { .. }
            | RuntimeError::GuestFunction { .. }
    )
}

#[test]
fn mutated_components_are_refused_with_a_reason_and_what_the_check_passes_deploys() {
    let seeds = seeds();
    let compiler = Compiler::new(engine::new_engine(engine::PoolSize { instances: 1 }).unwrap(), None);
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let runtime = tokio.block_on(async { Runtime::new(RuntimeConfig::new(Arc::new(MemoryStore::new()))).unwrap() });
    let (mut passed, mut deployed) = (0, 0);
    fuzz("component-admission", |u| {
        let bytes = mutant(u, &seeds)?;
        let spec = spec(grants(u)?);
        let _ = component::inspect(&bytes);
        if verify(&compiler, &spec, &bytes, MAX_COMPONENT_BYTES).is_err() {
            return Ok(());
        }
        passed += 1;
        match tokio.block_on(runtime.deploy_bytes(spec, bytes)) {
            Ok(()) => {
                deployed += 1;
                tokio.block_on(runtime.remove("fuzzed", caxton::runtime::StateOnRemove::Delete)).unwrap();
            }
            Err(e) => assert!(!checked_offline(&e), "the offline check passed what a deploy refuses: {e}"),
        }
        Ok(())
    });
    eprintln!("fuzz component-admission: {passed} passed the offline check, {deployed} deployed");
}
