//! `GET /v1/conversations` and `GET /v1/conversations/{id}`: the
//! conversation records the bus keeps (see [`crate::bus::conversations`]).

use super::reply::{error, json_reply, query_param, ApiError, Reply};
use super::ApiState;
use crate::bus::conversations::Filter;
use hyper::StatusCode;
use serde_json::json;

/// Conversations a listing shows unless `limit` says otherwise, and the most it shows.
pub const DEFAULT_LIMIT: usize = 100;
/// See [`DEFAULT_LIMIT`].
pub const MAX_LIMIT: usize = 1_000;
/// The states a conversation can be in (see [`crate::protocol`]).
pub const STATES: [&str; 4] = ["open", "done", "failed", "expired"];

/// `GET /v1/conversations?agent=&protocol=&state=&limit=`: the conversations
/// kept, the most recently updated first, without their messages.
pub fn list(state: &ApiState, query: Option<&str>) -> Result<Reply, ApiError> {
    let limit = match query_param(query, "limit") {
        None => DEFAULT_LIMIT,
        Some(n) => n.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            error(StatusCode::BAD_REQUEST, "bad-query", &format!("`limit` must be a number from 1 to {MAX_LIMIT}"))
        })?,
    };
    let wanted = query_param(query, "state").map(|s| s.to_ascii_lowercase());
    if let Some(bad) = wanted.as_deref().filter(|s| !STATES.contains(s)) {
        let message = format!("`state` must be one of {}, not `{bad}`", STATES.join(", "));
        return Err(error(StatusCode::BAD_REQUEST, "bad-query", &message));
    }
    let filter = Filter { agent: query_param(query, "agent"), protocol: query_param(query, "protocol"), state: wanted };
    let records = state.platform.runtime.bus().conversations();
    let found = records.list(&filter, limit);
    Ok(json_reply(StatusCode::OK, &json!({ "conversations": found, "kept": records.len() })))
}

/// `GET /v1/conversations/{id}`: one conversation with its messages in order.
pub fn get(state: &ApiState, id: &str) -> Result<Reply, ApiError> {
    match state.platform.runtime.bus().conversations().get(id) {
        Some(conversation) => Ok(json_reply(StatusCode::OK, &json!(conversation))),
        None => Err(error(
            StatusCode::NOT_FOUND,
            "no-such-conversation",
            &format!("no conversation `{id}` is kept (never seen, or evicted as one of the oldest)"),
        )),
    }
}
