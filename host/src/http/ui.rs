//! The web dashboard at `/ui`: a page and its scripts, embedded in the binary
//! (no Node needed to run it). Charts are drawn with uPlot (MIT), vendored
//! under `host/ui/vendor/` and refreshed from npm by `just build-ui`.
//!
//! The page itself holds no data, so it is served without the token; every
//! call it makes goes through the API, which asks for the token as usual.
//! The page runs under a strict Content-Security-Policy: its own scripts
//! only, no inline script, and connections back to this server alone.

use super::reply::{error, ApiError, Reply};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// Each asset: its name under `/ui/`, its content type, its bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../../ui/index.html")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../../ui/app.css")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/api.js")),
    ("sniffer.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/sniffer.js")),
    ("views.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/views.js")),
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/app.js")),
    ("uPlot.iife.min.js", "text/javascript; charset=utf-8", include_bytes!("../../ui/vendor/uPlot.iife.min.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../../ui/vendor/uPlot.min.css")),
];

/// What the page may load and where it may connect: only from this server.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                      connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// `GET /`: a redirect to the dashboard (a browser pointed at the server lands on it).
pub fn to_dashboard() -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    response.headers_mut().insert(hyper::header::LOCATION, HeaderValue::from_static("/ui"));
    response
}

/// `GET /ui` (the page) and `GET /ui/{asset}`.
pub fn asset(name: &str) -> Result<Reply, ApiError> {
    let name = if name.is_empty() { "index.html" } else { name };
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        return Err(error(StatusCode::NOT_FOUND, "no-such-asset", &format!("the dashboard has no file `{name}`")));
    };
    let mut response = Response::new(Full::new(Bytes::from_static(bytes)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // the binary is the version: revalidate rather than keep a stale page after an upgrade
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_every_script_it_loads_are_served() {
        let page = String::from_utf8_lossy(ASSETS[0].2);
        for (name, _, _) in ASSETS {
            assert!(asset(name).is_ok());
            if *name != "index.html" {
                assert!(page.contains(&format!("/ui/{name}")), "index.html does not load {name}");
            }
        }
        assert_eq!(asset("../Cargo.toml").err().map(|e| e.code), Some("no-such-asset"));
    }
}
