//! Identifiers the host makes up (conversation ids, reply tokens, upload
//! names): 128 bits from a CSPRNG (`rand`'s thread-local generator, seeded and
//! reseeded from the OS), so none can be guessed from those before it.

/// A fresh identifier: `prefix`, a dash, and 32 hex digits.
pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{:032x}", rand::random::<u128>())
}
