//! Replies the bus routes to a waiting party instead of a mailbox (a client of
//! `POST /v1/messages?wait_ms=`, a test), and the reply-by deadlines it watches.
//!
//! Both accept a reply only from a receiver of the request it answers: FIPA
//! ACL (SC00061, `in-reply-to`) makes a reply an answer *by the addressee* of
//! the earlier message. A waiter is found by an unguessable token that the
//! host puts in the request's `reply-with` in place of the party's own, so
//! two parties that chose the same `reply-with` each get their own reply and
//! nobody can answer a request whose token they never saw; the party's own
//! `reply-with` is restored in the reply it receives.

use crate::acl::Message;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::oneshot;

/// Most reply-by deadlines tracked at once; requests beyond it are not tracked.
pub const MAX_PENDING_REPLIES: usize = 100_000;

/// One party waiting for the reply to one request.
struct Waiter {
    /// Who waits (the request's sender).
    party: String,
    /// The request's receivers: the only senders whose reply is accepted.
    responders: Vec<String>,
    tx: oneshot::Sender<Message>,
}

/// A request whose reply-by deadline is being watched, by (initiator, reply-with).
pub(super) struct PendingReply {
    /// The request's receivers.
    pub(super) receivers: Vec<String>,
    /// The request, to answer and dead-letter when the deadline passes.
    pub(super) request: Message,
}

/// What a message with `in-reply-to` is to one of its receivers.
pub(super) enum Claim {
    /// It answers a waiting party's request: hand it over under this token.
    Waiter(String),
    /// It is addressed to a waiting party but may not reach it; the sentence says why.
    Unsolicited(String),
    /// No waiting party is concerned: route it as any other message.
    NotClaimed,
}

/// The waiters and the watched reply-by deadlines.
#[derive(Default)]
pub(super) struct Replies {
    waiters: Mutex<HashMap<String, Waiter>>,
    pending: Mutex<HashMap<(String, String), PendingReply>>,
}

/// A reply a party is waiting for; dropping it stops the wait.
pub struct ReplyWaiter {
    replies: Weak<super::Bus>,
    token: String,
    asked_as: String,
    rx: oneshot::Receiver<Message>,
}

impl ReplyWaiter {
    /// The `reply-with` the party chose (or the one the host chose for it).
    pub fn reply_with(&self) -> &str {
        &self.asked_as
    }

    /// Wait for the reply; its `in-reply-to` is the party's own `reply-with`.
    /// `None` when the bus went away.
    pub async fn recv(mut self) -> Option<Message> {
        let mut reply = (&mut self.rx).await.ok()?;
        reply.in_reply_to = Some(self.asked_as.clone());
        Some(reply)
    }
}

impl Drop for ReplyWaiter {
    fn drop(&mut self) {
        if let Some(bus) = self.replies.upgrade() {
            bus.replies.lock_waiters().remove(&self.token);
        }
    }
}

impl Replies {
    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiter>> {
        self.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), PendingReply>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make `party` wait for the reply to `request`, which it sends next: the
    /// request's `reply-with` becomes a fresh token (the party's own is kept
    /// for the reply) and only its receivers may answer.
    pub(super) fn expect(&self, bus: &Arc<super::Bus>, party: &str, request: &mut Message) -> ReplyWaiter {
        let mut waiters = self.lock_waiters();
        let mut token = crate::ids::fresh("reply");
        while waiters.contains_key(&token) {
            token = crate::ids::fresh("reply");
        }
        let asked_as = request.reply_with.replace(token.clone()).unwrap_or_else(|| token.clone());
        let (tx, rx) = oneshot::channel();
        waiters.insert(token.clone(), Waiter { party: party.to_string(), responders: request.receivers.clone(), tx });
        ReplyWaiter { replies: Arc::downgrade(bus), token, asked_as, rx }
    }

    /// What `msg` (sender stamped) is to its receiver `receiver`, which is not
    /// a deployed agent when `to_agent` is false.
    pub(super) fn claim(&self, msg: &Message, receiver: &str, to_agent: bool) -> Claim {
        let Some(in_reply_to) = &msg.in_reply_to else { return Claim::NotClaimed };
        let waiters = self.lock_waiters();
        match waiters.get(in_reply_to).filter(|w| w.party == receiver) {
            Some(w) if w.responders.contains(&msg.sender) => Claim::Waiter(in_reply_to.clone()),
            Some(_) => Claim::Unsolicited(format!(
                "`{}` answered a request to {} that it never received",
                msg.sender,
                receiver_list(&waiters, in_reply_to)
            )),
            None if to_agent => Claim::NotClaimed,
            None => Claim::Unsolicited(format!("nobody is waiting as `{receiver}` for a reply to `{in_reply_to}`")),
        }
    }

    /// Take the waiter of `token` (claimed by [`Replies::claim`]).
    pub(super) fn take(&self, token: &str) -> Option<oneshot::Sender<Message>> {
        self.lock_waiters().remove(token).map(|w| w.tx)
    }

    /// A reply from `msg.sender` ends the reply-by watch of the request it
    /// answers, if `msg.sender` was a receiver of that request.
    pub(super) fn answered(&self, msg: &Message) {
        let Some(in_reply_to) = &msg.in_reply_to else { return };
        let mut pending = self.lock_pending();
        for receiver in &msg.receivers {
            let key = (receiver.clone(), in_reply_to.clone());
            if pending.get(&key).is_some_and(|p| p.receivers.contains(&msg.sender)) {
                pending.remove(&key);
            }
        }
    }
}

/// The receivers of the request a waiter waits on, for a sentence.
fn receiver_list(waiters: &HashMap<String, Waiter>, token: &str) -> String {
    waiters
        .get(token)
        .map_or_else(String::new, |w| w.responders.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "))
}
