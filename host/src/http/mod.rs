//! The HTTP API on hyper: agents, components, messages, the directory, dead
//! letters, metrics, health and an OpenAPI description.
//!
//! Every error is JSON `{"error": {"code": …, "message": …}}` with a fitting
//! status; no client input produces a 500 or a panic. Headers and bodies
//! must arrive within their [`Timeouts`] and bodies under their size limits, and at most [`MAX_CONNECTIONS`] connections are served
//! at once. With a token configured every route but `/healthz` and
//! `/v1/openapi.json` needs `Authorization: Bearer <token>`.

mod agents;
mod auth;
mod conversations;
mod cross_site;
mod events;
mod messages;
mod observe;
pub mod openapi;
mod reply;
pub mod routes;
mod ui;
mod upload;

use crate::platform::Platform;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request body accepted on routes other than component uploads, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long clients may take to send a request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the request line and headers (a slowloris client is cut off here).
    pub header: Duration,
    /// For the body.
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { header: Duration::from_secs(10), body: Duration::from_secs(30) }
    }
}
/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest send-and-wait a client may ask for, in milliseconds.
pub const MAX_WAIT_MS: u64 = 300_000;
pub use crate::acl::DEFAULT_CLIENT;

/// What request handlers share.
pub struct ApiState {
    /// The platform whose agents the API manages.
    pub platform: Arc<Platform>,
    /// The bearer token admin routes need; `None` leaves them open.
    pub token: Option<String>,
    /// How long clients may take.
    pub timeouts: Timeouts,
    /// The cluster this host joined, if any.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Set when the server starts shutting down: open event streams end.
    pub closing: tokio::sync::watch::Sender<bool>,
    /// Serve only requests addressed to loopback names (set for a server on
    /// loopback without a token; see `cross_site`).
    pub loopback_only: bool,
}

impl ApiState {
    /// The state of an API serving `platform`.
    pub fn new(
        platform: Arc<Platform>,
        token: Option<String>,
        timeouts: Timeouts,
        cluster: Option<Arc<crate::cluster::Cluster>>,
    ) -> ApiState {
        let closing = tokio::sync::watch::Sender::new(false);
        ApiState { platform, token, timeouts, cluster, closing, loopback_only: false }
    }
}

/// Serve HTTP on `listener` until `shutdown` completes, then let open
/// connections finish their requests (for up to 10 s).
pub async fn serve(listener: TcpListener, state: Arc<ApiState>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => break,
        };
        let (stream, _) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let header_timeout = state.timeouts.header;
        let state = state.clone();
        let service = hyper::service::service_fn(move |req| routes::handle(state.clone(), req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
            drop(slot);
        });
    }
    state.closing.send_replace(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing"),
    }
}
