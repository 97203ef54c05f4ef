//! Building replies and reading requests: JSON bodies, errors as JSON, body
//! limits checked before anything is buffered, query parameters.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// A complete response.
pub type Reply = Response<Full<Bytes>>;

/// A JSON response.
pub fn json_reply(status: StatusCode, body: &Value) -> Reply {
    typed_reply(status, "application/json", body.to_string())
}

/// A response with the given content type.
pub fn typed_reply(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A request that cannot be served, as the JSON error the client receives.
#[derive(Debug)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// Fields that say more, for programs (e.g. a protocol violation's state and allowed acts).
    pub details: Option<Value>,
}

/// An [`ApiError`].
pub fn error(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError { status, code, message: message.to_string(), details: None }
}

impl ApiError {
    /// The error as a response: `{"error": {"code": …, "message": …, …details}}`.
    pub fn into_reply(self) -> Reply {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let (Some(Value::Object(details)), Some(fields)) = (self.details, body.as_object_mut()) {
            fields.extend(details);
        }
        json_reply(self.status, &json!({ "error": body }))
    }
}

/// Read the whole body, at most `limit` bytes and within `timeout`. A declared
/// `Content-Length` over the limit is refused before reading anything.
pub async fn read_body(req: Request<Incoming>, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            &format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(req.into_body(), limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            &format!("the request body did not arrive within {timeout:?}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(error(StatusCode::BAD_REQUEST, "bad-body", &format!("cannot read the request body: {e}"))),
    }
}

/// Parse a JSON body into `T`, with a sentence saying what is wrong.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad-json", &format!("the body is not a valid {what}: {e}")))
}

/// The value of query parameter `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value))
    })
}

/// Decode `%XX` escapes and `+`; malformed escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_percent_decoded() {
        assert_eq!(query_param(Some("service=text%20processing&x=1"), "service").as_deref(), Some("text processing"));
        assert_eq!(query_param(Some("service=a+b"), "service").as_deref(), Some("a b"));
        assert_eq!(query_param(Some("service=%zz"), "service").as_deref(), Some("%zz"));
        assert_eq!(query_param(Some("other=1"), "service"), None);
    }
}
