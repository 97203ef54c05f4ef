//! Fuzz targets: random and mutated inputs for the parts of Caxton that read
//! what untrusted parties write — deployment files, ACL messages, component
//! binaries, kv keys and values. Each target states the properties that must
//! hold for every input (no panic, and what a result promises), runs for
//! `CAXTON_FUZZ_SECONDS` (default 5) and prints how many inputs it tried.
//!
//! Built on `arbtest` (stable Rust, time-budgeted, minimising): a failure
//! prints a seed, and `arbtest(prop).seed(SEED)` replays it; a seed that
//! found a fault becomes a regression test beside its target. `just fuzz
//! [SECONDS]` runs them longer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, missing_docs)]

mod acl;
mod admission;
mod deployment;
#[path = "../all/support/hostile_wat.rs"]
mod hostile_wat;
mod kv;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long each target runs: `CAXTON_FUZZ_SECONDS`, or 5 s.
pub fn budget() -> Duration {
    let seconds = std::env::var("CAXTON_FUZZ_SECONDS").ok().and_then(|s| s.parse::<u64>().ok()).unwrap_or(5);
    Duration::from_secs(seconds)
}

/// Run `property` for the budget and report how many inputs it took.
pub fn fuzz(
    target: &str,
    mut property: impl FnMut(&mut arbtest::arbitrary::Unstructured<'_>) -> arbtest::arbitrary::Result<()>,
) {
    let runs = AtomicU64::new(0);
    let started = Instant::now();
    arbtest::arbtest(|u| {
        runs.fetch_add(1, Ordering::Relaxed);
        property(u)
    })
    .budget(budget())
    .run();
    eprintln!("fuzz {target}: {} inputs in {:.1} s", runs.load(Ordering::Relaxed), started.elapsed().as_secs_f64());
}
