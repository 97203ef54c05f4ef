//! `just bench` (http): HTTP send-and-wait through the real `caxton serve`
//! binary under `wrk`, next to `wasmtime serve` running a wasi:http component
//! that does the same work, and next to a plain hyper hello-world. Servers run
//! pinned to one core, `wrk` to the other; each server and connection count is
//! measured in alternating rounds of the same run. Appends its own section to
//! BENCHMARKS.md, after the runtime bench.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{median, root, table, Row};

const SECTION: &str = "## HTTP";
const ROUNDS: usize = 3;
const SECONDS: u32 = 5;
const CONNECTIONS: [u32; 2] = [16, 64];
const SERVER_CPU: &str = "0";
const LOAD_CPU: &str = "1";
/// Set in the child that serves the hyper hello-world, to the port.
const HELLO_VAR: &str = "CAXTON_BENCH_HELLO_PORT";
/// The request body every server gets: the README's uppercase request.
const BODY: &str = r#"{"performative":"request","receiver":"text-processor","content":{"action":"process_data","data":{"operation":"uppercase","data":"hello world"}}}"#;

#[derive(Clone, Copy, PartialEq)]
enum Server {
    Caxton,
    WasmtimeServe,
    Hyper,
}

impl Server {
    fn path(self) -> &'static str {
        match self {
            Server::Caxton => "/v1/messages?wait_ms=5000",
            Server::WasmtimeServe | Server::Hyper => "/",
        }
    }

    fn command(self, port: u16, data: &Path) -> Command {
        let mut c = Command::new("taskset");
        c.args(["-c", SERVER_CPU]);
        match self {
            Server::Caxton => {
                c.arg(root().join("target/release/caxton")).args(["serve", "--deployment"]);
                c.arg(root().join("policies/bench-http.toml")).arg("--listen").arg(format!("127.0.0.1:{port}"));
                c.arg("--data").arg(data).env("RUST_LOG", "warn").env_remove("CAXTON_TOKEN");
            }
            Server::WasmtimeServe => {
                // `-S cli`: Rust std imports wasi:cli (environment, exit) beside wasi:http
                c.arg(tool("wasmtime")).args(["serve", "-S", "cli", "--addr", &format!("127.0.0.1:{port}")]);
                c.arg(root().join("components/http_upper.wasm"));
            }
            Server::Hyper => {
                c.arg(std::env::current_exe().unwrap()).env(HELLO_VAR, port.to_string());
            }
        }
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c
    }
}

/// Where `name` is: on PATH, or in cargo's bin directory.
fn tool(name: &str) -> PathBuf {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin"));
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(cargo_bin)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: `just bench` installs it (wrk from Debian, wasmtime-cli from crates.io)")
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One request over a fresh connection; the status line of the answer.
fn probe(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.lines().next().map(str::to_string)
}

/// Start `server` and wait until it answers 200.
fn start(server: Server, port: u16, data: &Path) -> Child {
    let mut child = server.command(port, data).spawn().unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = probe(port, server.path()) {
            assert!(status.contains(" 200 "), "the server answered `{status}` instead of 200");
            return child;
        }
        if let Ok(Some(exit)) = child.try_wait() {
            panic!("the server exited before answering: {exit}");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not answer within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Requests per second and p99 latency (ms) of `wrk` against `path`.
fn wrk(port: u16, path: &str, connections: u32, seconds: u32, script: &Path) -> (f64, f64) {
    let out = Command::new("taskset")
        .args(["-c", LOAD_CPU])
        .arg(tool("wrk"))
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(script)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("Non-2xx"), "some requests failed:\n{text}");
    let rate = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok());
    let p99 = text.lines().find_map(|l| l.trim().strip_prefix("99%")).map(|v| millis(v.trim()));
    (rate.unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}")), p99.unwrap_or(0.0))
}

/// wrk's latency (`812.00us`, `1.20ms`, `2.00s`) in milliseconds.
fn millis(v: &str) -> f64 {
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().unwrap_or(0.0);
    match unit {
        "us" => n / 1e3,
        "s" => n * 1e3,
        "m" => n * 60e3,
        _ => n,
    }
}

/// The hyper hello-world peer (in a child process of this binary).
fn hello_world(port: u16) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"hello world",
                    ))))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
}

fn main() {
    if let Ok(port) = std::env::var(HELLO_VAR) {
        return hello_world(port.parse().unwrap());
    }
    for needed in ["components/http_upper.wasm", "components/text_processor.wasm", "target/release/caxton"] {
        assert!(root().join(needed).exists(), "{needed} is missing: run `just bench`");
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("post.lua");
    let lua =
        format!("wrk.method = \"POST\"\nwrk.body = '{BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n");
    std::fs::write(&script, lua).unwrap();

    let servers = [Server::Caxton, Server::WasmtimeServe, Server::Hyper];
    // rate and p99 per (server, connections), over the rounds
    let mut rates = vec![vec![Vec::new(); CONNECTIONS.len()]; servers.len()];
    let mut p99s = rates.clone();
    for round in 0..ROUNDS {
        println!("round {} of {ROUNDS}…", round + 1);
        for (s, server) in servers.iter().enumerate() {
            let port = free_port();
            let data = dir.path().join(format!("data-{round}"));
            let mut child = start(*server, port, &data);
            wrk(port, server.path(), CONNECTIONS[0], 1, &script); // warm-up
            for (c, connections) in CONNECTIONS.iter().enumerate() {
                let (rate, p99) = wrk(port, server.path(), *connections, SECONDS, &script);
                rates[s][c].push(rate);
                p99s[s][c].push(p99);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let rate = |s: usize, c: usize| median(rates[s][c].clone());
    let p99 = |s: usize, c: usize| median(p99s[s][c].clone());
    let rows = [
        Row {
            what: "send-and-wait, 16 connections",
            ours: rate(0, 0),
            peer_name: "wasmtime serve, wasi:http component",
            peer: rate(1, 0),
            unit: "req/s",
        },
        Row {
            what: "send-and-wait, 16 connections",
            ours: rate(0, 0),
            peer_name: "hyper hello-world",
            peer: rate(2, 0),
            unit: "req/s",
        },
        Row {
            what: "send-and-wait, 64 connections",
            ours: rate(0, 1),
            peer_name: "wasmtime serve, wasi:http component",
            peer: rate(1, 1),
            unit: "req/s",
        },
        Row {
            what: "send-and-wait, 64 connections",
            ours: rate(0, 1),
            peer_name: "hyper hello-world",
            peer: rate(2, 1),
            unit: "req/s",
        },
        Row {
            what: "p99 latency, 64 connections",
            ours: p99(0, 1),
            peer_name: "wasmtime serve, p99",
            peer: p99(1, 1),
            unit: "ms",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 1));
    section.push_str(&format!(
        "\nMethod: `wrk -t1 -cN -d{SECONDS}s` pinned to CPU {LOAD_CPU}, each server pinned to CPU {SERVER_CPU} \
         (`taskset`), after a 1 s warm-up per server. Caxton is the release `caxton serve` with \
         `policies/bench-http.toml` (text-processor); every request is `POST /v1/messages?wait_ms=5000` \
         with the README's uppercase request, answered with the agent's reply. The `wasmtime serve` peer \
         runs `components/http_upper.wasm` (`guests/peers/http-upper`), which parses the same body and \
         answers with the uppercased text as JSON; the hyper peer answers `hello world` to anything. p99 \
         16-connection figures: Caxton {:.1} ms, wasmtime serve {:.1} ms, hyper {:.1} ms. Goal: ≥ 1.0× \
         `wasmtime serve` and ≥ 40% (0.40×) of hyper. {ROUNDS} alternating rounds, median.\n",
        p99(0, 0),
        p99(1, 0),
        p99(2, 0)
    ));
    common::write_section(SECTION, &section);
}
