//! A receiver's mailbox: a bounded FIFO of [`Event`]s in which room is
//! reserved before anything is queued (so a send to several receivers is
//! all-or-nothing), and a [`Wake`] told when an event arrives.
//!
//! An agent's mailbox wakes the runtime's scheduler (`runtime::cell`); a
//! [`channel`] wakes an async [`Receiver`] (HTTP clients' and tests' mailboxes).
//! Messages take a slot of the capacity; fired timers do not (an agent has at
//! most its `max-active` timers pending, so they are bounded already).

use super::Event;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Told when an event was queued in a mailbox.
pub trait Wake: Send + Sync {
    /// An event is waiting (called after every push, from the pushing thread).
    fn wake(self: Arc<Self>);
}

/// Why no slot could be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is taken.
    Full,
    /// The mailbox takes nothing any more (its agent was removed).
    Closed,
}

/// The sending side of a mailbox; clones share it.
#[derive(Clone)]
pub struct Mailbox {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<VecDeque<Event>>,
    /// Message slots queued or reserved.
    used: AtomicUsize,
    capacity: usize,
    closed: AtomicBool,
    wake: Weak<dyn Wake>,
}

impl Mailbox {
    /// A mailbox of `capacity` message slots that wakes `wake` on every event.
    pub fn new(capacity: usize, wake: Weak<dyn Wake>) -> Mailbox {
        let shared = Shared {
            queue: Mutex::new(VecDeque::new()),
            used: AtomicUsize::new(0),
            capacity,
            closed: AtomicBool::new(false),
            wake,
        };
        Mailbox { shared: Arc::new(shared) }
    }

    /// Reserve a slot for one message.
    pub fn try_reserve(&self) -> Result<Permit, Refused> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(Refused::Closed);
        }
        let reserved = self.shared.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            (used < self.shared.capacity).then_some(used + 1)
        });
        match reserved {
            Ok(_) => Ok(Permit { mailbox: Some(self.clone()) }),
            Err(_) => Err(Refused::Full),
        }
    }

    /// Queue a fired timer (it takes no slot); false (dropped) once the mailbox is closed.
    pub fn push_timer(&self, id: u64) -> bool {
        let mut queue = lock(&self.shared.queue);
        // checked under the queue's lock, which `close` takes: no timer lands after the last drain
        if self.shared.closed.load(Ordering::Acquire) {
            return false;
        }
        queue.push_back(Event::Timer(id));
        drop(queue);
        self.wake();
        true
    }

    /// A mailbox that takes nothing (timers waiting for an instance that is not in memory).
    pub fn closed() -> Mailbox {
        let wake: Weak<dyn Wake> = Weak::<NoWake>::new();
        let mailbox = Mailbox::new(0, wake);
        mailbox.close();
        mailbox
    }

    fn push(&self, event: Event) {
        lock(&self.shared.queue).push_back(event);
        self.wake();
    }

    fn wake(&self) {
        if let Some(wake) = self.shared.wake.upgrade() {
            wake.wake();
        }
    }

    /// The oldest queued event.
    pub fn pop(&self) -> Option<Event> {
        let event = lock(&self.shared.queue).pop_front()?;
        if matches!(event, Event::Message(_)) {
            self.shared.used.fetch_sub(1, Ordering::AcqRel);
        }
        Some(event)
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.shared.queue).is_empty()
    }

    /// Message slots taken (queued or reserved). Once the mailbox is closed
    /// no slot is reserved any more, so after popping until this is 0 every
    /// message that was ever accepted has been taken out.
    pub fn depth(&self) -> usize {
        self.shared.used.load(Ordering::Acquire)
    }

    /// Take nothing more: reservations and timers are refused from now on
    /// (slots reserved before still deliver; see [`Mailbox::depth`]).
    pub fn close(&self) {
        let _queue = lock(&self.shared.queue);
        self.shared.closed.store(true, Ordering::Release);
    }

    /// Whether [`Mailbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Whether `other` is this very mailbox (not another of the same agent).
    pub fn same_as(&self, other: &Mailbox) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// How many message slots it has.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// Wakes nothing.
struct NoWake;

impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

/// One reserved message slot; dropping it unused gives the slot back.
pub struct Permit {
    mailbox: Option<Mailbox>,
}

impl Permit {
    /// Whether this slot is in `mailbox` (and not in a mailbox its agent left behind).
    pub fn is_in(&self, mailbox: &Mailbox) -> bool {
        self.mailbox.as_ref().is_some_and(|m| Arc::ptr_eq(&m.shared, &mailbox.shared))
    }

    /// Whether the mailbox of this slot is closed (its agent was removed or replaced).
    pub fn is_stale(&self) -> bool {
        self.mailbox.as_ref().is_none_or(Mailbox::is_closed)
    }

    /// Queue `event` in the reserved slot.
    pub fn send(mut self, event: Event) {
        if let Some(mailbox) = self.mailbox.take() {
            mailbox.push(event);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(mailbox) = &self.mailbox {
            mailbox.shared.used.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn lock(queue: &Mutex<VecDeque<Event>>) -> std::sync::MutexGuard<'_, VecDeque<Event>> {
    queue.lock().unwrap_or_else(|p| p.into_inner())
}

/// A mailbox read by an async task: see [`channel`].
pub struct Receiver {
    mailbox: Mailbox,
    notify: Arc<Notified>,
}

struct Notified(tokio::sync::Notify);

impl Wake for Notified {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }
}

/// A mailbox of `capacity` slots and the [`Receiver`] that awaits its events
/// (dropping the receiver closes the mailbox).
pub fn channel(capacity: usize) -> (Mailbox, Receiver) {
    let notify = Arc::new(Notified(tokio::sync::Notify::new()));
    let weak: Weak<Notified> = Arc::downgrade(&notify);
    let mailbox = Mailbox::new(capacity, weak);
    (mailbox.clone(), Receiver { mailbox, notify })
}

impl Receiver {
    /// The next event, waiting for one (`None` once the mailbox is closed and empty).
    pub async fn recv(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.mailbox.pop() {
                return Some(event);
            }
            if self.mailbox.is_closed() {
                return None;
            }
            // a wake-up between the pop and here is kept by `notify_one` as a permit
            self.notify.0.notified().await;
        }
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.mailbox.pop()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.mailbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Message, Performative};

    fn message() -> Event {
        Event::Message(Box::new(Message::new(Performative::Inform, vec!["a".into()], "1".into())))
    }

    #[tokio::test]
    async fn slots_are_reserved_first_and_given_back_when_unused() {
        let (mailbox, mut rx) = channel(2);
        let first = mailbox.try_reserve().unwrap();
        let second = mailbox.try_reserve().unwrap();
        assert_eq!(mailbox.try_reserve().err(), Some(Refused::Full));
        drop(second);
        first.send(message());
        mailbox.push_timer(7);
        assert_eq!(mailbox.depth(), 1, "a timer takes no slot");
        assert!(matches!(rx.recv().await, Some(Event::Message(_))));
        assert!(matches!(rx.recv().await, Some(Event::Timer(7))));
        assert_eq!(mailbox.depth(), 0);
    }

    #[tokio::test]
    async fn a_dropped_receiver_closes_the_mailbox() {
        let (mailbox, rx) = channel(2);
        drop(rx);
        assert_eq!(mailbox.try_reserve().err(), Some(Refused::Closed));
        mailbox.push_timer(1);
        assert!(mailbox.is_empty());
    }
}
