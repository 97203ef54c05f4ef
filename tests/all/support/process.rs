//! The real `caxton` binary as a child process: `caxton serve` on an ephemeral
//! port (killed on drop), one HTTP request to it, and the CLI.

use super::root;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// The `caxton` binary under test, built by cargo (a no-op when it is fresh) the first time a
/// test asks for it: a test crate of its own has no `CARGO_BIN_EXE_` for another package's
/// binary, and escargot is the maintained way to ask cargo for one.
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let built = escargot::CargoBuild::new()
            .manifest_path(root().join("Cargo.toml"))
            .package("caxton")
            .bin("caxton")
            .current_release()
            .run()
            .unwrap_or_else(|e| panic!("cannot build the caxton binary: {e}"));
        built.path().to_path_buf()
    })
}

/// A `caxton serve` child process on an ephemeral port, killed on drop.
pub struct Server {
    child: Child,
    pub addr: String,
    _data: tempfile::TempDir,
}

impl Server {
    /// A server running the deployment file `deployment`, on a fresh data directory.
    pub fn start(deployment: &str) -> Server {
        let data = tempfile::tempdir().unwrap();
        let (child, addr) = spawn_server(&["--deployment", deployment, "--data", data.path().to_str().unwrap()]);
        Server { child, addr, _data: data }
    }

    /// One HTTP/1.1 request; returns the status and the body parsed as JSON (or a string).
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, Value) {
        http(&self.addr, method, path, body).unwrap()
    }

    /// Send `message` and wait (up to 10 s) for its reply.
    pub fn send_and_wait(&self, message: Value) -> (u16, Value) {
        self.request("POST", "/v1/messages?wait_ms=10000", &message.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to `addr`; the status and the body as JSON (or a string).
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, Value)> {
    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("no HTTP head"))?;
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::String(body.to_string()))))
}

/// A server process that is killed (SIGKILL) when dropped, also when a test fails.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `caxton serve` with `args` and return the child and its address.
pub fn spawn_server(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .current_dir(root())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = said.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("caxton listening on http://") {
                let _ = tx.send(addr.to_string());
            }
            log.lock().unwrap().push(line);
        }
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(addr) => (child, addr),
        Err(_) => panic!("caxton serve {args:?} did not start listening:\n{}", said.lock().unwrap().join("\n")),
    }
}

/// Run the `caxton` CLI with `args` from the workspace root.
pub fn caxton(args: &[&str]) -> Output {
    Command::new(bin()).args(args).current_dir(root()).output().unwrap()
}
