//! `caxton:agent/timers`: one-shot timers delivered through the agent's mailbox.
//!
//! A fired timer is queued as [`Event::Timer`] behind the messages already in
//! the mailbox. Cancelling removes the timer from the active set, and the actor
//! skips any timer event that is no longer active, so a cancelled timer never
//! reaches `handle-timer` even if it was already queued.

use crate::bindings::caxton::agent::timers::Host;
use crate::bindings::caxton::agent::types::TimerError;
use crate::bus::{Event, Mailbox};
use std::collections::HashMap;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// Shortest delay accepted, in milliseconds.
pub const MIN_DELAY_MS: u64 = 1;
/// Longest delay accepted: 30 days, in milliseconds.
pub const MAX_DELAY_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Per-agent state of the `timers` capability.
pub struct TimersCtx {
    mailbox: Mailbox,
    runtime: Handle,
    active: HashMap<u64, AbortHandle>,
    next_id: u64,
    max_active: u32,
}

impl TimersCtx {
    /// Timers that fire into `mailbox`, at most `max_active` pending at once.
    pub fn new(mailbox: Mailbox, runtime: Handle, max_active: u32) -> Self {
        TimersCtx { mailbox, runtime, active: HashMap::new(), next_id: 0, max_active }
    }

    /// Called by the actor when a timer event comes out of the mailbox: true if
    /// the timer is still active (and is now spent), false if it was cancelled.
    pub fn take_fired(&mut self, id: u64) -> bool {
        self.active.remove(&id).is_some()
    }

    /// Timers pending now.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    fn set(&mut self, delay_ms: u64) -> Result<u64, TimerError> {
        if !(MIN_DELAY_MS..=MAX_DELAY_MS).contains(&delay_ms) {
            return Err(TimerError::InvalidDelay(format!(
                "{delay_ms} ms is outside {MIN_DELAY_MS} ms ..= {MAX_DELAY_MS} ms (30 days)"
            )));
        }
        if self.active.len() >= self.max_active as usize {
            return Err(TimerError::TooManyTimers(self.max_active));
        }
        self.next_id += 1;
        let id = self.next_id;
        let mailbox = self.mailbox.clone();
        let task = self.runtime.spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            let _ = mailbox.send(Event::Timer(id)).await;
        });
        self.active.insert(id, task.abort_handle());
        Ok(id)
    }
}

impl Drop for TimersCtx {
    fn drop(&mut self) {
        for task in self.active.values() {
            task.abort();
        }
    }
}

impl Host for TimersCtx {
    fn set_timer(&mut self, delay_ms: u64) -> wasmtime::Result<Result<u64, TimerError>> {
        Ok(self.set(delay_ms))
    }

    fn cancel_timer(&mut self, id: u64) -> wasmtime::Result<bool> {
        Ok(match self.active.remove(&id) {
            Some(task) => {
                task.abort();
                true
            }
            None => false,
        })
    }

    fn now_ms(&mut self) -> wasmtime::Result<u64> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(now.as_millis() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[tokio::test(start_paused = true)]
    async fn a_timer_fires_into_the_mailbox_after_its_delay() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut t = TimersCtx::new(tx, Handle::current(), 4);
        let id = t.set_timer(50).unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(49)).await;
        assert!(rx.try_recv().is_err(), "not yet due");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(matches!(rx.recv().await, Some(Event::Timer(got)) if got == id));
        assert!(t.take_fired(id));
        assert_eq!(t.active(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_timer_never_fires() {
        let (tx, mut rx) = mpsc::channel(4);
        let mut t = TimersCtx::new(tx, Handle::current(), 4);
        let id = t.set_timer(10).unwrap().unwrap();
        assert!(t.cancel_timer(id).unwrap());
        assert!(!t.cancel_timer(id).unwrap(), "second cancel finds nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err());
        assert!(!t.take_fired(id));
    }

    #[tokio::test(start_paused = true)]
    async fn refuses_bad_delays_and_too_many_timers() {
        let (tx, _rx) = mpsc::channel(4);
        let mut t = TimersCtx::new(tx, Handle::current(), 2);
        assert!(matches!(t.set_timer(0).unwrap(), Err(TimerError::InvalidDelay(_))));
        assert!(matches!(t.set_timer(MAX_DELAY_MS + 1).unwrap(), Err(TimerError::InvalidDelay(_))));
        t.set_timer(1000).unwrap().unwrap();
        t.set_timer(1000).unwrap().unwrap();
        assert_eq!(t.set_timer(1000).unwrap(), Err(TimerError::TooManyTimers(2)));
    }
}
