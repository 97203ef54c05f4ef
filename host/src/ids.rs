//! Identifiers the host makes up (conversation ids, reply tokens, upload
//! names): 128 bits from a CSPRNG (`rand`'s thread-local generator, seeded and
//! reseeded from the OS), so none can be guessed from those before it.

/// A fresh identifier: `prefix`, a dash, and 32 hex digits.
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}

/// Whether `id` has the shape [`fresh`] gives identifiers with `prefix`.
pub fn has_shape(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_have_their_shape_and_others_do_not() {
        assert!(has_shape(&fresh("reply"), "reply"));
        assert!(!has_shape(&fresh("reply"), "conv"));
        assert!(!has_shape("reply-1", "reply"));
    }
}
