//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>, Level 1): the
//! `traceparent` a message carries, so a conversation started inside a
//! caller's trace stays in it from agent to agent and host to host.
//!
//! A message's trace context is host-managed, like its hop count: a client
//! sets it with the `traceparent` header of `POST /v1/messages`, and every
//! message an agent sends while handling a message inherits that message's.
//! Agents never see or set it.

use serde::{Deserialize, Serialize};

/// A `traceparent`: which trace a message belongs to and the span it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The trace, 16 bytes, not all zero.
    pub trace_id: [u8; 16],
    /// The span the message was sent from, 8 bytes, not all zero.
    pub parent_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

/// Why a `traceparent` value is not one (the spec says to ignore it then).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a W3C traceparent (version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>)")]
pub struct NotATraceparent(pub String);

impl TraceContext {
    /// Read a `traceparent` header value. Version `00` is read exactly; a
    /// later version is read by its first four fields (the spec's forward
    /// compatibility rule); `ff`, upper-case hex and all-zero ids are refused.
    pub fn parse(value: &str) -> Result<TraceContext, NotATraceparent> {
        let refuse = || NotATraceparent(value.chars().take(80).collect());
        let value = value.trim();
        let mut fields = value.split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(refuse());
        };
        let version = hex::<1>(version).ok_or_else(refuse)?;
        if version == [0xff] || (version == [0] && (value.len() != 55 || fields.next().is_some())) {
            return Err(refuse());
        }
        let trace_id = hex::<16>(trace).filter(|t| t.iter().any(|b| *b != 0)).ok_or_else(refuse)?;
        let parent_id = hex::<8>(parent).filter(|p| p.iter().any(|b| *b != 0)).ok_or_else(refuse)?;
        let [flags] = hex::<1>(flags).ok_or_else(refuse)?;
        Ok(TraceContext { trace_id, parent_id, flags })
    }

    /// The `traceparent` value (version 00).
    pub fn traceparent(&self) -> String {
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        format!("00-{}-{}-{:02x}", hex(&self.trace_id), hex(&self.parent_id), self.flags)
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// `N` bytes from exactly `2N` lower-case hex digits.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specs_example_reads_and_writes_back() {
        let t = TraceContext::parse(EXAMPLE).unwrap();
        assert_eq!(t.flags, 1);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.traceparent(), EXAMPLE);
    }

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceContext::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_by_its_first_four_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert_eq!(TraceContext::parse(later).unwrap().traceparent(), EXAMPLE);
    }
}
