//! Envelopes between hosts: what a host signs, and what a host checks before
//! it reads anything another host sent.
//!
//! An envelope is a NATS message whose payload is the [`FORMAT`] byte, then
//! `{host, boot, seq, sent_ms}` and the body, both in postcard
//! (<https://postcard.jamesmunns.com/wire-format>), and whose `Caxton-Mac`
//! header is the hex HMAC-SHA256, under the cluster key, of the subject, a
//! zero byte and the payload. Hosts of one cluster speak one format: an
//! envelope of another is dropped as malformed. So a
//! party that holds NATS credentials but not the cluster key can neither
//! forge an envelope nor move one to another subject. A receiver drops
//! (and counts, [`Dropped`]) an envelope that is unsigned, whose MAC does not
//! verify, that is malformed, that was sent more than [`FRESH_FOR`] ago (or
//! as far ahead: hosts' clocks must agree to within it), or whose `seq` it
//! has already seen from that host's boot ([`Replays`]).

use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The version of the envelope format, the payload's first byte.
pub const FORMAT: u8 = 1;
/// The NATS header that carries an envelope's MAC.
pub const MAC_HEADER: &str = "Caxton-Mac";
/// How far an envelope's `sent_ms` may be from the receiver's clock.
pub const FRESH_FOR: Duration = Duration::from_secs(60);
/// How many sequence numbers behind the newest one a host still accepts
/// (envelopes from one host may arrive out of order across subjects).
pub const REPLAY_WINDOW: u64 = 4096;
/// Shortest cluster key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// The fields of an envelope before its body.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    host: String,
    boot: String,
    seq: u64,
    sent_ms: u64,
}

/// An envelope's signed contents.
#[derive(Debug)]
pub struct Envelope<B> {
    /// The sending host's id.
    pub host: String,
    /// The sending host's boot: a fresh id each time it starts.
    pub boot: String,
    /// The sending boot's sequence number, from 1.
    pub seq: u64,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub sent_ms: u64,
    /// What it carries.
    pub body: B,
}

/// Why an envelope was dropped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// It had no MAC.
    Unsigned,
    /// Its MAC did not verify under the cluster key.
    Forged,
    /// Its payload was not an envelope of the expected kind.
    Malformed,
    /// It was sent too long ago, or claims to be sent in the future.
    Stale,
    /// Its sequence number was already seen from that host's boot.
    Replayed,
    /// It carries a message in the name of an agent its host does not run.
    Impersonation,
}

impl Dropped {
    /// Every reason, in the order they are listed.
    pub const ALL: [Dropped; 6] = [
        Dropped::Unsigned,
        Dropped::Forged,
        Dropped::Malformed,
        Dropped::Stale,
        Dropped::Replayed,
        Dropped::Impersonation,
    ];

    /// The kebab-case name used in the API and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Unsigned => "unsigned",
            Dropped::Forged => "forged",
            Dropped::Malformed => "malformed",
            Dropped::Stale => "stale",
            Dropped::Replayed => "replayed",
            Dropped::Impersonation => "impersonation",
        }
    }
}

/// How many envelopes were dropped, by reason (indexed as [`Dropped::ALL`]).
#[derive(Default)]
pub struct DropCounts([AtomicU64; Dropped::ALL.len()]);

impl DropCounts {
    /// Count one dropped envelope.
    pub fn count(&self, why: Dropped) {
        if let Some(i) = Dropped::ALL.iter().position(|d| *d == why) {
            if let Some(counter) = self.0.get(i) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Each reason with its count.
    pub fn counts(&self) -> Vec<(Dropped, u64)> {
        Dropped::ALL.into_iter().zip(self.0.iter().map(|c| c.load(Ordering::Relaxed))).collect()
    }
}

/// Signs this host's envelopes and checks other hosts'.
pub struct Seal {
    key: Vec<u8>,
    host: String,
    boot: String,
    seq: AtomicU64,
}

impl Seal {
    /// A seal for `host` under `key` (at least [`MIN_KEY_BYTES`]), with a fresh boot id.
    pub fn new(key: Vec<u8>, host: &str) -> Seal {
        Seal { key, host: host.to_string(), boot: crate::ids::fresh("boot"), seq: AtomicU64::new(0) }
    }

    /// This host's boot id.
    pub fn boot(&self) -> &str {
        &self.boot
    }

    fn mac(&self, subject: &str, payload: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(subject.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// `body` in an envelope for `subject`: the payload, its MAC (hex) and its sequence number.
    pub fn seal<B: Serialize>(&self, subject: &str, body: &B) -> (Vec<u8>, String, u64) {
        // postcard fails only on types it cannot write (maps of unknown length), which bodies are not
        self.seal_bytes(subject, &postcard::to_allocvec(body).unwrap_or_default())
    }

    /// As [`Seal::seal`], for a body already in postcard.
    pub fn seal_bytes(&self, subject: &str, body: &[u8]) -> (Vec<u8>, String, u64) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let header = Header { host: self.host.clone(), boot: self.boot.clone(), seq, sent_ms: crate::acl::now_ms() };
        let mut payload = Vec::with_capacity(body.len() + 64);
        payload.push(FORMAT);
        payload = postcard::to_extend(&header, payload).unwrap_or_default();
        payload.extend_from_slice(body);
        let mac = hex(&self.mac(subject, &payload).finalize().into_bytes());
        (payload, mac, seq)
    }

    /// The envelope in `payload`, received on `subject` with MAC `mac`, when it
    /// verifies, is fresh and parses; replays are checked by the caller ([`Replays`]).
    pub fn open<B: DeserializeOwned>(
        &self,
        subject: &str,
        payload: &[u8],
        mac: Option<&str>,
    ) -> Result<Envelope<B>, Dropped> {
        let mac = mac.ok_or(Dropped::Unsigned)?;
        let tag = unhex(mac).ok_or(Dropped::Forged)?;
        self.mac(subject, payload).verify_slice(&tag).map_err(|_| Dropped::Forged)?;
        let Some((&FORMAT, rest)) = payload.split_first() else { return Err(Dropped::Malformed) };
        let (header, rest) = postcard::take_from_bytes::<Header>(rest).map_err(|_| Dropped::Malformed)?;
        let body = match postcard::take_from_bytes::<B>(rest) {
            Ok((body, [])) => body,
            _ => return Err(Dropped::Malformed),
        };
        if crate::acl::now_ms().abs_diff(header.sent_ms) > FRESH_FOR.as_millis() as u64 {
            return Err(Dropped::Stale);
        }
        Ok(Envelope { host: header.host, boot: header.boot, seq: header.seq, sent_ms: header.sent_ms, body })
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let pairs = text.as_bytes().chunks(2);
    pairs.map(|pair| Some(digit(*pair.first()?)? << 4 | digit(*pair.get(1)?)?)).collect()
}

/// The sequence numbers seen from each host's boot (boot ids are unique, so
/// they alone are the key): a sliding window of [`REPLAY_WINDOW`] behind
/// the newest. Boots unheard of for twice [`FRESH_FOR`] are forgotten (their
/// envelopes are stale by then anyway).
#[derive(Default)]
pub struct Replays {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    windows: HashMap<String, Window>,
    /// When boots unheard of were last forgotten.
    swept: Option<Instant>,
}

struct Window {
    newest: u64,
    /// Bit `i % 64` of word `i / 64` set: `newest - i` was seen.
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
    heard: Instant,
}

impl Window {
    fn new() -> Window {
        Window { newest: 0, bits: [0; (REPLAY_WINDOW / 64) as usize], heard: Instant::now() }
    }

    /// Record `seq`; false when it was seen or is too far behind.
    fn accept(&mut self, seq: u64, now: Instant) -> bool {
        self.heard = now;
        if seq > self.newest {
            self.shift(seq - self.newest);
            self.newest = seq;
        }
        let behind = self.newest - seq;
        let Some(word) = self.bits.get_mut((behind / 64) as usize) else { return false };
        let mask = 1 << (behind % 64);
        let fresh = *word & mask == 0;
        *word |= mask;
        fresh
    }

    /// Move the window `by` places forward, in place.
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.bits = [0; (REPLAY_WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        for i in (0..self.bits.len()).rev() {
            let from = |j: Option<usize>| j.and_then(|j| self.bits.get(j)).copied().unwrap_or(0);
            let low = from(i.checked_sub(words)) << bits;
            let carry = if bits == 0 { 0 } else { from(i.checked_sub(words + 1)) >> (64 - bits) };
            if let Some(word) = self.bits.get_mut(i) {
                *word = low | carry;
            }
        }
    }
}

impl Replays {
    /// Record `seq` from a host's `boot`; false when it is a replay.
    pub fn accept(&self, boot: &str, seq: u64) -> bool {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.swept.is_none_or(|at| now.duration_since(at) >= FRESH_FOR) {
            seen.windows.retain(|_, w| now.duration_since(w.heard) < 2 * FRESH_FOR);
            seen.swept = Some(now);
        }
        match seen.windows.get_mut(boot) {
            Some(window) => window.accept(seq, now),
            None => seen.windows.entry(boot.to_string()).or_insert_with(Window::new).accept(seq, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(host: &str) -> Seal {
        Seal::new(vec![7; MIN_KEY_BYTES], host)
    }

    #[test]
    fn an_envelope_opens_only_on_its_subject_under_the_key_that_sealed_it() {
        let (a, b) = (seal("a"), seal("b"));
        let (payload, mac, seq) = a.seal("caxton.c.deliver.b", &"hello");
        let opened: Envelope<String> = b.open("caxton.c.deliver.b", &payload, Some(&mac)).unwrap();
        assert_eq!((opened.host.as_str(), opened.seq, opened.body.as_str()), ("a", seq, "hello"));
        assert_eq!(b.open::<String>("caxton.c.deliver.c", &payload, Some(&mac)).unwrap_err(), Dropped::Forged);
        assert_eq!(b.open::<String>("caxton.c.deliver.b", &payload, None).unwrap_err(), Dropped::Unsigned);
        let other = Seal::new(vec![8; MIN_KEY_BYTES], "b");
        assert_eq!(other.open::<String>("caxton.c.deliver.b", &payload, Some(&mac)).unwrap_err(), Dropped::Forged);
        let mut tampered = payload.clone();
        if let Some(last) = tampered.iter_mut().rev().find(|c| **c == b'o') {
            *last = b'0';
        }
        assert_eq!(b.open::<String>("caxton.c.deliver.b", &tampered, Some(&mac)).unwrap_err(), Dropped::Forged);
        assert_eq!(b.open::<u64>("caxton.c.deliver.b", &payload, Some(&mac)).unwrap_err(), Dropped::Malformed);
        assert_eq!(
            b.open::<(String, u64)>("caxton.c.deliver.b", &payload, Some(&mac)).unwrap_err(),
            Dropped::Malformed
        );
        let (other_format, mac) = {
            let mut payload = payload.clone();
            payload[0] = FORMAT + 1;
            let mac = hex(&a.mac("caxton.c.deliver.b", &payload).finalize().into_bytes());
            (payload, mac)
        };
        assert_eq!(b.open::<String>("caxton.c.deliver.b", &other_format, Some(&mac)).unwrap_err(), Dropped::Malformed);
    }

    #[test]
    fn hex_goes_there_and_back() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(hex(&[0x0f, 0xa0]), "0fa0");
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn each_sequence_number_of_a_boot_is_accepted_once_within_the_window() {
        let replays = Replays::default();
        assert!(replays.accept("boot-1", 5));
        assert!(!replays.accept("boot-1", 5), "replayed");
        assert!(replays.accept("boot-1", 3), "late but unseen");
        assert!(!replays.accept("boot-1", 3));
        assert!(replays.accept("boot-2", 5), "another boot has its own numbers");
        assert!(replays.accept("boot-1", 70), "a jump of more than a word");
        assert!(!replays.accept("boot-1", 5), "still remembered after the window moved");
        assert!(!replays.accept("boot-1", 3), "and this one too");
        assert!(replays.accept("boot-1", 4));
        assert!(replays.accept("boot-1", 134), "a jump of exactly a word");
        assert!(!replays.accept("boot-1", 70));
        assert!(replays.accept("boot-1", 70 + REPLAY_WINDOW));
        assert!(!replays.accept("boot-1", 69), "too far behind");
        for seq in 71 + REPLAY_WINDOW..71 + REPLAY_WINDOW + 300 {
            assert!(replays.accept("boot-1", seq));
        }
        assert!(!replays.accept("boot-1", 75 + REPLAY_WINDOW));
        assert!(!replays.accept("boot-1", 200 + REPLAY_WINDOW), "accepted in the run above");
    }
}
