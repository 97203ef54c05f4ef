//! Replies the bus routes to a waiting party instead of a mailbox (a client of
//! `POST /v1/messages?wait_ms=`, a test).
//!
//! A waiting party, like a reply-by watch (see [`super::deadlines`]), accepts a reply only from a receiver of the request it answers: FIPA
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

/// The prefix of the `reply-with` the host gives a client's request that no
/// one waits for: replies to it are counted as `unclaimed-reply`, not kept.
pub const NOBODY_WAITS: &str = "unawaited";

/// One party waiting for the reply to one request.
struct Waiter {
    /// Who waits (the request's sender).
    party: String,
    /// The request's receivers: the only senders whose reply is accepted.
    responders: Vec<String>,
    /// The `reply-with` the party chose, in place of which the request carries the token.
    asked_as: String,
    tx: oneshot::Sender<Message>,
}

/// What a message with `in-reply-to` is to one of its receivers.
pub(super) enum Claim {
    /// It answers a waiting party's request: hand it over under this token.
    Waiter(String),
    /// It is addressed to a waiting party by someone who was not asked; the sentence says who.
    Unsolicited(String),
    /// It is addressed to a party that is not an agent and waits for no such reply
    /// (it did not wait, stopped waiting, or already has its answer).
    Unclaimed(String),
    /// No waiting party is concerned: route it as any other message.
    NotClaimed,
}

/// The parties waiting for replies, by the token of their request.
#[derive(Default)]
pub(super) struct Replies {
    waiters: Mutex<HashMap<String, Waiter>>,
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
    /// (The request itself carries the host's token.)
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

    /// The `reply-with` a waiting party chose for the request that carries
    /// `token`, when someone waits on it.
    pub(super) fn asked_as(&self, token: &str) -> Option<String> {
        self.lock_waiters().get(token).map(|w| w.asked_as.clone())
    }

    /// Make `party` wait for the reply to `request`, which it sends next: the
    /// request's `reply-with` becomes a fresh token (the party's own is kept
    /// for the reply) and only its receivers may answer.
    pub(super) fn expect(
        &self,
        bus: &Arc<super::Bus>,
        party: &str,
        request: &mut Message,
        prefix: &str,
    ) -> ReplyWaiter {
        let mut waiters = self.lock_waiters();
        let mut token = crate::ids::fresh(prefix);
        while waiters.contains_key(&token) {
            token = crate::ids::fresh(prefix);
        }
        let asked_as = request.reply_with.replace(token.clone()).unwrap_or_else(|| token.clone());
        let (tx, rx) = oneshot::channel();
        let responders = request.receivers.clone();
        waiters.insert(token.clone(), Waiter { party: party.to_string(), responders, asked_as: asked_as.clone(), tx });
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
            None => Claim::Unclaimed(format!(
                "`{receiver}` is not an agent and is not waiting for a reply to `{in_reply_to}`"
            )),
        }
    }

    /// Take the waiter of `token` (claimed by [`Replies::claim`]).
    pub(super) fn take(&self, token: &str) -> Option<oneshot::Sender<Message>> {
        self.lock_waiters().remove(token).map(|w| w.tx)
    }
}

/// The receivers of the request a waiter waits on, for a sentence.
fn receiver_list(waiters: &HashMap<String, Waiter>, token: &str) -> String {
    waiters
        .get(token)
        .map_or_else(String::new, |w| w.responders.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", "))
}
