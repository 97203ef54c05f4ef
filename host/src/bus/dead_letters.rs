//! Dead letters: a bounded, inspectable record of messages that could not be
//! delivered or handled, each with its reason. The oldest are dropped first;
//! the total count keeps growing.

use crate::acl::Message;
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many dead letters are kept.
pub const CAPACITY: usize = 1_000;

/// Why a message became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No agent of that name is deployed (or nobody waits for the reply).
    NoSuchAgent,
    /// The receiver's mailbox was full.
    MailboxFull,
    /// The message chain exceeded the hop limit.
    HopLimit,
    /// No reply arrived before the request's reply-by deadline.
    ReplyBy,
    /// The receiver failed while handling it.
    ReceiverFailed,
    /// The receiver was removed before handling it.
    Removed,
    /// A reply to a waiting party from someone who was not a receiver of the
    /// request it answers (forged, or passed on): a sign of trouble.
    UnsolicitedReply,
    /// A reply to a party that is not an agent and is not waiting for it: the
    /// client did not wait, stopped waiting, or already has its answer (or
    /// someone guessed at a reply-with).
    UnclaimedReply,
    /// The receiver's host did not answer (it stopped, or NATS is unreachable).
    HostUnreachable,
    /// The message is too large to carry to the receiver's host.
    TooLarge,
    /// The message breaks the interaction protocol of its conversation (see [`crate::protocol`]).
    ProtocolViolation,
}

impl Reason {
    /// Every reason, in the order metrics list them.
    pub const ALL: [Reason; 11] = [
        Reason::NoSuchAgent,
        Reason::MailboxFull,
        Reason::HopLimit,
        Reason::ReplyBy,
        Reason::ReceiverFailed,
        Reason::Removed,
        Reason::UnsolicitedReply,
        Reason::UnclaimedReply,
        Reason::HostUnreachable,
        Reason::TooLarge,
        Reason::ProtocolViolation,
    ];

    /// The kebab-case name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoSuchAgent => "no-such-agent",
            Reason::MailboxFull => "mailbox-full",
            Reason::HopLimit => "hop-limit",
            Reason::ReplyBy => "reply-by",
            Reason::ReceiverFailed => "receiver-failed",
            Reason::Removed => "removed",
            Reason::UnsolicitedReply => "unsolicited-reply",
            Reason::UnclaimedReply => "unclaimed-reply",
            Reason::HostUnreachable => "host-unreachable",
            Reason::TooLarge => "too-large",
            Reason::ProtocolViolation => "protocol-violation",
        }
    }
}

/// One undeliverable message.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Position in the total sequence of dead letters, from 1.
    pub id: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Why.
    pub reason: Reason,
    /// The receiver it was meant for.
    pub receiver: String,
    /// More detail, as a sentence.
    pub detail: String,
    /// The message.
    pub message: Message,
}

/// Where dead letters are written down, so they outlive the process.
pub trait DeadLetterLog: Send + Sync {
    /// Keep `letter` (without blocking the caller).
    fn record(&self, letter: &DeadLetter);
    /// The newest `n` kept letters, oldest first.
    fn recent(&self, n: usize) -> Vec<DeadLetter>;
}

impl Reason {
    /// The reason named `name` (as [`Reason::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Where the reason is counted, as its place in [`Reason::ALL`].
    fn index(self) -> usize {
        match self {
            Reason::NoSuchAgent => 0,
            Reason::MailboxFull => 1,
            Reason::HopLimit => 2,
            Reason::ReplyBy => 3,
            Reason::ReceiverFailed => 4,
            Reason::Removed => 5,
            Reason::UnsolicitedReply => 6,
            Reason::UnclaimedReply => 7,
            Reason::HostUnreachable => 8,
            Reason::TooLarge => 9,
            Reason::ProtocolViolation => 10,
        }
    }
}

/// The kept letters and the counts of all letters since the process started.
#[derive(Default)]
struct Kept {
    letters: VecDeque<DeadLetter>,
    /// The id of the newest letter (ids continue across restarts).
    last_id: u64,
    /// Letters since this process started, by reason (indexed as [`Reason::ALL`]).
    by_reason: [u64; Reason::ALL.len()],
}

/// The bounded queue.
#[derive(Default)]
pub struct DeadLetters {
    inner: Mutex<Kept>,
    log: Option<std::sync::Arc<dyn DeadLetterLog>>,
}

impl DeadLetters {
    /// A queue that also writes to `log`, starting with the letters it kept.
    pub fn with_log(log: std::sync::Arc<dyn DeadLetterLog>) -> DeadLetters {
        let letters: VecDeque<DeadLetter> = log.recent(CAPACITY).into();
        let last_id = letters.back().map_or(0, |l| l.id);
        DeadLetters { inner: Mutex::new(Kept { letters, last_id, by_reason: Default::default() }), log: Some(log) }
    }

    /// Record a dead letter.
    pub fn push(&self, reason: Reason, receiver: &str, detail: String, message: Message) {
        let at_ms = crate::acl::now_ms();
        tracing::debug!(reason = reason.as_str(), receiver, "dead letter: {detail}");
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.last_id += 1;
        let id = inner.last_id;
        if let Some(count) = inner.by_reason.get_mut(reason.index()) {
            *count += 1;
        }
        if inner.letters.len() >= CAPACITY {
            inner.letters.pop_front();
        }
        let letter = DeadLetter { id, at_ms, reason, receiver: receiver.to_string(), detail, message };
        if let Some(log) = &self.log {
            log.record(&letter);
        }
        inner.letters.push_back(letter);
    }

    /// Count a letter of `reason` by its reason only: it is not kept, logged or numbered.
    pub fn count_only(&self, reason: Reason) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = inner.by_reason.get_mut(reason.index()) {
            *count += 1;
        }
    }

    /// The kept dead letters, oldest first.
    pub fn list(&self) -> Vec<DeadLetter> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).letters.iter().cloned().collect()
    }

    /// How many dead letters there have been in all (ids continue across restarts).
    pub fn total(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).last_id
    }

    /// How many letters each reason had since this process started.
    pub fn counts(&self) -> Vec<(Reason, u64)> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Reason::ALL.into_iter().zip(inner.by_reason.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Performative;

    #[test]
    fn every_reason_is_counted_in_its_own_place() {
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
    }

    #[test]
    fn keeps_the_newest_up_to_capacity_and_counts_all() {
        let d = DeadLetters::default();
        let m = Message::new(Performative::Inform, vec!["x".into()], "{}".into());
        for _ in 0..CAPACITY + 5 {
            d.push(Reason::HopLimit, "x", "loop".into(), m.clone());
        }
        let list = d.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list.first().map(|l| l.id), Some(6));
        assert_eq!(d.total(), (CAPACITY + 5) as u64);
    }
}
