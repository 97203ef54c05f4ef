//! `POST /v1/components`: receive a component, streamed to disk in blocks of
//! [`BLOCK`] bytes (never held whole in memory while it arrives), within the
//! server's size limit and body timeout; then check it and store it under its
//! SHA-256.

use super::reply::{error, json_reply, ApiError, Reply};
use super::ApiState;
use crate::component;
use crate::interfaces::{classify_import, ImportKind};
use crate::registry::Upload;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};

/// Bytes gathered in memory before they are written to the upload's file.
pub const BLOCK: usize = 1024 * 1024;
/// Bytes of a refused (too large) upload that are still read and thrown away
/// before answering, so that a client that is still sending sees the answer
/// instead of a broken connection.
pub const DRAIN: u64 = 64 * 1024 * 1024;

fn too_large(limit: usize) -> ApiError {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        &format!(
            "the component is larger than this server's limit of {limit} bytes (`caxton serve --max-component-bytes`)"
        ),
    )
}

fn storage(e: impl std::fmt::Display) -> ApiError {
    error(StatusCode::INTERNAL_SERVER_ERROR, "storage", &e.to_string())
}

/// Write `block` to the upload on a blocking thread; hands the upload back.
async fn flush(upload: Upload, block: Vec<u8>) -> Result<Upload, ApiError> {
    let written = tokio::task::spawn_blocking(move || {
        let mut upload = upload;
        upload.write(&block).map(|()| upload)
    });
    written.await.map_err(storage)?.map_err(storage)
}

/// Read and discard up to [`DRAIN`] more bytes of `body`, then refuse it as too large.
async fn refuse(mut body: Incoming, limit: usize) -> ApiError {
    let mut drained = 0u64;
    while drained <= DRAIN {
        match body.frame().await {
            Some(Ok(frame)) => drained += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => break,
        }
    }
    too_large(limit)
}

/// Receive the body into a new upload, refusing it past `limit` bytes.
async fn receive(state: &ApiState, req: Request<Incoming>, limit: usize) -> Result<Upload, ApiError> {
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > (limit as u64).saturating_add(DRAIN) => return Err(too_large(limit)),
        Some(n) if n > limit as u64 => return Err(refuse(req.into_body(), limit).await),
        _ => {}
    }
    let mut upload = state.platform.registry.begin_upload().map_err(storage)?;
    let mut body = req.into_body();
    let mut block = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-body", &format!("cannot read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        if upload.len() + (block.len() + data.len()) as u64 > limit as u64 {
            return Err(refuse(body, limit).await);
        }
        block.extend_from_slice(&data);
        if block.len() >= BLOCK {
            upload = flush(upload, std::mem::take(&mut block)).await?;
        }
    }
    flush(upload, block).await
}

/// `POST /v1/components`: check and store a component; answer its digest.
pub async fn upload(state: &ApiState, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let limit = state.platform.runtime.max_component_bytes();
    let timeout = state.timeouts.body;
    let upload = match tokio::time::timeout(timeout, receive(state, req, limit)).await {
        Ok(received) => received?,
        Err(_) => {
            return Err(error(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                &format!("the component did not arrive within {timeout:?}"),
            ))
        }
    };
    let path = upload.path().to_path_buf();
    let inspected = tokio::task::spawn_blocking(move || {
        let bytes = component::read(&path, usize::MAX)?;
        component::inspect(&bytes).map(|info| (info, bytes.len()))
    });
    let (info, size) = inspected
        .await
        .map_err(storage)?
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-component", &e.to_string()))?;
    let registry = state.platform.registry.clone();
    let sha =
        tokio::task::spawn_blocking(move || registry.finish_upload(upload)).await.map_err(storage)?.map_err(storage)?;
    let imports: Vec<Value> = info
        .imports
        .iter()
        .map(|i| {
            let capability = match classify_import(i) {
                ImportKind::Capability(c) => Some(c.name()),
                _ => None,
            };
            json!({ "name": i, "capability": capability })
        })
        .collect();
    Ok(json_reply(
        StatusCode::CREATED,
        &json!({ "component": sha, "bytes": size, "imports": imports, "exports": info.exports }),
    ))
}
