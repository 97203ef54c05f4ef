//! `POST /v1/messages`: send a message, and with `?wait_ms=N` wait for its reply.

use super::reply::{error, json_reply, parse_json, query_param, read_body, typed_reply, ApiError, Reply};
use super::{ApiState, DEFAULT_CLIENT, MAX_BODY_BYTES, MAX_WAIT_MS};
use crate::acl::json::WireMessage;
use crate::acl::trace::TraceContext;
use crate::bus::dead_letters::Reason;
use crate::bus::BusError;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// The `wait_ms` query parameter, if any.
fn wait_ms(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(value) = query_param(query, "wait_ms") else { return Ok(None) };
    match value.parse::<u64>() {
        Ok(ms) if (1..=MAX_WAIT_MS).contains(&ms) => Ok(Some(ms)),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "bad-query",
            &format!("wait_ms must be a whole number of milliseconds from 1 to {MAX_WAIT_MS}"),
        )),
    }
}

/// Send the message in the body; wait for the reply when asked to.
pub async fn post(state: &ApiState, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let wait = wait_ms(req.uri().query())?;
    // the caller's trace, if it sent a valid `traceparent` (one that is not is ignored, as W3C Trace Context says)
    let trace =
        req.headers().get("traceparent").and_then(|v| v.to_str().ok()).and_then(|v| TraceContext::parse(v).ok());
    let body = read_body(req, MAX_BODY_BYTES, state.timeouts.body).await?;
    let wire: WireMessage = parse_json(&body, "ACL message")?;
    let bus = state.platform.runtime.bus();
    let sender = wire.sender.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_CLIENT.to_string());
    if !crate::acl::valid_client_name(&sender) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-sender",
            "`sender` must be 1 to 128 visible ASCII characters without spaces or `*`",
        ));
    }
    if bus.is_agent_anywhere(&sender) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-sender",
            &format!("`{sender}` is a deployed agent; a client cannot send in an agent's name"),
        ));
    }
    let mut msg =
        wire.into_message(sender.clone()).map_err(|e| error(StatusCode::BAD_REQUEST, "bad-message", &e.to_string()))?;
    msg.trace = trace;
    let conversation_id = msg.conversation_id.get_or_insert_with(|| bus.fresh_id("conv")).clone();
    let Some(wait) = wait else {
        // a reply to a client that does not wait is recorded as unclaimed, not refused to its agent
        msg.reply_with.get_or_insert_with(|| bus.fresh_id(crate::bus::NOBODY_WAITS));
        send(bus, &sender, msg).await?;
        return Ok(json_reply(
            StatusCode::ACCEPTED,
            &json!({ "status": "accepted", "conversation_id": conversation_id }),
        ));
    };
    let waiter = bus.expect_reply(&sender, &mut msg);
    let reply_with = waiter.reply_with().to_string();
    send(bus, &sender, msg).await?;
    match tokio::time::timeout(Duration::from_millis(wait), waiter.recv()).await {
        Ok(Some(reply)) if is_reply_by_failure(&reply) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            "reply-by-passed",
            &format!("no reply to `{reply_with}` by its reply-by deadline"),
        )),
        Ok(Some(reply)) => serde_json::to_string(&WireMessage::from(reply))
            .map(|body| typed_reply(StatusCode::OK, "application/json", body))
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string())),
        Ok(None) | Err(_) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            "reply-timeout",
            &format!("no reply to `{reply_with}` within {wait} ms"),
        )),
    }
}

/// Send `msg` as `sender`; a send that waits for another host's answer runs
/// on the blocking pool, not on the thread that serves connections.
async fn send(bus: &std::sync::Arc<crate::bus::Bus>, sender: &str, msg: crate::acl::Message) -> Result<(), ApiError> {
    if !bus.crosses_hosts(&msg) {
        return bus.send(sender, msg).map_err(|e| bus_error(bus, e));
    }
    let (sending, sender) = (bus.clone(), sender.to_string());
    tokio::task::spawn_blocking(move || sending.send(&sender, msg))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()))?
        .map_err(|e| bus_error(bus, e))
}

/// The host's `failure` for a request whose reply-by deadline passed.
fn is_reply_by_failure(reply: &crate::acl::Message) -> bool {
    reply.performative == crate::acl::Performative::Failure
        && serde_json::from_str::<Value>(&reply.content)
            .is_ok_and(|c| c.get("reason").and_then(Value::as_str) == Some(Reason::ReplyBy.as_str()))
}

fn bus_error(bus: &crate::bus::Bus, e: BusError) -> ApiError {
    let (status, code) = match &e {
        BusError::NoReceivers => (StatusCode::BAD_REQUEST, "bad-message"),
        BusError::NoSuchAgent(name) => return error(StatusCode::NOT_FOUND, "no-such-agent", &bus.why_no_agent(name)),
        BusError::MailboxFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "mailbox-full"),
        BusError::AlreadyRegistered(_) | BusError::RunsElsewhere { .. } => (StatusCode::CONFLICT, "conflict"),
        BusError::HostUnreachable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "host-unreachable"),
        BusError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        BusError::ProtocolViolation(_) => (StatusCode::CONFLICT, "protocol-violation"),
    };
    let mut refused = error(status, code, &e.to_string());
    if let BusError::ProtocolViolation(v) = &e {
        // protocol, conversation, state, allowed and breach beside the message (which is its detail)
        refused.details = serde_json::to_value(&**v).ok().map(|mut fields| {
            if let Some(fields) = fields.as_object_mut() {
                fields.remove("detail");
            }
            fields
        });
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_ms_must_be_a_bounded_number() {
        assert!(matches!(wait_ms(None), Ok(None)));
        assert!(matches!(wait_ms(Some("a=1&wait_ms=5000")), Ok(Some(5000))));
        for bad in ["wait_ms=", "wait_ms=abc", "wait_ms=0", "wait_ms=999999999", "wait_ms=-1"] {
            assert!(wait_ms(Some(bad)).is_err(), "{bad}");
        }
    }
}
