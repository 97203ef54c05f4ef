//! Request routing and the handlers of each route.

use super::{ApiState, DEFAULT_CLIENT, MAX_BODY_BYTES, MAX_WAIT_MS};
use crate::acl::json::{ReplyMessage, WireMessage};
use crate::bus::dead_letters::Reason;
use crate::bus::directory::Query;
use crate::bus::BusError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

type Reply = Response<Full<Bytes>>;

/// Dispatch one request.
pub async fn handle(state: Arc<ApiState>, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path().to_string();
    let reply = match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => health(&state),
        (&Method::GET, "/v1/agents") => json_reply(StatusCode::OK, &json!({ "agents": state.runtime.agents() })),
        (&Method::POST, "/v1/messages") => post_message(&state, req).await.unwrap_or_else(ApiError::into_reply),
        (&Method::GET, "/v1/directory") => directory(&state, req.uri().query()),
        (&Method::GET, "/v1/dead-letters") => dead_letters(&state),
        (_, "/healthz" | "/v1/agents" | "/v1/messages" | "/v1/directory" | "/v1/dead-letters") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not accept that method")
                .into_reply()
        }
        _ => error(StatusCode::NOT_FOUND, "not-found", &format!("no route for `{path}`")).into_reply(),
    };
    Ok(reply)
}

/// Healthy while the epoch ticker advances: without it, deadlines are not enforced.
fn health(state: &ApiState) -> Reply {
    let agents = state.runtime.agents().len();
    if state.runtime.healthy() {
        json_reply(StatusCode::OK, &json!({ "status": "ok", "agents": agents }))
    } else {
        let reason = "the epoch ticker has stalled: per-message deadlines are not being enforced";
        json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "degraded", "reason": reason, "agents": agents }),
        )
    }
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

/// A request that cannot be served, as the JSON error the client receives.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError { status, code, message: message.to_string() }
}

impl ApiError {
    fn into_reply(self) -> Reply {
        json_reply(self.status, &json!({ "error": { "code": self.code, "message": self.message } }))
    }
}

/// The value of query parameter `name`, percent-decoded.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

/// Decode `%XX` escapes and `+`; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (b, hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn directory(state: &ApiState, query: Option<&str>) -> Reply {
    let q = Query {
        service: query_param(query, "service"),
        ontology: query_param(query, "ontology"),
        protocol: query_param(query, "protocol"),
    };
    let agents: Vec<Value> = state
        .runtime
        .bus()
        .directory(&q)
        .into_iter()
        .map(|(name, profile)| json!({ "name": name, "profile": profile }))
        .collect();
    json_reply(StatusCode::OK, &json!({ "agents": agents }))
}

fn dead_letters(state: &ApiState) -> Reply {
    let letters: Vec<Value> = state
        .runtime
        .bus()
        .dead_letters()
        .into_iter()
        .map(|d| {
            json!({
                "id": d.id, "at_ms": d.at_ms, "reason": d.reason.as_str(), "receiver": d.receiver,
                "detail": d.detail, "message": ReplyMessage::from(d.message),
            })
        })
        .collect();
    json_reply(StatusCode::OK, &json!({ "dead_letters": letters }))
}

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

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    match Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, "bad-body", &format!("cannot read the request body: {e}"))),
    }
}

async fn post_message(state: &ApiState, req: Request<Incoming>) -> Result<Reply, ApiError> {
    let wait = wait_ms(req.uri().query())?;
    let body = read_body(req).await?;
    let wire: WireMessage = serde_json::from_slice(&body).map_err(|e| {
        error(StatusCode::BAD_REQUEST, "bad-json", &format!("the body is not a valid ACL message: {e}"))
    })?;
    let bus = state.runtime.bus();
    let sender = wire.sender.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| DEFAULT_CLIENT.to_string());
    if bus.is_agent(&sender) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad-sender",
            &format!("`{sender}` is a deployed agent; a client cannot send in an agent's name"),
        ));
    }
    let mut msg =
        wire.into_message(sender.clone()).map_err(|e| error(StatusCode::BAD_REQUEST, "bad-message", &e.to_string()))?;
    let conversation_id = msg.conversation_id.get_or_insert_with(|| bus.fresh_id("conv")).clone();
    let Some(wait) = wait else {
        bus.send(&sender, msg).map_err(bus_error)?;
        return Ok(json_reply(
            StatusCode::ACCEPTED,
            &json!({ "status": "accepted", "conversation_id": conversation_id }),
        ));
    };
    let reply_with = msg.reply_with.get_or_insert_with(|| bus.fresh_id("http")).clone();
    let waiter = bus.expect_reply(&sender, &reply_with).map_err(bus_error)?;
    bus.send(&sender, msg).map_err(bus_error)?;
    match tokio::time::timeout(Duration::from_millis(wait), waiter.recv()).await {
        Ok(Some(reply)) if is_reply_by_failure(&reply) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            "reply-by-passed",
            &format!("no reply to `{reply_with}` by its reply-by deadline"),
        )),
        Ok(Some(reply)) => serde_json::to_value(ReplyMessage::from(reply))
            .map(|body| json_reply(StatusCode::OK, &body))
            .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string())),
        Ok(None) | Err(_) => Err(error(
            StatusCode::GATEWAY_TIMEOUT,
            "reply-timeout",
            &format!("no reply to `{reply_with}` within {wait} ms"),
        )),
    }
}

/// The host's `failure` for a request whose reply-by deadline passed.
fn is_reply_by_failure(reply: &crate::acl::Message) -> bool {
    reply.performative == crate::acl::Performative::Failure
        && serde_json::from_str::<Value>(&reply.content)
            .is_ok_and(|c| c.get("reason").and_then(Value::as_str) == Some(Reason::ReplyBy.as_str()))
}

fn bus_error(e: BusError) -> ApiError {
    let (status, code) = match &e {
        BusError::NoReceivers => (StatusCode::BAD_REQUEST, "bad-message"),
        BusError::NoSuchAgent(_) => (StatusCode::NOT_FOUND, "no-such-agent"),
        BusError::MailboxFull(_) => (StatusCode::SERVICE_UNAVAILABLE, "mailbox-full"),
        BusError::AlreadyWaiting { .. } | BusError::AlreadyRegistered(_) => (StatusCode::CONFLICT, "conflict"),
    };
    error(status, code, &e.to_string())
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

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(query_param(Some("service=text%20processing&x=1"), "service").as_deref(), Some("text processing"));
        assert_eq!(query_param(Some("service=a+b"), "service").as_deref(), Some("a b"));
        assert_eq!(query_param(Some("service=%zz"), "service").as_deref(), Some("%zz"));
        assert_eq!(query_param(Some("other=1"), "service"), None);
    }
}
