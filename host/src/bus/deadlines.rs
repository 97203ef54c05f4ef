//! The reply-by deadlines the bus watches: one per request that carries both
//! `reply-with` and `reply-by`, found by (initiator, reply-with).
//!
//! A watch keeps the request's header (no content) and the task that wakes at
//! the deadline; a reply from one of the request's receivers ends both. Each
//! initiator may hold at most [`MAX_PER_INITIATOR`] watches and
//! [`MAX_BYTES_PER_INITIATOR`] bytes of headers, and all together at most
//! [`MAX_WATCHES`], so one party cannot spend the watch of everyone else.
//! A request that reuses a `reply-with` replaces the earlier watch.
//! When a deadline passes unanswered the bus dead-letters the request and
//! tells its initiator with a `failure` (`reply-by`).

use super::dead_letters::Reason;
use super::ReplyKey;
use crate::acl::{Message, Performative};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::AbortHandle;

/// Most deadlines watched at once.
pub const MAX_WATCHES: usize = 100_000;
/// Most deadlines watched at once for one initiator.
pub const MAX_PER_INITIATOR: usize = 10_000;
/// Most bytes of request headers kept for one initiator's watches.
pub const MAX_BYTES_PER_INITIATOR: usize = 16 * 1024 * 1024;

/// Why a deadline is not watched (the request itself is still delivered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchRefused {
    /// [`MAX_WATCHES`] deadlines are watched already.
    #[error("{MAX_WATCHES} deadlines are watched already")]
    Full,
    /// The initiator holds its share of watches already.
    #[error("`{0}` has {MAX_PER_INITIATOR} deadlines or {MAX_BYTES_PER_INITIATOR} bytes of them watched already")]
    InitiatorFull(String),
}

/// A request whose deadline is watched.
pub(super) struct Watched {
    /// The request's receivers: only their replies end the watch.
    pub(super) receivers: Vec<String>,
    /// The request without its content, to answer and dead-letter at the deadline.
    pub(super) request: Message,
    generation: u64,
    task: Option<AbortHandle>,
}

/// One initiator's share.
#[derive(Default, Clone, Copy)]
struct Share {
    watches: usize,
    bytes: usize,
}

#[derive(Default)]
struct State {
    by_key: HashMap<(String, String), Watched>,
    shares: HashMap<String, Share>,
    generations: u64,
}

impl State {
    fn remove(&mut self, key: &(String, String)) -> Option<Watched> {
        let removed = self.by_key.remove(key)?;
        if let Some(share) = self.shares.get_mut(&key.0) {
            share.watches = share.watches.saturating_sub(1);
            share.bytes = share.bytes.saturating_sub(removed.request.byte_size());
            if share.watches == 0 {
                self.shares.remove(&key.0);
            }
        }
        Some(removed)
    }
}

/// The watched deadlines.
#[derive(Default)]
pub struct Deadlines {
    state: Mutex<State>,
}

impl Deadlines {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch `request` (a header) as `key`; the generation that
    /// [`Deadlines::armed`] and [`Deadlines::expired`] must name.
    pub(super) fn watch(&self, key: (String, String), request: Message) -> Result<u64, WatchRefused> {
        let mut state = self.lock();
        if let Some(earlier) = state.remove(&key) {
            if let Some(task) = earlier.task {
                task.abort();
            }
        }
        if state.by_key.len() >= MAX_WATCHES {
            return Err(WatchRefused::Full);
        }
        let bytes = request.byte_size();
        let share = state.shares.get(&key.0).copied().unwrap_or_default();
        if share.watches >= MAX_PER_INITIATOR || share.bytes + bytes > MAX_BYTES_PER_INITIATOR {
            return Err(WatchRefused::InitiatorFull(key.0));
        }
        state.generations += 1;
        let generation = state.generations;
        let entry = state.shares.entry(key.0.clone()).or_default();
        entry.watches += 1;
        entry.bytes += bytes;
        let receivers = request.receivers.clone();
        state.by_key.insert(key, Watched { receivers, request, generation, task: None });
        Ok(generation)
    }

    /// The task that wakes at the deadline of `key`'s watch `generation`.
    pub(super) fn armed(&self, key: &(String, String), generation: u64, task: AbortHandle) {
        match self.lock().by_key.get_mut(key) {
            Some(watched) if watched.generation == generation => watched.task = Some(task),
            _ => task.abort(), // answered (or replaced) before its task was even stored
        }
    }

    /// The watch `generation` of `key`, whose deadline passed unanswered.
    pub(super) fn expired(&self, key: &(String, String), generation: u64) -> Option<Watched> {
        let mut state = self.lock();
        if state.by_key.get(key).is_some_and(|w| w.generation == generation) {
            state.remove(key)
        } else {
            None
        }
    }

    /// A reply from `msg.sender` ends the watch of the request it answers, if
    /// `msg.sender` was a receiver of that request.
    pub(super) fn answered(&self, msg: &Message) {
        let Some(in_reply_to) = &msg.in_reply_to else { return };
        let mut state = self.lock();
        for receiver in &msg.receivers {
            let key = (receiver.clone(), in_reply_to.clone());
            if state.by_key.get(&key).is_some_and(|w| w.receivers.contains(&msg.sender)) {
                if let Some(task) = state.remove(&key).and_then(|w| w.task) {
                    task.abort();
                }
            }
        }
    }

    /// How many deadlines are watched now.
    pub fn len(&self) -> usize {
        self.lock().by_key.len()
    }

    /// Whether no deadline is watched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl super::Bus {
    /// Start the reply-by clock for a request that asks for a reply by a deadline.
    pub(super) fn watch_reply_by(self: &Arc<Self>, msg: &Message) {
        let (Some(reply_with), Some(reply_by)) = (&msg.reply_with, msg.reply_by) else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("reply-by of `{reply_with}` not watched: no async runtime");
            return;
        };
        let key = (msg.sender.clone(), reply_with.clone());
        let generation = match self.deadlines.watch(key.clone(), msg.header()) {
            Ok(generation) => generation,
            Err(why) => {
                tracing::warn!("reply-by of `{reply_with}` not watched: {why}");
                return;
            }
        };
        let delay = Duration::from_millis(reply_by.saturating_sub(crate::acl::now_ms()));
        let bus = Arc::downgrade(self);
        let watched = key.clone();
        let task = runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(bus) = bus.upgrade() {
                bus.expire(&watched, generation);
            }
        });
        self.deadlines.armed(&key, generation, task.abort_handle());
    }

    /// The reply-by deadline of `key` passed: if it is still unanswered,
    /// dead-letter the request and tell the initiator with a `failure` (when
    /// it is an agent or waits; a client that did not wait has the dead letter).
    fn expire(self: &Arc<Self>, key: &ReplyKey, generation: u64) {
        let Some(pending) = self.deadlines.expired(key, generation) else {
            return;
        };
        let (initiator, token) = key;
        let mut request = pending.request;
        let failure_to = self.is_agent(initiator) || self.replies.asked_as(token).is_some();
        let failure = request.host_reply(Performative::Failure, String::new());
        // a waiting party knows its request by its own reply-with, not by the host's token
        let asked_as = self.replies.asked_as(token).unwrap_or_else(|| token.clone());
        request.reply_with = Some(asked_as.clone());
        let receiver = pending.receivers.first().cloned().unwrap_or_default();
        let detail = format!("no reply from `{receiver}` to `{asked_as}` by its reply-by deadline");
        let content = serde_json::json!({ "error": detail, "reason": Reason::ReplyBy.as_str() });
        self.dead_letter(Reason::ReplyBy, &receiver, detail, request);
        if failure_to {
            let failure = Message { content: content.to_string(), ..failure };
            if let Err(e) = self.send_host_reply(&receiver, failure, crate::protocol::HostEnding::Expired) {
                tracing::debug!("reply-by failure for `{token}` undeliverable: {e}");
            }
        }
    }
}
