//! A `caxton serve` process with an admin token and no agents, and the raw
//! HTTP requests the API tests send it.

use super::process::{bin, spawn_server};
use super::{component, root};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command};
use std::time::Duration;

/// The admin token every [`Api`] server is started with.
pub const TOKEN: &str = "t0ken-for-tests";

/// A server with an admin token and no agents.
pub struct Api {
    child: Child,
    pub addr: String,
    _data: tempfile::TempDir,
}

impl Api {
    /// A server with an admin token and no agents.
    pub fn start() -> Api {
        Api::start_with(&[])
    }

    /// A server with an admin token, no agents, and `extra` arguments.
    pub fn start_with(extra: &[&str]) -> Api {
        let data = tempfile::tempdir().unwrap();
        let token_file = data.path().join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        let data_dir = data.path().join("data");
        let mut args = vec![
            "--data",
            data_dir.to_str().unwrap(),
            "--token-file",
            token_file.to_str().unwrap(),
            "--header-timeout-ms",
            "2000",
            "--body-timeout-ms",
            "2000",
        ];
        args.extend_from_slice(extra);
        let (child, addr) = spawn_server(&args);
        Api { child, addr, _data: data }
    }

    /// A raw HTTP/1.1 request; `None` when the server closed the connection without answering.
    pub fn raw(&self, request: &[u8]) -> Option<(u16, Value)> {
        let (status, body) = self.raw_text(request)?;
        Some((status, serde_json::from_str(&body).unwrap_or(Value::String(body))))
    }

    /// A raw HTTP/1.1 request; the status and the body as text. An event
    /// stream (`text/event-stream`), which does not end, is read no further than what came with its head.
    pub fn raw_text(&self, request: &[u8]) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let _ = stream.write_all(request);
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            raw.extend_from_slice(&chunk[..n]);
            let head = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|end| String::from_utf8_lossy(&raw[..end]));
            if head.is_some_and(|h| h.to_ascii_lowercase().contains("content-type: text/event-stream")) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }

    /// An admin request with a body written as text; the status and the body as text.
    pub fn admin_text(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        self.raw_text(request.as_bytes()).unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    /// One request with `token` (if any) and a body of `content_type`; the status and the body as JSON (or a string).
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, content_type: &str, body: &[u8]) -> (u16, Value) {
        let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.raw(&request).unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    /// An admin request with a JSON body (`null`: none).
    pub fn admin(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let body = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        self.call(method, path, Some(TOKEN), "application/json", &body)
    }

    /// Upload the built component `file` and deploy it as `name` with `grants` and `limits`.
    pub fn deploy(&self, name: &str, file: &str, grants: Value, limits: Value) -> (u16, Value) {
        let bytes = std::fs::read(component(file)).unwrap();
        let (status, uploaded) = self.call("POST", "/v1/components", Some(TOKEN), "application/wasm", &bytes);
        assert_eq!(status, 201, "{uploaded}");
        let request = json!({ "name": name, "component": uploaded["component"], "grants": grants, "limits": limits });
        self.admin("POST", "/v1/agents", &request)
    }

    /// Run the `caxton` CLI against this server, with its token.
    pub fn caxton(&self, args: &[&str]) -> std::process::Output {
        Command::new(bin())
            .args(args)
            .args(["--server", &format!("http://{}", self.addr), "--token", TOKEN])
            .current_dir(root())
            .output()
            .unwrap()
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
