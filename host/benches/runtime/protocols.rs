//! Interaction protocols: what the host's protocol check costs a message.
//!
//! The same `request` → `inform` round trip between the bench and one
//! `bus-probe` agent, once naming `fipa-request` (each request opens a
//! conversation the host records and checks both messages against) and once
//! naming no protocol (one lookup, nothing kept). Arms alternate by round.

use super::common::{percentile, table, Row};
use super::{hop, probe_spec, BENCH_CLIENT, POOL};
use caxton::acl::{Message, Performative};
use caxton::bus::mailbox::Receiver;
use caxton::bus::Event;
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;
use std::time::Instant;

const SECTION: &str = "## Interaction protocols";
const ROUNDS: usize = 6;
/// Round trips timed per round and arm.
pub(super) const TRIPS: usize = 2_000;

/// Microseconds per round trip of `TRIPS` pings to `agent`, each naming `protocol`.
pub(super) async fn round_trips(rt: &Runtime, rx: &mut Receiver, agent: &str, protocol: Option<&str>) -> Vec<f64> {
    let mut micros = Vec::with_capacity(TRIPS);
    for _ in 0..TRIPS {
        let mut request = Message::new(Performative::Request, vec![agent.into()], r#"{"action":"ping"}"#.into());
        request.protocol = protocol.map(str::to_string);
        let started = Instant::now();
        rt.bus().send(BENCH_CLIENT, request).unwrap();
        // a safety net against a lost message hanging the bench, not a measurement
        let reply = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv()).await;
        match reply.expect("no reply within 60 s: a message was lost") {
            Some(Event::Message(m)) if m.performative == Performative::Inform => {}
            other => panic!("expected the inform, got {other:?}"),
        }
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros
}

/// Run the section's rows; with `write`, write it to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let mut rx = hop::client(&rt, 16);
    tokio.block_on(rt.deploy_bytes(probe_spec("responder"), hop::probe_bytes())).unwrap();
    // steady state first: the records filled to their cap (as on a host that has run a while),
    // so the timed rounds measure checking and recording, not the records' first growth
    let cap = caxton::bus::conversations::Caps::default().conversations;
    println!("interaction protocols: warming up ({cap} conversations, the records' cap)…");
    for _ in 0..cap.div_ceil(TRIPS) {
        tokio.block_on(round_trips(&rt, &mut rx, "responder", Some("fipa-request")));
        tokio.block_on(round_trips(&rt, &mut rx, "responder", None));
    }
    let (mut checked, mut plain) = (vec![], vec![]);
    for round in 0..ROUNDS {
        println!("interaction protocols round {} of {ROUNDS}…", round + 1);
        let mut arms = [(Some("fipa-request"), &mut checked), (None, &mut plain)];
        if round % 2 == 1 {
            arms.reverse();
        }
        for (protocol, out) in arms {
            out.extend(tokio.block_on(round_trips(&rt, &mut rx, "responder", protocol)));
        }
    }
    let kept = rt.bus().conversations().len();
    let rows = [
        Row {
            what: "request → inform round trip, fipa-request checked, p50",
            ours: percentile(checked.clone(), 50.0),
            peer_name: "same round trip, no protocol, p50",
            peer: percentile(plain.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "request → inform round trip, fipa-request checked, p99",
            ours: percentile(checked, 99.0),
            peer_name: "same round trip, no protocol, p99",
            peer: percentile(plain, 99.0),
            unit: "µs",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 2));
    section.push_str(&format!(
        "\nMethod. The bench sends `bus-probe` a `request` (`ping`) and waits for its `inform`, \
         {TRIPS} times per round and arm, one at a time, in the same process; the checked arm names \
         `fipa-request`, so each request opens a conversation that the host checks both messages \
         against and records (the records' caps apply: {kept} were kept at the end, ended ones \
         forgotten first), the peer names no protocol. Both arms are warmed up first with as many \
         round trips as the records keep conversations, so the records are at their cap (a host's \
         steady state). {ROUNDS} rounds, the arms' order alternating. \
         Goal ≤ 1.1×.\n"
    ));
    if write {
        super::common::write_section(SECTION, &section);
    } else {
        print!("{section}");
    }
}
