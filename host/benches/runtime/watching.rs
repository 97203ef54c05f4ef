//! Watching: what the event stream and OpenTelemetry export cost a message.
//!
//! The same `request` → `inform` round trip between the bench and one
//! `bus-probe` agent in three arms: with a watcher of the event stream that
//! turns each event into its SSE frame's JSON, as `GET /v1/events` does (two
//! events per trip: the request and the inform); on a runtime that makes a
//! span per handled message and exports it over OTLP/HTTP to a receiver in
//! this process, as `caxton serve --otlp-endpoint` does; and with neither
//! (one atomic load per message). The arms' order rotates by round.

use super::common::{percentile, table, Row};
use super::protocols::{round_trips, TRIPS};
use super::{hop, probe_spec, POOL};
use caxton::events::Next;
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;

const SECTION: &str = "## Watching";
const ROUNDS: usize = 6;

/// What a round trip is measured with.
#[derive(Clone, Copy, PartialEq)]
enum Arm {
    Neither,
    Watched,
    Traced,
}

/// An OTLP/HTTP receiver that takes every export and answers 200; its base URL.
fn sink(tokio: &tokio::runtime::Runtime) -> String {
    let listener = tokio.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                    use http_body_util::BodyExt;
                    let _ = request.into_body().collect().await?;
                    Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    url
}

/// Run the section's rows; with `write`, write it to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let mut rx = hop::client(&rt, 16);
    tokio.block_on(rt.deploy_bytes(probe_spec("responder"), hop::probe_bytes())).unwrap();
    // the same, on a runtime whose handled messages are spans exported over OTLP
    let export = caxton::traces::TraceExport::start(&sink(tokio), "bench").unwrap();
    let traces = Some(export.tracer());
    let traced_rt =
        Runtime::new(RuntimeConfig { pool: POOL, traces, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let mut traced_rx = hop::client(&traced_rt, 16);
    tokio.block_on(traced_rt.deploy_bytes(probe_spec("responder"), hop::probe_bytes())).unwrap();
    let (mut watched, mut traced, mut neither, mut framed) = (vec![], vec![], vec![], 0u64);
    for round in 0..ROUNDS {
        println!("watching round {} of {ROUNDS}…", round + 1);
        let mut arms = [Arm::Neither, Arm::Watched, Arm::Traced];
        arms.rotate_left(round % 3);
        for arm in arms {
            let watcher = (arm == Arm::Watched).then(|| {
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
            let trips = match arm {
                Arm::Traced => tokio.block_on(round_trips(&traced_rt, &mut traced_rx, "responder", None)),
                _ => tokio.block_on(round_trips(&rt, &mut rx, "responder", None)),
            };
            if let Some(task) = watcher {
                framed += tokio.block_on(task).unwrap();
            }
            match arm {
                Arm::Watched => watched.extend(trips),
                Arm::Traced => traced.extend(trips),
                Arm::Neither => neither.extend(trips),
            }
        }
    }
    drop(traced_rt);
    export.shutdown();
    let rows = [
        Row {
            what: "request → inform round trip, event stream watched, p50",
            ours: percentile(watched.clone(), 50.0),
            peer_name: "same round trip, neither, p50",
            peer: percentile(neither.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "request → inform round trip, event stream watched, p99",
            ours: percentile(watched, 99.0),
            peer_name: "same round trip, neither, p99",
            peer: percentile(neither.clone(), 99.0),
            unit: "µs",
        },
        Row {
            what: "request → inform round trip, spans exported over OTLP, p50",
            ours: percentile(traced.clone(), 50.0),
            peer_name: "same round trip, neither, p50",
            peer: percentile(neither.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "request → inform round trip, spans exported over OTLP, p99",
            ours: percentile(traced, 99.0),
            peer_name: "same round trip, neither, p99",
            peer: percentile(neither, 99.0),
            unit: "µs",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 2));
    section.push_str(&format!(
        "\nMethod. The bench sends `bus-probe` a `request` (`ping`) and waits for its `inform`, \
         {TRIPS} times per round and arm, one at a time, in the same process; in the watched arm a \
         watcher of the event stream writes each event as the JSON of its SSE frame, as `GET \
         /v1/events` does ({framed} frames in all); in the traced arm the same trip goes to a \
         second runtime, set up alike, whose responder's handling of each request is a span \
         exported over OTLP/HTTP (protobuf, in batches) to a receiver in this process, as \
         `caxton serve --otlp-endpoint` does; the peer has neither. {ROUNDS} rounds, the arms' \
         order rotating. Goal ≤ 1.15× each.\n"
    ));
    if write {
        super::common::write_section(SECTION, &section);
    } else {
        print!("{section}");
    }
}
