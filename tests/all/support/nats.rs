//! A real `nats-server` (Debian's, with JetStream on a temporary directory) on
//! a free loopback port, killed on drop; and `caxton serve` hosts joined to it.

use super::process::{spawn_server, Killed};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`.
pub struct Nats {
    child: Option<Child>,
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_on(port: u16, dir: &Path, extra: &[&str]) -> Child {
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start nats-server ({e}); install it with `apt-get install nats-server`"));
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "nats-server did not listen on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl Nats {
    /// A fresh server on a free port.
    pub fn start() -> Nats {
        Nats::start_with(&[])
    }

    /// A fresh server on a free port with `extra` arguments (e.g. `--auth TOKEN`).
    pub fn start_with(extra: &[&str]) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        Nats { child: Some(start_on(port, dir.path(), extra)), port, dir }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stop it (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(start_on(self.port, self.dir.path(), &[]));
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A shared cluster key file (64 hex characters) in `dir`.
pub fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("cluster.key");
    std::fs::write(&path, "7f3a9c2e5b8d1f4a6c0e3b7d9a2f5c8e1b4d7a0c3f6e9b2d5a8c1f4e7b0a3d6c\n").unwrap();
    path
}

/// `caxton serve` as host `host` of the cluster on `nats`, with its data in
/// `data` and extra `args` (e.g. a deployment); killed on drop.
pub struct Host {
    pub process: Killed,
    pub addr: String,
}

impl Host {
    pub fn start(nats: &Nats, host: &str, key: &Path, data: &Path, args: &[&str]) -> Host {
        let mut all = vec![
            "--cluster",
            "",
            "--host-id",
            host,
            "--cluster-name",
            "test",
            "--cluster-key-file",
            key.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ];
        let url = nats.url();
        all[1] = &url;
        all.extend_from_slice(args);
        let (child, addr) = spawn_server(&all);
        Host { process: Killed(child), addr }
    }

    /// One request to this host.
    pub fn request(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        super::process::http(&self.addr, method, path, body).unwrap()
    }

    /// The names under `field` (`agents` or `types`) of `host` in this host's `GET /v1/cluster`.
    fn listed_on(&self, host: &str, field: &str) -> Vec<String> {
        let (_, cluster) = self.request("GET", "/v1/cluster", "");
        let hosts = cluster["hosts"].as_array().cloned().unwrap_or_default();
        let entry = hosts.iter().find(|h| h["host"] == host);
        entry
            .and_then(|h| h[field].as_array())
            .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    /// Wait until this host sees `agent` on `host` (or, with `present` false, no longer sees it).
    pub fn wait_for(&self, host: &str, agent: &str, present: bool) {
        self.wait_listed(host, "agents", agent, present);
    }

    /// Wait until this host sees `host` run the agent type `agent_type` (or, with `present` false, no longer).
    pub fn wait_for_type(&self, host: &str, agent_type: &str, present: bool) {
        self.wait_listed(host, "types", agent_type, present);
    }

    fn wait_listed(&self, host: &str, field: &str, name: &str, present: bool) {
        let started = Instant::now();
        while self.listed_on(host, field).iter().any(|a| a == name) != present {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "host at {} never saw `{name}` {} `{host}`",
                self.addr,
                if present { "on" } else { "leave" }
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Returns once the NATS server has read everything `client` sent before it,
/// subscriptions included (`Client::flush` only writes them to the socket, so a
/// message published through another connection right after may still find the
/// subscription missing). A request to an inbox nobody listens on comes back as
/// "no responders" once the server got to it, and it reads one connection in order.
pub async fn settled(client: &async_nats::Client) {
    match client.request(client.new_inbox(), bytes::Bytes::new()).await {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        other => panic!("a request to a fresh inbox should find no responders, got {other:?}"),
    }
}
