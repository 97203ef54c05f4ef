//! Requests another web site could make a browser send: refused.
//!
//! A server without a token on loopback trusts whoever can reach it, and a web
//! page the operator visits can reach it too. Two rules close that door:
//!
//! - **A body declares its type**: `application/json` (or `application/wasm`
//!   for a component upload). A browser sends a cross-site `POST` with those
//!   types only after a CORS preflight, which this server never approves; the
//!   types it sends without one (`text/plain`, forms) are refused here.
//! - **On loopback without a token, `Host` names loopback** (`localhost`,
//!   `127.x.x.x`, `[::1]`), so a page whose DNS name was rebound to 127.0.0.1
//!   cannot read the API (or the event stream) under its own name.

use super::reply::{error, ApiError};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{HeaderMap, Method, StatusCode};

/// The media type a `POST` to `path` must declare.
fn body_type(path: &str) -> &'static str {
    if path == "/v1/components" {
        "application/wasm"
    } else {
        "application/json"
    }
}

/// Refuse a request a cross-site page could have made: a `POST` whose body
/// does not declare its type (415), or, when `loopback_only`, a `Host` that does
/// not name loopback (421).
pub fn check(method: &Method, path: &str, headers: &HeaderMap, loopback_only: bool) -> Result<(), ApiError> {
    if loopback_only {
        let host = headers.get(HOST).map(|h| h.to_str().unwrap_or("\u{fffd}"));
        if host.is_some_and(|h| !names_loopback(h)) {
            return Err(error(
                StatusCode::MISDIRECTED_REQUEST,
                "host-not-loopback",
                "this server runs without a token on loopback and answers only requests addressed to \
                 localhost, 127.0.0.1 or [::1]; configure a token (--token-file) to serve other names",
            ));
        }
    }
    if method == Method::POST {
        let wanted = body_type(path);
        let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = declared.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case(wanted) {
            return Err(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                &format!("send the body of a POST to `{path}` as `Content-Type: {wanted}`, not `{declared}`"),
            ));
        }
    }
    Ok(())
}

/// Whether a `Host` header value (name and optional port) names this machine's loopback.
fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_post_must_declare_the_body_type_a_browser_cannot_send_cross_site_unasked() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert!(check(&Method::POST, "/v1/messages", &json, false).is_ok());
        for (path, declared) in [
            ("/v1/messages", "text/plain"),
            ("/v1/agents", "application/x-www-form-urlencoded"),
            ("/v1/components", "text/plain"),
        ] {
            let refused = check(&Method::POST, path, &headers(&[("content-type", declared)]), false);
            assert_eq!(refused.err().map(|e| e.status), Some(StatusCode::UNSUPPORTED_MEDIA_TYPE), "{path} {declared}");
        }
        assert!(check(&Method::POST, "/v1/messages", &HeaderMap::new(), false).is_err(), "no type declared");
        assert!(
            check(&Method::POST, "/v1/components", &headers(&[("content-type", "application/wasm")]), false).is_ok()
        );
        assert!(check(&Method::GET, "/v1/agents", &HeaderMap::new(), false).is_ok());
    }

    #[test]
    fn without_a_token_on_loopback_only_loopback_names_are_served() {
        for host in ["localhost", "localhost:8080", "127.0.0.1:8080", "127.3.4.5", "[::1]:8080", "LOCALHOST"] {
            assert!(check(&Method::GET, "/v1/events", &headers(&[("host", host)]), true).is_ok(), "{host}");
        }
        for host in ["attacker.test", "attacker.test:8080", "localhost.attacker.test", "10.0.0.1:8080", "[::2]"] {
            let refused = check(&Method::GET, "/v1/events", &headers(&[("host", host)]), true);
            assert_eq!(refused.err().map(|e| e.code), Some("host-not-loopback"), "{host}");
        }
        assert!(check(&Method::GET, "/v1/events", &headers(&[("host", "attacker.test")]), false).is_ok());
    }
}
