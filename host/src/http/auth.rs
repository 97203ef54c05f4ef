//! Bearer-token authentication for the admin routes.
//!
//! The token is compared in constant time (for a given length), read only from
//! the `Authorization` header (never from the query string), and never logged.

use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;

/// Whether `headers` carry `Authorization: Bearer <token>` for exactly `token`.
/// The scheme is case-insensitive (RFC 9110); the token is not.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, given)) = value.split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

/// Compare without an early exit, so timing does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        assert!(authorized(&with("Bearer s3cret"), "s3cret"));
        assert!(authorized(&with("bearer s3cret"), "s3cret"), "the scheme is case-insensitive");
        for wrong in ["Bearer S3CRET", "Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer"] {
            assert!(!authorized(&with(wrong), "s3cret"), "{wrong}");
        }
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
