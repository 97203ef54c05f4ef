//! `GET /v1/events` (the event stream as Server-Sent Events) and
//! `GET /v1/agents/{name}/logs` (an agent's kept log lines).
//!
//! A stream is written by a task of its own that reads the host's event ring
//! ([`crate::events`]) and hands frames to the connection through a channel of
//! [`FRAMES_IN_FLIGHT`]: a client that reads slowly holds the task, the task
//! falls behind in the ring, and the client is told how many events it
//! missed (`event: missed`); nothing it does slows the bus or grows memory.

use super::reply::{error, json_reply, query_param, ApiError, Reply};
use super::ApiState;
use crate::events::logs::LINES_PER_AGENT;
use crate::events::{Filter, KindName, Next};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::json;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Frames written but not yet taken by the connection, per stream.
pub const FRAMES_IN_FLIGHT: usize = 4;
/// Event streams served at once; more are refused (503), so streams cannot
/// take every connection the server has.
pub const MAX_STREAMS: usize = 64;
/// A comment is written after this long without an event, so proxies and
/// clients see the stream is alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The body of an event stream: frames from its task, until the task ends.
pub struct EventBody {
    frames: mpsc::Receiver<Bytes>,
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.frames.poll_recv(cx).map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The filter a stream's query asks for: `agent=`, `conversation=`, `kind=` (comma-separated).
pub fn filter_of(query: Option<&str>) -> Result<Filter, ApiError> {
    let kinds = match query_param(query, "kind") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .map(str::parse::<KindName>)
            .collect::<Result<_, _>>()
            .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-query", &e))?,
    };
    let nonblank = |name| query_param(query, name).filter(|v| !v.trim().is_empty());
    Ok(Filter { agent: nonblank("agent"), conversation: nonblank("conversation"), kinds })
}

/// `GET /v1/events`: watch from now on. The stream opens with `event: ready`
/// (the watcher is in place: what happens from here on is sent), then one
/// frame per event (`id:` its sequence number, `event:` its kind, `data:` its
/// JSON), `event: missed` with `{"missed": N}` when the client fell behind,
/// and a comment every [`KEEP_ALIVE`] without events. It ends when the server shuts down.
pub fn stream(state: &ApiState, query: Option<&str>) -> Result<Response<EventBody>, ApiError> {
    let filter = filter_of(query)?;
    let events = state.platform.runtime.bus().events();
    if events.watcher_count() >= MAX_STREAMS {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too-many-watchers",
            &format!("{MAX_STREAMS} event streams are open already; close one (or filter one stream) and retry"),
        ));
    }
    let mut watcher = events.watch();
    let (frames, body) = mpsc::channel(FRAMES_IN_FLIGHT);
    let mut closing = state.closing.subscribe();
    tokio::spawn(async move {
        if frames.send(Bytes::from_static(b"retry: 2000\nevent: ready\ndata: {}\n\n")).await.is_err() {
            return;
        }
        // a keep-alive goes out after KEEP_ALIVE without a frame, events the filter drops included
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let frame = tokio::select! {
                next = watcher.next() => match next {
                    Next::Event(event) if filter.admits(&event) => event_frame(&event),
                    Next::Event(_) => continue,
                    Next::Missed(missed) => format!("event: missed\ndata: {}\n\n", json!({ "missed": missed })),
                },
                () = tokio::time::sleep_until(quiet_since + KEEP_ALIVE) => ": keep-alive\n\n".to_string(),
                () = frames.closed() => return,
                _ = closed(&mut closing) => return,
            };
            if frames.send(Bytes::from(frame)).await.is_err() {
                return;
            }
            quiet_since = tokio::time::Instant::now();
        }
    });
    let mut response = Response::new(EventBody { frames: body });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// Resolves once the server starts shutting down.
async fn closed(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One SSE frame: JSON has no raw newlines, so `data:` is one line.
fn event_frame(event: &crate::events::Event) -> String {
    match serde_json::to_string(event) {
        Ok(data) => format!("id: {}\nevent: {}\ndata: {data}\n\n", event.seq, event.kind.name().as_str()),
        Err(e) => format!(": event {} could not be written: {e}\n\n", event.seq),
    }
}

/// `GET /v1/agents/{name}/logs?since=SEQ&limit=N`: the agent's kept lines
/// numbered after `since` (default 0), oldest first, at most `limit` (default
/// and most: [`LINES_PER_AGENT`]); `more` says whether kept lines follow them
/// (read on with `since` = the last one's `seq`); `latest` is the host's latest line number.
pub fn logs(state: &ApiState, name: &str, query: Option<&str>) -> Result<Reply, ApiError> {
    let number = |key: &str, default: u64| -> Result<u64, ApiError> {
        match query_param(query, key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                error(StatusCode::BAD_REQUEST, "bad-query", &format!("`{key}` must be a whole number, not `{v}`"))
            }),
        }
    };
    let since = number("since", 0)?;
    let limit = number("limit", LINES_PER_AGENT as u64)?.min(LINES_PER_AGENT as u64) as usize;
    let logs = state.platform.runtime.bus().events().logs();
    let (lines, more) = logs.since(name, since, limit);
    if lines.is_empty() && !state.platform.runtime.knows(name) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "no-such-agent",
            &format!("no agent named `{name}` is deployed here, and none by that name left log lines"),
        ));
    }
    Ok(json_reply(StatusCode::OK, &json!({ "agent": name, "latest": logs.latest(), "lines": lines, "more": more })))
}
