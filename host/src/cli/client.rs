//! `caxton send`: a small HTTP client for a running server.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::process::ExitCode;

/// Arguments of `caxton send`.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The receiving agent.
    pub receiver: String,
    /// The content: JSON, or plain text sent as a JSON string.
    #[arg(default_value = "null")]
    pub content: String,
    /// The FIPA performative.
    #[arg(long, short, default_value = "request")]
    pub performative: String,
    /// Wait this many milliseconds for the reply and print it.
    #[arg(long, value_name = "MS")]
    pub wait: Option<u64>,
    /// The sender name to use.
    #[arg(long)]
    pub sender: Option<String>,
    /// `reply-with` for the message.
    #[arg(long)]
    pub reply_with: Option<String>,
    /// `conversation-id` for the message.
    #[arg(long)]
    pub conversation_id: Option<String>,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "CAXTON_SERVER")]
    pub server: String,
}

pub fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let content: Value = serde_json::from_str(&args.content).unwrap_or_else(|_| Value::String(args.content.clone()));
    let mut message = json!({ "performative": args.performative, "receiver": args.receiver, "content": content });
    for (key, value) in
        [("sender", &args.sender), ("reply_with", &args.reply_with), ("conversation_id", &args.conversation_id)]
    {
        if let (Some(v), Some(obj)) = (value, message.as_object_mut()) {
            obj.insert(key.to_string(), Value::String(v.clone()));
        }
    }
    let path = match args.wait {
        Some(ms) => format!("/v1/messages?wait_ms={ms}"),
        None => "/v1/messages".to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (status, body) = runtime.block_on(post_json(&args.server, &path, &message))?;
    let pretty = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    if status.is_success() {
        println!("{pretty}");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("{pretty}");
        bail!("the server answered {status}")
    }
}

/// POST a JSON body to `base` + `path`; returns the status and body.
pub async fn post_json(base: &str, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Bytes)> {
    request(base, hyper::Method::POST, path, Some(body)).await
}

/// GET `base` + `path` and parse the JSON answer; a non-2xx status is an error
/// carrying the server's message.
pub fn get_json(base: &str, path: &str) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (status, body) = runtime.block_on(request(base, hyper::Method::GET, path, None))?;
    let value: Value =
        serde_json::from_slice(&body).with_context(|| format!("the server answered {status} with non-JSON"))?;
    if !status.is_success() {
        bail!(
            "the server answered {status}: {}",
            value.pointer("/error/message").and_then(Value::as_str).unwrap_or("no message")
        );
    }
    Ok(value)
}

/// One HTTP/1.1 request with an optional JSON body.
async fn request(
    base: &str,
    method: hyper::Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let base: Uri = base.parse().with_context(|| format!("`{base}` is not a URL"))?;
    if base.scheme_str() != Some("http") {
        bail!("only http:// servers are supported, not `{base}`");
    }
    let authority = base.authority().context("the server URL has no host")?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((authority.host(), port))
        .await
        .with_context(|| format!("cannot connect to {authority}; is `caxton serve` running?"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()))))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
