//! `just soak [MINUTES]`: 10,000 messages a second through the real `caxton
//! serve` (release build) for MINUTES (default 10), on the disk's data directory.
//!
//! Each request is four messages and one durable kv write: an HTTP client asks
//! relay `a-N` to count via `b-N` (client → a, a → b, b → a, a → client; b adds
//! one to its kv counter). 64 connections send 2,500 requests a second on a
//! fixed schedule; a request's latency runs from its scheduled time, so a
//! server that falls behind shows it. Every minute prints requests, errors,
//! messages a second, p50/p99/max latency and the server's RSS; at the end the
//! counters of every `b-N` must add up to the requests sent: a request without
//! its answer, or a count without its request, is a lost message.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

#[allow(dead_code)] // the soak uses only part of what the bench binaries share
mod common;

use bytes::Bytes;
use common::{percentile, root};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAIRS: usize = 16;
const CONNECTIONS: usize = 64;
const REQUESTS_PER_SECOND: f64 = 2_500.0;
const MESSAGES_PER_REQUEST: f64 = 4.0;

/// One answered (or failed) request.
struct Sample {
    minute: usize,
    micros: u64,
    ok: bool,
}

fn deployment(dir: &std::path::Path) -> std::path::PathBuf {
    let component = root().join("components/relay.wasm");
    assert!(component.exists(), "{} is missing: run `just build-guests`", component.display());
    let mut text = String::from("[deployment]\nname = 'soak'\n");
    for n in 0..PAIRS {
        for side in ["a", "b"] {
            text.push_str(&format!(
                "[[agent]]\nname = '{side}-{n}'\ncomponent = '{}'\n[agent.grants]\nmessaging = {{}}\nkv-store = {{}}\n\
                 [agent.limits]\nmessages-per-second = 100000\n",
                component.display()
            ));
        }
    }
    let path = dir.join("soak.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start_server(deployment: &std::path::Path, data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(root().join("target/release/caxton"))
        .args(["serve", "--listen", "127.0.0.1:0", "--deployment"])
        .arg(deployment)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "warn")
        .env_remove("CAXTON_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run `cargo build --release --bin caxton` first");
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("caxton listening on http://") {
                let _ = tx.send(addr.to_string());
            } else if !line.contains("WARN") {
                eprintln!("server: {line}");
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(300)).expect("the server did not start");
    (child, addr)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Sender {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

/// POST `body` to /v1/messages?wait_ms=30000; the reply's JSON, or why not.
async fn ask(sender: &mut Sender, addr: &str, body: String) -> Result<Value, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let request = hyper::Request::post("/v1/messages?wait_ms=30000")
        .header(hyper::header::HOST, addr)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let reply: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if status.is_success() && reply["performative"] == "inform" {
        Ok(reply)
    } else {
        Err(format!("{status}: {reply}"))
    }
}

/// One connection sending its share of the schedule until `until`.
async fn client(id: usize, addr: String, started: Instant, until: Instant, samples: Arc<Mutex<Vec<Sample>>>) -> u64 {
    let mut sender = connect(&addr).await;
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / REQUESTS_PER_SECOND);
    let mut due = started + interval.mul_f64(id as f64 / CONNECTIONS as f64);
    let mut sent = 0;
    while due < until {
        tokio::time::sleep_until(due.into()).await;
        let pair = (id + sent as usize) % PAIRS;
        let body = json!({ "performative": "request", "receiver": format!("a-{pair}"),
                           "content": { "action": "count", "via": format!("b-{pair}") } });
        let outcome = ask(&mut sender, &addr, body.to_string()).await;
        if let Err(e) = &outcome {
            eprintln!("request failed: {e}");
            sender = connect(&addr).await;
        }
        let micros = due.elapsed().as_micros() as u64;
        let minute = due.duration_since(started).as_secs() as usize / 60;
        samples.lock().unwrap().push(Sample { minute, micros, ok: outcome.is_ok() });
        sent += 1;
        due += interval;
    }
    sent
}

fn report_minute(minute: usize, samples: &[Sample], rss: f64) {
    let latencies: Vec<f64> = samples.iter().map(|s| s.micros as f64 / 1000.0).collect();
    let errors = samples.iter().filter(|s| !s.ok).count();
    let rate = samples.len() as f64 * MESSAGES_PER_REQUEST / 60.0;
    println!(
        "| {} | {} | {errors} | {rate:.0} | {:.2} | {:.2} | {:.2} | {rss:.1} |",
        minute + 1,
        samples.len(),
        percentile(latencies.clone(), 50.0),
        percentile(latencies.clone(), 99.0),
        percentile(latencies, 100.0),
    );
}

fn main() {
    let minutes: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10.0);
    let dir = match std::env::var_os("SOAK_DATA") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir_in(root().join("target")),
    }
    .unwrap();
    let (mut server, addr) = start_server(&deployment(dir.path()), &dir.path().join("data"));
    let pid = server.id();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rss_start = rss_mib(pid);
    println!(
        "soak: {minutes} min, {REQUESTS_PER_SECOND} requests/s ({} messages/s, {PAIRS} relay pairs, \
         {CONNECTIONS} connections), server RSS at start {rss_start:.1} MiB\n",
        REQUESTS_PER_SECOND * MESSAGES_PER_REQUEST
    );
    println!("| minute | requests | errors | messages/s | p50 ms | p99 ms | max ms | RSS MiB |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now() + Duration::from_millis(200);
    let until = started + Duration::from_secs_f64(minutes * 60.0);
    let clients: Vec<_> =
        (0..CONNECTIONS).map(|id| tokio.spawn(client(id, addr.clone(), started, until, samples.clone()))).collect();
    let mut reported = 0;
    let errors = std::sync::atomic::AtomicU64::new(0);
    while reported < minutes.ceil() as usize {
        std::thread::sleep(Duration::from_millis(500));
        // a minute is reported 2 s after it ends, when its last answers are in
        let now_minute = started.elapsed().saturating_sub(Duration::from_secs(2)).as_secs() as usize / 60;
        if now_minute > reported || Instant::now() >= until + Duration::from_secs(31) {
            let this: Vec<Sample> = {
                let mut all = samples.lock().unwrap();
                let (this, rest) = std::mem::take(&mut *all).into_iter().partition(|s| s.minute == reported);
                *all = rest;
                this
            };
            errors.fetch_add(this.iter().filter(|s| !s.ok).count() as u64, std::sync::atomic::Ordering::Relaxed);
            report_minute(reported, &this, rss_mib(pid));
            reported += 1;
        }
    }
    let sent: u64 = tokio.block_on(async { futures_sum(clients).await });
    let leftover = samples.lock().unwrap().len();
    let unanswered = errors.load(std::sync::atomic::Ordering::Relaxed);
    let counted: i64 = tokio.block_on(async {
        let mut sender = connect(&addr).await;
        let mut sum = 0;
        for n in 0..PAIRS {
            let body =
                json!({ "performative": "request", "receiver": format!("b-{n}"), "content": { "action": "total" } });
            sum += ask(&mut sender, &addr, body.to_string())
                .await
                .map_or(0, |r| r["content"]["result"].as_i64().unwrap_or(0));
        }
        sum
    });
    let rss_end = rss_mib(pid);
    // a request unanswered, or counted a different number of times than sent, lost a message
    let lost = unanswered + sent.abs_diff(u64::try_from(counted).unwrap_or(0));
    println!(
        "\nrequests sent {sent} ({} messages), answered {}, counted by the agents {counted}: lost {lost}{}; \
         RSS start {rss_start:.1} MiB, end {rss_end:.1} MiB",
        sent as f64 * MESSAGES_PER_REQUEST,
        sent - unanswered,
        if leftover > 0 { format!(" ({leftover} answers came after the last minute)") } else { String::new() }
    );
    let _ = server.kill();
    let _ = server.wait();
    if lost > 0 {
        std::process::exit(1);
    }
}

async fn futures_sum(clients: Vec<tokio::task::JoinHandle<u64>>) -> u64 {
    let mut sent = 0;
    for c in clients {
        sent += c.await.unwrap_or(0);
    }
    sent
}
