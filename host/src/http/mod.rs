//! The HTTP ingress on hyper: health, message sending, and send-and-wait.
//!
//! Every error is JSON `{"error": {"code": …, "message": …}}` with a fitting
//! status; no client input produces a 500 or a panic.

mod routes;

use crate::runtime::Runtime;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request body accepted on message routes, in bytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest send-and-wait a client may ask for, in milliseconds.
pub const MAX_WAIT_MS: u64 = 300_000;
/// The sender name given to clients that do not name themselves.
pub const DEFAULT_CLIENT: &str = "http-client";

/// What request handlers share.
pub struct ApiState {
    /// The runtime whose agents the API talks to.
    pub runtime: Arc<Runtime>,
}

/// Serve HTTP on `listener` until `shutdown` completes, then let open
/// connections finish their requests.
pub async fn serve(listener: TcpListener, state: Arc<ApiState>, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
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
        let state = state.clone();
        let service = hyper::service::service_fn(move |req| routes::handle(state.clone(), req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open after 10 s; closing"),
    }
}
