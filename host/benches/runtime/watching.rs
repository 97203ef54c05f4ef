//! Watching: what the event stream costs a message while someone watches it.
//!
//! The same `request` → `inform` round trip between the bench and one
//! `bus-probe` agent, once with a watcher of the event stream that turns each
//! event into its SSE frame's JSON, as `GET /v1/events` does (two events per
//! trip: the request and the inform), and once with nobody watching (one
//! atomic load per message). Arms alternate by round.

use super::common::{percentile, table, Row};
use super::protocols::{round_trips, TRIPS};
use super::{hop, probe_spec, POOL};
use caxton::events::Next;
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;

const SECTION: &str = "## Watching";
const ROUNDS: usize = 6;

/// Run the section's rows; with `write`, write it to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let mut rx = hop::client(&rt, 16);
    tokio.block_on(rt.deploy_bytes(probe_spec("responder"), hop::probe_bytes())).unwrap();
    let (mut watched, mut alone, mut framed) = (vec![], vec![], 0u64);
    for round in 0..ROUNDS {
        println!("watching round {} of {ROUNDS}…", round + 1);
        let mut arms = [true, false];
        if round % 2 == 1 {
            arms.reverse();
        }
        for watch in arms {
            let watcher = watch.then(|| {
                let mut watcher = rt.bus().events().watch();
                tokio.spawn(async move {
                    let mut frames = 0u64;
                    loop {
                        match watcher.next().await {
                            Next::Event(event) => {
                                std::hint::black_box(serde_json::to_string(&*event).unwrap());
                                frames += 1;
                            }
                            Next::Missed(missed) => frames += missed,
                        }
                        if frames == 2 * TRIPS as u64 {
                            return frames;
                        }
                    }
                })
            });
            let trips = tokio.block_on(round_trips(&rt, &mut rx, "responder", None));
            match watcher {
                Some(task) => {
                    framed += tokio.block_on(task).unwrap();
                    watched.extend(trips);
                }
                None => alone.extend(trips),
            }
        }
    }
    let rows = [
        Row {
            what: "request → inform round trip, event stream watched, p50",
            ours: percentile(watched.clone(), 50.0),
            peer_name: "same round trip, nobody watching, p50",
            peer: percentile(alone.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "request → inform round trip, event stream watched, p99",
            ours: percentile(watched, 99.0),
            peer_name: "same round trip, nobody watching, p99",
            peer: percentile(alone, 99.0),
            unit: "µs",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 2));
    section.push_str(&format!(
        "\nMethod. The bench sends `bus-probe` a `request` (`ping`) and waits for its `inform`, \
         {TRIPS} times per round and arm, one at a time, in the same process; in the watched arm a \
         watcher of the event stream writes each event as the JSON of its SSE frame, as `GET \
         /v1/events` does ({framed} frames in all), the peer has nobody watching. {ROUNDS} rounds, \
         the arms' order alternating. Goal ≤ 1.15×.\n"
    ));
    if write {
        super::common::write_section(SECTION, &section);
    } else {
        print!("{section}");
    }
}
