//! `caxton:agent/timers`: one-shot timers delivered through the agent's mailbox.
//!
//! A fired timer is queued as [`Event::Timer`] behind the messages already in
//! the mailbox. Cancelling removes the timer from the active set, and the agent
//! skips any timer event that is no longer active, so a cancelled timer never
//! reaches `handle-timer` even if it was already queued.

use crate::bindings::caxton::agent::timers::Host;
use crate::bindings::caxton::agent::types::TimerError;
use crate::bus::mailbox::Mailbox;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// Shortest delay accepted, in milliseconds.
pub const MIN_DELAY_MS: u64 = 1;
/// Longest delay accepted: 30 days, in milliseconds.
pub const MAX_DELAY_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Where pending timers are written down, so they outlive the process.
pub trait TimerLog: Send + Sync {
    /// Timer `id` of `agent` is due at `due_ms` (milliseconds since the Unix epoch).
    fn armed(&self, agent: &str, id: u64, due_ms: u64);
    /// Timer `id` of `agent` fired or was cancelled.
    fn disarmed(&self, agent: &str, id: u64);
    /// The timers of `agent` still pending: `(id, due_ms)`.
    fn pending(&self, agent: &str) -> Vec<(u64, u64)>;
    /// The agents whose names start with `prefix` that have timers pending.
    fn agents_pending(&self, prefix: &str) -> Vec<String>;
}

/// Called when a timer fires and its mailbox is closed (a virtual agent's
/// instance was passivated): activates the instance again, whose mailbox the
/// timers then target.
pub type Reactivate = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    /// Pending timers: the waiting task and when it is due (ms since the epoch).
    active: HashMap<u64, (AbortHandle, u64)>,
    next_id: u64,
}

/// One agent's timers. They belong to the agent, not to an instance: they
/// survive a restart after a trap, and with a [`TimerLog`] a restart of the host.
pub struct AgentTimers {
    agent: String,
    /// Where fired timers go, read when each fires (a redeploy changes it).
    mailbox: Arc<Mutex<Mailbox>>,
    runtime: Handle,
    /// The grant's `max-active`, read at each `set-timer` (a redeploy changes it).
    max_active: AtomicU32,
    log: Option<Arc<dyn TimerLog>>,
    state: Mutex<State>,
    reactivate: Arc<Mutex<Option<Reactivate>>>,
}

impl AgentTimers {
    /// Timers of `agent` firing into `mailbox`, at most `max_active` pending at
    /// once; those `log` still holds are armed again (overdue ones fire at once).
    pub fn new(
        agent: &str,
        mailbox: Mailbox,
        runtime: Handle,
        max_active: u32,
        log: Option<Arc<dyn TimerLog>>,
    ) -> Arc<AgentTimers> {
        let timers = Arc::new(AgentTimers {
            agent: agent.to_string(),
            mailbox: Arc::new(Mutex::new(mailbox)),
            runtime,
            max_active: AtomicU32::new(max_active),
            log,
            state: Mutex::new(State::default()),
            reactivate: Arc::new(Mutex::new(None)),
        });
        let pending = timers.log.as_ref().map(|l| l.pending(agent)).unwrap_or_default();
        let now = crate::acl::now_ms();
        let mut state = timers.lock();
        for (id, due_ms) in pending {
            state.next_id = state.next_id.max(id);
            let task = timers.arm(id, due_ms.saturating_sub(now));
            state.active.insert(id, (task, due_ms));
        }
        drop(state);
        timers
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn arm(&self, id: u64, delay_ms: u64) -> AbortHandle {
        let (mailbox, reactivate) = (self.mailbox.clone(), self.reactivate.clone());
        self.runtime
            .spawn(async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                let target = mailbox.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if target.push_timer(id) {
                    return;
                }
                // the instance was passivated: activating it points these timers at its new mailbox
                let hook = reactivate.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(hook) = hook {
                    hook();
                    let target = mailbox.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    target.push_timer(id);
                }
            })
            .abort_handle()
    }

    /// Call `hook` when a timer fires into a closed mailbox (see [`Reactivate`]).
    pub fn on_closed(&self, hook: Reactivate) {
        *self.reactivate.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Called when a timer event comes out of the mailbox: true if
    /// the timer is still active (and is now spent), false if it was cancelled.
    pub fn take_fired(&self, id: u64) -> bool {
        let fired = self.lock().active.remove(&id).is_some();
        if fired {
            if let Some(log) = &self.log {
                log.disarmed(&self.agent, id);
            }
        }
        fired
    }

    /// Timers pending now.
    pub fn active(&self) -> usize {
        self.lock().active.len()
    }

    fn set(&self, delay_ms: u64) -> Result<u64, TimerError> {
        if !(MIN_DELAY_MS..=MAX_DELAY_MS).contains(&delay_ms) {
            return Err(TimerError::InvalidDelay(format!(
                "{delay_ms} ms is outside {MIN_DELAY_MS} ms ..= {MAX_DELAY_MS} ms (30 days)"
            )));
        }
        let mut state = self.lock();
        let max_active = self.max_active.load(Ordering::Relaxed);
        if state.active.len() >= max_active as usize {
            return Err(TimerError::TooManyTimers(max_active));
        }
        state.next_id += 1;
        let id = state.next_id;
        let due_ms = crate::acl::now_ms().saturating_add(delay_ms);
        if let Some(log) = &self.log {
            log.armed(&self.agent, id, due_ms);
        }
        let task = self.arm(id, delay_ms);
        state.active.insert(id, (task, due_ms));
        Ok(id)
    }

    fn cancel(&self, id: u64) -> bool {
        let Some((task, _)) = self.lock().active.remove(&id) else { return false };
        task.abort();
        if let Some(log) = &self.log {
            log.disarmed(&self.agent, id);
        }
        true
    }
}

impl AgentTimers {
    /// Deliver every timer that fires from now on into `mailbox` (that of a
    /// version being deployed in place of the running one, before its `init`
    /// runs, so the timers it sets there reach it); pending timers keep their
    /// due times. `max_active` is that version's grant: it applies to the next
    /// `set-timer` (timers already pending beyond it still fire).
    pub fn retarget(&self, mailbox: Mailbox, max_active: u32) {
        *self.mailbox.lock().unwrap_or_else(|p| p.into_inner()) = mailbox;
        self.max_active.store(max_active, Ordering::Relaxed);
    }
}

impl AgentTimers {
    /// Point timers back at `mailbox` after a version that [`AgentTimers::retarget`]
    /// was called for failed to start: a timer that fired into the failed
    /// version's mailbox meanwhile is armed again, to fire at once; `max_active`
    /// is the running version's grant again.
    pub fn retarget_back(&self, mailbox: Mailbox, max_active: u32) {
        self.retarget(mailbox, max_active);
        let mut state = self.lock();
        let fired: Vec<u64> =
            state.active.iter().filter(|(_, (task, _))| task.is_finished()).map(|(id, _)| *id).collect();
        for id in fired {
            let task = self.arm(id, 0);
            if let Some(entry) = state.active.get_mut(&id) {
                entry.0 = task;
            }
        }
    }

    /// Disarm every pending timer, in the log too (the agent is removed with its state).
    pub fn disarm_all(&self) {
        let disarmed: Vec<u64> = self
            .lock()
            .active
            .drain()
            .map(|(id, (task, _))| {
                task.abort();
                id
            })
            .collect();
        if let Some(log) = &self.log {
            for id in disarmed {
                log.disarmed(&self.agent, id);
            }
        }
    }
}

impl Drop for AgentTimers {
    /// The in-process wait ends; a logged timer stays pending for the next start.
    fn drop(&mut self) {
        for (task, _) in self.lock().active.values() {
            task.abort();
        }
    }
}

/// Per-instance view of the `timers` capability.
pub struct TimersCtx {
    timers: Arc<AgentTimers>,
}

impl TimersCtx {
    /// The capability over an agent's timers.
    pub fn new(timers: Arc<AgentTimers>) -> Self {
        TimersCtx { timers }
    }

    /// See [`AgentTimers::take_fired`].
    pub fn take_fired(&mut self, id: u64) -> bool {
        self.timers.take_fired(id)
    }
}

impl Host for TimersCtx {
    fn set_timer(&mut self, delay_ms: u64) -> wasmtime::Result<Result<u64, TimerError>> {
        Ok(self.timers.set(delay_ms))
    }

    fn cancel_timer(&mut self, id: u64) -> wasmtime::Result<bool> {
        Ok(self.timers.cancel(id))
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(crate::acl::now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::mailbox::channel;
    use crate::bus::Event;

    #[tokio::test(start_paused = true)]
    async fn a_timer_fires_into_the_mailbox_after_its_delay() {
        let (tx, mut rx) = channel(4);
        let timers = AgentTimers::new("a", tx, Handle::current(), 4, None);
        let mut t = TimersCtx::new(timers.clone());
        let id = t.set_timer(50).unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(49)).await;
        assert!(rx.try_recv().is_none(), "not yet due");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(matches!(rx.recv().await, Some(Event::Timer(got)) if got == id));
        assert!(t.take_fired(id));
        assert_eq!(timers.active(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_timer_never_fires() {
        let (tx, mut rx) = channel(4);
        let timers = AgentTimers::new("a", tx, Handle::current(), 4, None);
        let mut t = TimersCtx::new(timers.clone());
        let id = t.set_timer(10).unwrap().unwrap();
        assert!(t.cancel_timer(id).unwrap());
        assert!(!t.cancel_timer(id).unwrap(), "second cancel finds nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_none());
        assert!(!t.take_fired(id));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_bad_delays_and_too_many_timers() {
        let (tx, _rx) = channel(4);
        let mut t = TimersCtx::new(AgentTimers::new("a", tx, Handle::current(), 2, None));
        assert!(matches!(t.set_timer(0).unwrap(), Err(TimerError::InvalidDelay(_))));
        assert!(matches!(t.set_timer(MAX_DELAY_MS + 1).unwrap(), Err(TimerError::InvalidDelay(_))));
        t.set_timer(1000).unwrap().unwrap();
        t.set_timer(1000).unwrap().unwrap();
        assert_eq!(t.set_timer(1000).unwrap(), Err(TimerError::TooManyTimers(2)));
    }

    #[derive(Default)]
    struct MemoryLog(Mutex<HashMap<u64, u64>>);

    impl TimerLog for MemoryLog {
        fn armed(&self, _: &str, id: u64, due_ms: u64) {
            self.0.lock().unwrap().insert(id, due_ms);
        }
        fn disarmed(&self, _: &str, id: u64) {
            self.0.lock().unwrap().remove(&id);
        }
        fn pending(&self, _: &str) -> Vec<(u64, u64)> {
            self.0.lock().unwrap().iter().map(|(i, d)| (*i, *d)).collect()
        }
        fn agents_pending(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn logged_timers_come_back_overdue_ones_at_once_and_ids_continue() {
        let log = Arc::new(MemoryLog::default());
        let (tx, _rx) = channel(4);
        let first = AgentTimers::new("a", tx, Handle::current(), 8, Some(log.clone()));
        let mut t = TimersCtx::new(first.clone());
        let soon = t.set_timer(10).unwrap().unwrap();
        let later = t.set_timer(60_000).unwrap().unwrap();
        let cancelled = t.set_timer(5).unwrap().unwrap();
        assert!(t.cancel_timer(cancelled).unwrap());
        drop(t);
        drop(first); // the host stops
        let mut pending = log.pending("a");
        pending.sort();
        assert_eq!(pending.iter().map(|p| p.0).collect::<Vec<_>>(), [soon, later]);
        // the host was down past the first deadline
        log.0.lock().unwrap().insert(soon, 0);
        let (tx, mut rx) = channel(4);
        let back = AgentTimers::new("a", tx, Handle::current(), 8, Some(log.clone()));
        assert!(matches!(rx.recv().await, Some(Event::Timer(id)) if id == soon), "overdue fires at once");
        assert!(back.take_fired(soon));
        assert_eq!(log.pending("a").len(), 1);
        let next = TimersCtx::new(back.clone()).set_timer(10).unwrap().unwrap();
        assert!(next > later, "ids keep increasing across restarts");
    }

    #[tokio::test(start_paused = true)]
    async fn disarming_all_forgets_every_pending_timer_in_the_log_too() {
        let log = Arc::new(MemoryLog::default());
        let (tx, mut rx) = channel(4);
        let timers = AgentTimers::new("a", tx, Handle::current(), 8, Some(log.clone()));
        let mut t = TimersCtx::new(timers.clone());
        t.set_timer(10).unwrap().unwrap();
        t.set_timer(60_000).unwrap().unwrap();
        timers.disarm_all();
        assert!(log.pending("a").is_empty());
        assert_eq!(timers.active(), 0);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(rx.try_recv().is_none(), "nothing fires");
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_that_fired_for_a_version_that_failed_to_start_fires_again_for_the_running_one() {
        let (running_tx, mut running) = channel(4);
        let timers = AgentTimers::new("a", running_tx.clone(), Handle::current(), 4, None);
        let id = TimersCtx::new(timers.clone()).set_timer(10).unwrap().unwrap();
        let (failed_tx, failed) = channel(4);
        timers.retarget(failed_tx, 4);
        tokio::time::sleep(Duration::from_millis(50)).await; // it fires into the new version's mailbox ...
        drop(failed); // ... which goes away with the version
        timers.retarget_back(running_tx, 4);
        assert!(matches!(running.recv().await, Some(Event::Timer(fired)) if fired == id));
        assert!(timers.take_fired(id));
    }
}
