//! Name patterns in grants and subscriptions: `pricing-*`, `*-eu`, `orders.*.paid`.
//!
//! A leaf module (it uses nothing else in the crate) because three rooms read
//! patterns: `policy` checks `send-to`, `publish` and `subscribe` grants, `bus`
//! routes a published topic to its subscribers, and `capability` checks a
//! `wasi:keyvalue` bucket against the grant.

/// Whether `text` matches `pattern`: `*` matches any run of characters
/// (including none); everything else matches itself.
pub fn matches(pattern: &str, text: &str) -> bool {
    // checked on every send against each `send-to` pattern: no allocation
    let Some((head, last)) = pattern.rsplit_once('*') else {
        return pattern == text;
    };
    let mut parts = head.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_match_any_run_anywhere() {
        for (p, t, want) in [
            ("*", "anything", true),
            ("*", "", true),
            ("a", "a", true),
            ("a", "ab", false),
            ("pricing-*", "pricing-eu", true),
            ("pricing-*", "billing", false),
            ("*-eu", "pricing-eu", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("a*a", "a", false),
            ("ab*ba", "aba", false),
            ("*a*", "bab", true),
            ("a**", "a", true),
            ("**", "", true),
        ] {
            assert_eq!(matches(p, t), want, "{p} vs {t}");
        }
    }
}
