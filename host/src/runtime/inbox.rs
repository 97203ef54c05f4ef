//! An agent's mailbox as its actor and the worker thread running its calls
//! share it: once a call is done, the worker goes on with what is
//! already queued (a batch), so a busy agent does not pay a trip between
//! threads per event. The actor can take the inbox back from a batch that
//! overran its deadline; that batch then takes no further events.

use super::agent::{CallFailure, LiveAgent};
use crate::acl::Message;
use crate::bus::Event;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Most events one batch handles before the actor looks at its stop signal again.
pub const BATCH_EVENTS: usize = 64;
/// A batch takes no further events once it has run this long.
pub const BATCH_TIME: Duration = Duration::from_millis(2);
/// How long a batch whose inbox ran dry waits for one more event, spinning,
/// when there is a core to spare: an agent in a conversation usually gets its
/// answer sooner than a parked thread could be woken.
pub const LINGER: Duration = Duration::from_micros(50);

/// Batches running now, across all agents.
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The cores this process may run on.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Counts a batch as running while it lives.
struct Running;

impl Running {
    fn start() -> Running {
        RUNNING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The receiving side of a mailbox, and which batch may take from it.
pub struct Inbox {
    inner: tokio::sync::Mutex<Inner>,
    halted: std::sync::atomic::AtomicBool,
}

struct Inner {
    rx: mpsc::Receiver<Event>,
    generation: u64,
}

impl Inbox {
    /// An inbox over `rx`; batches start at generation 0.
    pub fn new(rx: mpsc::Receiver<Event>) -> Arc<Inbox> {
        Arc::new(Inbox {
            inner: tokio::sync::Mutex::new(Inner { rx, generation: 0 }),
            halted: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The agent is being removed: a running batch finishes the event in hand and takes no more.
    pub fn halt(&self) {
        self.halted.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Wait for the next event (`None` once the mailbox is closed and empty).
    pub async fn recv(&self) -> Option<Event> {
        self.inner.lock().await.rx.recv().await
    }

    /// The next event if one is queued.
    pub async fn try_recv(&self) -> Option<Event> {
        self.inner.lock().await.rx.try_recv().ok()
    }

    /// Refuse further events.
    pub async fn close(&self) {
        self.inner.lock().await.rx.close();
    }

    /// Take the inbox back from the running batch; returns the generation of the next one.
    pub async fn abandon(&self) -> u64 {
        let mut inner = self.inner.lock().await;
        inner.generation += 1;
        inner.generation
    }

    /// From a batch of `generation`: the next event, if that batch still owns
    /// the inbox; when none is queued, waits up to [`LINGER`] for one while no
    /// other batch waits for a worker or a core (and there is more than one core).
    fn next_or_linger(&self, generation: u64) -> Option<Event> {
        if let Some(event) = self.next_for(generation) {
            return Some(event);
        }
        let cores = cores();
        if cores < 2 || RUNNING.load(std::sync::atomic::Ordering::Relaxed) > cores {
            return None;
        }
        let until = Instant::now() + LINGER;
        while Instant::now() < until && !super::pool::backlog() {
            std::hint::spin_loop();
            if let Some(event) = self.next_for(generation) {
                return Some(event);
            }
        }
        None
    }

    /// From a batch of `generation`: the next queued event, if that batch still owns the inbox.
    fn next_for(&self, generation: u64) -> Option<Event> {
        if self.halted.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let mut inner = self.inner.try_lock().ok()?;
        if inner.generation != generation {
            return None;
        }
        inner.rx.try_recv().ok()
    }
}

/// Events handled in one trip to a worker thread.
pub struct Batch {
    /// The agent's instance.
    pub agent: LiveAgent,
    /// The event that started the batch.
    pub first: Event,
    /// Where further events come from.
    pub inbox: Arc<Inbox>,
    /// The generation this batch belongs to.
    pub generation: u64,
    /// The message in hand (without its content), for a failure reply when the call is lost.
    pub in_hand: Arc<Mutex<Option<Message>>>,
}

impl Batch {
    /// Handle the first event, then what is already queued, up to
    /// [`BATCH_EVENTS`] or [`BATCH_TIME`]; stop at a failure that poisons the
    /// instance and return it.
    pub fn run(mut self) -> (LiveAgent, Option<CallFailure>) {
        let _running = Running::start();
        let started = Instant::now();
        let mut event = self.first;
        for handled in 1.. {
            *self.in_hand.lock().unwrap_or_else(|p| p.into_inner()) = match &event {
                Event::Message(msg) => Some(msg.header()),
                Event::Timer(_) => None,
            };
            if let Some(failure) = self.agent.handle(event).filter(|f| f.poisoned) {
                return (self.agent, Some(failure));
            }
            if handled >= BATCH_EVENTS || started.elapsed() >= BATCH_TIME {
                break;
            }
            match self.inbox.next_or_linger(self.generation) {
                Some(next) => event = next,
                None => break,
            }
        }
        self.in_hand.lock().unwrap_or_else(|p| p.into_inner()).take();
        (self.agent, None)
    }
}
