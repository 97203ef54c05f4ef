//! The HTTP client behind the commands that talk to a running server.

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use serde_json::Value;
use std::process::ExitCode;

/// Where the server is, how to authenticate, and how to print.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "CAXTON_SERVER", global = true)]
    pub server: String,
    /// The admin token, sent as `Authorization: Bearer …`.
    #[arg(long, env = "CAXTON_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a table or a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Remote {
    /// One request; the status and the body as JSON. Errors only when the
    /// server cannot be reached or answers something that is not HTTP.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let (status, bytes) = self.call_raw(method, path, body)?;
        Ok((status, parse(&bytes)))
    }

    /// One request; the status and the body as the server sent it.
    pub fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(self.request(method, path, body))
    }

    /// Like [`Remote::call`], but a non-2xx answer is an error carrying the
    /// server's message, and so is a body this client cannot read as JSON.
    pub fn expect(&self, method: Method, path: &str, body: Option<(Bytes, &'static str)>) -> anyhow::Result<Value> {
        let bytes = self.expect_raw(method, path, body)?;
        serde_json::from_slice(&bytes).with_context(|| {
            format!("the server's answer to {path} is not JSON this client can read (use --json to see it as sent)")
        })
    }

    /// The body of a 2xx answer as the server sent it; a non-2xx answer is an error.
    pub fn expect_raw(&self, method: Method, path: &str, body: Option<(Bytes, &'static str)>) -> anyhow::Result<Bytes> {
        let (status, bytes) = self.call_raw(method, path, body)?;
        if !status.is_success() {
            return Err(refusal(status, &parse(&bytes)));
        }
        Ok(bytes)
    }

    /// A JSON body.
    pub fn json_body(value: &Value) -> Option<(Bytes, &'static str)> {
        Some((Bytes::from(value.to_string()), "application/json"))
    }

    /// One request, awaited: the status and the whole body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.respond(method, path, body).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Open the server's event stream at `path` (`/v1/events?…`): its events as they come.
    /// A refusal (e.g. a bad filter, a missing token) is an error carrying the server's message.
    pub async fn events(
        &self,
        path: &str,
    ) -> anyhow::Result<impl futures_util::Stream<Item = Result<eventsource_stream::Event, impl std::error::Error>>>
    {
        use eventsource_stream::Eventsource;
        let response = self.respond(Method::GET, path, None).await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.into_body().collect().await?.to_bytes();
            return Err(refusal(status, &parse(&body)));
        }
        Ok(response.into_body().into_data_stream().eventsource())
    }

    async fn respond(
        &self,
        method: Method,
        path: &str,
        body: Option<(Bytes, &'static str)>,
    ) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
        let base: Uri = self.server.parse().with_context(|| format!("`{}` is not a URL", self.server))?;
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
        let mut request = Request::builder().method(method).uri(path).header(hyper::header::HOST, authority.as_str());
        if let Some(token) = &self.token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let (bytes, content_type) = body.unwrap_or((Bytes::new(), "application/json"));
        let request = request.header(hyper::header::CONTENT_TYPE, content_type).body(Full::new(bytes))?;
        sender.send_request(request).await.with_context(|| {
            format!("{authority} closed the connection before answering (a request body over its limits, such as a component over its --max-component-bytes, is cut off)")
        })
    }
}

/// A body as JSON, or as a JSON string when it is not JSON.
fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A non-2xx answer as an error carrying the server's code and message.
pub fn refusal(status: StatusCode, value: &Value) -> anyhow::Error {
    let code = value.pointer("/error/code").and_then(Value::as_str).unwrap_or("error");
    let message =
        value.pointer("/error/message").and_then(Value::as_str).map_or_else(|| value.to_string(), str::to_string);
    anyhow::anyhow!("the server answered {status} ({code}): {message}")
}

/// Print a body as the server sent it (nothing in it re-read).
pub fn print_raw(body: &[u8]) {
    println!("{}", String::from_utf8_lossy(body));
}

/// Print `value` as pretty JSON.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

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
    /// The interaction protocol the message opens or follows (e.g. `fipa-request`); the host
    /// holds the conversation to it.
    #[arg(long)]
    pub protocol: Option<String>,
    /// Where the server is.
    #[command(flatten)]
    pub remote: Remote,
}

/// The message `caxton send` posts. Content travels as written and the reply
/// is printed as the server sent it, so no number in either is re-read.
#[derive(serde::Serialize)]
struct Outgoing<'a> {
    performative: &'a str,
    receiver: &'a str,
    content: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    sender: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_with: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    conversation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<&'a str>,
}

pub fn send(args: SendArgs) -> anyhow::Result<ExitCode> {
    let content = match serde_json::from_str::<Box<RawValue>>(&args.content) {
        Ok(json) => json,
        Err(_) => serde_json::value::to_raw_value(&args.content)?,
    };
    let message = Outgoing {
        performative: &args.performative,
        receiver: &args.receiver,
        content: &content,
        sender: args.sender.as_deref(),
        reply_with: args.reply_with.as_deref(),
        conversation_id: args.conversation_id.as_deref(),
        protocol: args.protocol.as_deref(),
    };
    let path = match args.wait {
        Some(ms) => format!("/v1/messages?wait_ms={ms}"),
        None => "/v1/messages".to_string(),
    };
    let body = Some((Bytes::from(serde_json::to_string(&message)?), "application/json"));
    print_raw(&args.remote.expect_raw(Method::POST, &path, body)?);
    Ok(ExitCode::SUCCESS)
}
