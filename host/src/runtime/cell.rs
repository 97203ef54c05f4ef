//! One agent as the scheduler sees it: its mailbox, its instance, and whose
//! turn it is to run it ([`Turn`]).
//!
//! An event pushed into an idle agent's mailbox schedules the cell (see
//! [`Wake`]); a worker then runs a *batch*: the queued events one at a time,
//! up to [`BATCH_EVENTS`] or [`BATCH_TIME`], after which a cell with more
//! events yields to the back of the run queue. Only the holder of the turn
//! touches the instance, so an agent handles one event at a time, in mailbox
//! order. A call that poisons the instance hands the turn to supervision
//! ([`super::supervisor`]), which restarts the agent (or quarantines it) and
//! hands the turn back. A call stuck inside a host call past its deadline
//! plus [`HOST_TIMEOUT_GRACE`] is abandoned: its message is answered, a fresh
//! instance takes over, and whatever the stuck call returns is dropped.

use super::agent::{fail_message, AgentEnv, AgentState, Delivery, Failed, LiveAgent};
use super::failure::{CallFailure, FailureReason};
use super::scheduler::{Handle, Task};
use crate::bindings::AgentPre;
use crate::bus::mailbox::{Mailbox, Wake};
use crate::bus::Event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Most events one batch handles before the cell yields its worker.
pub const BATCH_EVENTS: usize = 64;
/// A batch takes no further events once it has run this long.
pub const BATCH_TIME: Duration = Duration::from_millis(2);
/// How long past its deadline a call may run before the host gives up on it
/// (a guest blocked inside a host call cannot be interrupted by the epoch).
pub const HOST_TIMEOUT_GRACE: Duration = Duration::from_millis(500);

/// Who may run the agent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// A new version not yet released (the version it replaces still drains).
    Held,
    /// Nothing to do: the next event schedules it.
    Idle,
    /// In a run queue or running: the worker holds the turn.
    Scheduled,
    /// Supervision holds the turn: backing off and starting a fresh instance.
    Restarting,
    /// Removed: nothing runs it any more.
    Stopped,
}

/// What starts an activated instance (instantiate, `init`): the instance to
/// run, or [`Instance::NotStarted`] with the cause.
pub type Starter = Box<dyn FnOnce() -> Instance + Send>;

/// The agent's instance between batches.
pub enum Instance {
    /// Ready to handle events.
    Live(Box<LiveAgent>),
    /// Failed too often: every message is refused with this cause.
    Quarantined(String),
    /// A virtual agent's instance that could not start: what is queued is
    /// refused (`init-failed`) with this cause until it is passivated.
    NotStarted(String),
    /// A virtual agent's instance not instantiated yet: its first batch runs
    /// the [`Starter`] on the worker that took it, then handles its events.
    Unstarted(Starter),
    /// None (being restarted, or gone).
    Empty,
}

/// The event a batch is handling, for the monitor.
struct InHand {
    /// The generation of the batch handling it.
    generation: u64,
    /// When its deadline passes.
    deadline: Instant,
    /// Its message, to answer it if the call is abandoned (none for a timer).
    request: Option<Arc<Delivery>>,
}

/// A call abandoned by the monitor while it was stuck in a host call.
struct Abandoned;

/// One agent: mailbox, instance and turn.
pub struct AgentCell {
    /// The agent's environment (its mailbox among it).
    pub env: AgentEnv,
    /// Its linked component, to start fresh instances.
    pub pre: AgentPre<AgentState>,
    scheduler: Handle,
    turn: Mutex<Turn>,
    instance: Mutex<Instance>,
    in_hand: Mutex<Option<InHand>>,
    /// Bumped when a stuck call is abandoned; a batch of an older generation stops.
    generation: AtomicU64,
    halted: AtomicBool,
    /// Notified when the turn returns to `Idle` while someone waits for it.
    settled: tokio::sync::Notify,
    watched: AtomicBool,
    /// Notified on halt (a backoff in progress ends early).
    pub(super) halt_signal: tokio::sync::Notify,
    pub(super) supervisor: Mutex<super::supervisor::Supervisor>,
    me: Weak<AgentCell>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentCell {
    /// A held cell for `env` (whose mailbox is created here, waking this cell).
    pub fn new(
        make_env: impl FnOnce(Mailbox) -> AgentEnv,
        capacity: usize,
        pre: AgentPre<AgentState>,
        scheduler: Handle,
    ) -> Arc<AgentCell> {
        Arc::new_cyclic(|me: &Weak<AgentCell>| {
            let wake: Weak<dyn Wake> = me.clone();
            AgentCell {
                env: make_env(Mailbox::new(capacity, wake)),
                pre,
                scheduler,
                turn: Mutex::new(Turn::Held),
                instance: Mutex::new(Instance::Empty),
                in_hand: Mutex::new(None),
                generation: AtomicU64::new(0),
                halted: AtomicBool::new(false),
                settled: tokio::sync::Notify::new(),
                watched: AtomicBool::new(false),
                halt_signal: tokio::sync::Notify::new(),
                supervisor: Mutex::new(super::supervisor::Supervisor::default()),
                me: me.clone(),
            }
        })
    }

    /// The agent's mailbox.
    pub fn mailbox(&self) -> &Mailbox {
        &self.env.mailbox
    }

    /// The turn now.
    pub fn turn(&self) -> Turn {
        *lock(&self.turn)
    }

    /// Put `instance` in place (a started or restarted agent, or a quarantine).
    pub fn install(&self, instance: Instance) {
        *lock(&self.instance) = instance;
    }

    /// Whether its instance could not start ([`Instance::NotStarted`]).
    pub fn not_started(&self) -> bool {
        matches!(*lock(&self.instance), Instance::NotStarted(_))
    }

    /// Let a held cell (or one supervision has restarted) run: scheduled at
    /// once when events wait.
    pub fn release(self: &Arc<Self>) {
        let mut turn = lock(&self.turn);
        if !matches!(*turn, Turn::Held | Turn::Restarting) {
            return;
        }
        *turn = self.after_run();
        let scheduled = *turn == Turn::Scheduled;
        drop(turn);
        if scheduled {
            self.scheduler.schedule(self.clone());
        }
        self.notify_settled();
    }

    /// The turn a run (or a restart) ends in: `Scheduled` when events wait
    /// and the cell is not halted, `Idle` otherwise.
    fn after_run(&self) -> Turn {
        if !self.halted.load(Ordering::SeqCst) && !self.env.mailbox.is_empty() {
            Turn::Scheduled
        } else {
            Turn::Idle
        }
    }

    /// Stop after the event in hand: no batch takes another event.
    pub fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
        self.halt_signal.notify_waiters();
    }

    /// Whether [`AgentCell::halt`] was called.
    pub fn halted(&self) -> bool {
        self.halted.load(Ordering::SeqCst)
    }

    /// Wait until no batch runs and no restart is under way.
    pub async fn settled(&self) {
        self.watched.store(true, Ordering::SeqCst);
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if matches!(self.turn(), Turn::Idle | Turn::Held | Turn::Stopped) {
                return;
            }
            notified.await;
        }
    }

    /// Wait until the mailbox is empty and nothing runs, or until `until`.
    pub async fn drained(&self, until: tokio::time::Instant) {
        self.watched.store(true, Ordering::SeqCst);
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let running = matches!(self.turn(), Turn::Scheduled | Turn::Restarting);
            if !running && self.env.mailbox.is_empty() {
                return;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return;
            }
        }
    }

    /// After [`AgentCell::halt`] and [`AgentCell::settled`]: stop for good
    /// and take the instance (a halted cell is never scheduled again).
    pub fn stop(&self) -> Instance {
        *lock(&self.turn) = Turn::Stopped;
        std::mem::replace(&mut *lock(&self.instance), Instance::Empty)
    }

    fn notify_settled(&self) {
        if self.watched.load(Ordering::SeqCst) {
            self.settled.notify_waiters();
        }
    }

    /// Hand the turn to supervision after `failure` poisoned the instance.
    fn supervise(self: &Arc<Self>, failure: CallFailure) {
        *lock(&self.turn) = Turn::Restarting;
        let cell = self.clone();
        self.env.runtime.spawn(async move { super::supervisor::restart(cell, failure).await });
    }

    /// Handle one event with `agent` in a batch of `generation`; `Err` when
    /// the call was abandoned meanwhile (the monitor answered its message and
    /// supervision owns the turn), otherwise a poisoning failure if there was
    /// one. Whoever takes the event in hand answers its failure: this batch,
    /// or the monitor.
    fn handle(&self, agent: &mut LiveAgent, event: Event, generation: u64) -> Result<Option<CallFailure>, Abandoned> {
        let Some(prepared) = agent.prepare(event) else { return Ok(None) };
        let deadline = super::agent::deadline_from_now(&self.env.spec.limits);
        *lock(&self.in_hand) = Some(InHand { generation, deadline, request: prepared.delivery() });
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| agent.handle(prepared, deadline)));
        let in_hand = {
            let mut in_hand = lock(&self.in_hand);
            // a newer batch's event is not ours to take
            if in_hand.as_ref().is_some_and(|h| h.generation == generation) {
                in_hand.take()
            } else {
                None
            }
        };
        let Some(in_hand) = in_hand else { return Err(Abandoned) };
        let failed = match outcome {
            Ok(None) => return Ok(None),
            Ok(Some(failed)) => failed,
            Err(_) => {
                let failure = CallFailure::new(
                    FailureReason::HostPanic,
                    format!("a host function panicked while `{}` ran", self.env.spec.name),
                );
                self.env.failed(&failure);
                Failed { failure, request: in_hand.request.map(|delivery| delivery.message()) }
            }
        };
        if let Some(request) = &failed.request {
            fail_message(&self.env, request, &failed.failure);
        }
        Ok(Some(failed.failure).filter(CallFailure::poisoned))
    }

    /// Refuse a message because the agent was removed before handling it.
    pub fn refuse_removed(&self, event: Event) {
        let message = format!("agent `{}` was removed before handling the message", self.env.spec.name);
        self.refuse(event, FailureReason::Removed, &message);
    }

    /// Refuse a message because the agent is quarantined or gone.
    pub fn refuse(&self, event: Event, reason: FailureReason, message: &str) {
        if let Event::Message(msg) = event {
            let failure = CallFailure::new(reason, message.to_string());
            self.env.failed(&failure);
            fail_message(&self.env, &msg, &failure);
        }
    }
}

/// How a batch ended.
enum Batch {
    /// It handled what it could; the instance is back in place.
    Done,
    /// Its call was abandoned: supervision owns the turn.
    Abandoned,
    /// A failure poisoned the instance (dropped): supervision takes the turn.
    Failed(CallFailure),
}

impl AgentCell {
    /// Handle queued events, up to [`BATCH_EVENTS`] or [`BATCH_TIME`].
    fn batch(&self) -> Batch {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut instance = std::mem::replace(&mut *lock(&self.instance), Instance::Empty);
        if let Instance::Unstarted(start) = instance {
            instance = start();
        }
        let started = Instant::now();
        for _ in 0..BATCH_EVENTS {
            if self.halted() {
                break;
            }
            let Some(event) = self.env.mailbox.pop() else { break };
            match &mut instance {
                Instance::Live(agent) => match self.handle(agent, event, generation) {
                    Err(Abandoned) => return Batch::Abandoned,
                    Ok(Some(failure)) => return Batch::Failed(failure),
                    Ok(None) => {}
                },
                Instance::Quarantined(cause) => {
                    self.refuse(event, FailureReason::Quarantined, &quarantined(&self.env.spec.name, cause))
                }
                Instance::NotStarted(cause) => self.refuse(event, FailureReason::InitFailed, cause),
                Instance::Empty | Instance::Unstarted(_) => self.refuse_removed(event),
            }
            if started.elapsed() >= BATCH_TIME {
                break;
            }
        }
        *lock(&self.instance) = instance;
        Batch::Done
    }
}

/// Why a quarantined agent refuses a message, and what ends its quarantine.
fn quarantined(name: &str, cause: &str) -> String {
    if crate::policy::types::split_instance(name).is_some() {
        format!(
            "instance `{name}` is quarantined after repeated failures until it is passivated (after its type's \
             idle-after-ms) or purged (DELETE /v1/agents/{name}) ({cause})"
        )
    } else {
        format!("agent `{name}` is quarantined after repeated failures; redeploy it ({cause})")
    }
}

impl Wake for AgentCell {
    fn wake(self: Arc<Self>) {
        let mut turn = lock(&self.turn);
        // a halted cell takes no further batch; what it still receives is answered when it is retired
        if *turn != Turn::Idle || self.halted() {
            return;
        }
        *turn = Turn::Scheduled;
        drop(turn);
        let scheduler = self.scheduler.clone();
        scheduler.schedule(self);
    }
}

impl Task for AgentCell {
    fn run(self: Arc<Self>) {
        let _tokio = self.env.runtime.enter();
        let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.batch()));
        let batch = batch.unwrap_or_else(|_| {
            // a panic outside a call (answering, dead-lettering): the instance is lost; start a fresh one
            let message = format!("the host failed while running `{}`", self.env.spec.name);
            Batch::Failed(CallFailure::new(FailureReason::HostPanic, message))
        });
        match batch {
            Batch::Done => {}
            Batch::Abandoned => return,
            Batch::Failed(failure) => return self.supervise(failure),
        }
        let mut turn = lock(&self.turn);
        if *turn == Turn::Stopped {
            return;
        }
        *turn = self.after_run();
        let again = *turn == Turn::Scheduled;
        drop(turn);
        if again {
            self.scheduler.schedule_yield(self.clone());
        } else {
            self.notify_settled();
        }
    }

    fn held(&self, now: Instant) {
        let abandoned = {
            let mut in_hand = lock(&self.in_hand);
            match &*in_hand {
                Some(hand) if now >= hand.deadline + HOST_TIMEOUT_GRACE => {
                    // under the lock: the batch finds its event taken when its call returns
                    self.generation.fetch_add(1, Ordering::SeqCst);
                    in_hand.take()
                }
                _ => None,
            }
        };
        let Some(hand) = abandoned else { return };
        let failure = CallFailure::new(
            FailureReason::Deadline,
            format!("deadline of {} µs per message exceeded inside a host call", self.env.spec.limits.deadline_micros),
        );
        self.env.failed(&failure);
        if let Some(request) = hand.request {
            fail_message(&self.env, &request.message(), &failure);
        }
        if let Some(me) = self.me.upgrade() {
            me.supervise(failure);
        }
    }
}
