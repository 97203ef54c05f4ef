//! The actor loop of one agent, and its supervision.
//!
//! The actor takes events from the mailbox in order and runs them on a
//! worker thread with the agent's store (several at a time when they are
//! already queued, see [`super::inbox`]; which threads, see [`super::pool`]). When a call poisons the instance
//! (trap, limit breach, host panic, or a host call that overran the deadline),
//! the actor waits out an exponential backoff and starts a fresh instance;
//! after [`MAX_FAILURES`] such failures within [`FAILURE_WINDOW`] the agent is
//! quarantined and every further message is refused with a `failure` until it
//! is redeployed.

use super::agent::{fail_message, AgentEnv, AgentState, CallFailure, LiveAgent};
use super::inbox::{Batch, Inbox, BATCH_TIME};
use super::pool::Calls;
use super::stats::Status;
use crate::bindings::AgentPre;
use crate::bus::Event;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Poisoning failures within [`FAILURE_WINDOW`] that quarantine an agent.
pub const MAX_FAILURES: usize = 5;
/// The window over which failures are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The first restart waits this long; each further one twice as long.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest restart backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long past its deadline a call may run before the host gives up on it
/// (a guest blocked inside a host call cannot be interrupted by the epoch).
pub const HOST_TIMEOUT_GRACE: Duration = Duration::from_millis(500);

/// Recent poisoning failures of one agent.
#[derive(Debug, Default)]
pub struct Supervisor {
    failures: VecDeque<Instant>,
}

/// What to do after a poisoning failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Restart after this backoff.
    Restart(Duration),
    /// Stop: too many failures.
    Quarantine,
}

impl Supervisor {
    /// Record a failure at `now` and decide.
    pub fn failed(&mut self, now: Instant) -> Verdict {
        while self.failures.front().is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW) {
            self.failures.pop_front();
        }
        self.failures.push_back(now);
        if self.failures.len() >= MAX_FAILURES {
            return Verdict::Quarantine;
        }
        let exponent = (self.failures.len() - 1).min(16) as u32;
        Verdict::Restart(BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_MAX))
    }
}

/// How an actor is told to stop.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// Stop after the event in hand (the agent is being removed).
    Now,
    /// Keep handling what is already queued until the mailbox is empty or this
    /// instant passes (the host is shutting down).
    DrainUntil(Instant),
}

/// Run the agent until told to stop or the mailbox closes; then answer what is
/// still queued with `failure` and call `shutdown`.
pub async fn run(
    live: LiveAgent,
    env: AgentEnv,
    pre: AgentPre<AgentState>,
    inbox: Arc<Inbox>,
    calls: Calls,
    mut stop: oneshot::Receiver<Stop>,
) {
    let mut generation = 0;
    let name = env.spec.name.clone();
    let deadline = Duration::from_micros(env.spec.limits.deadline_micros);
    let mut live = Some(live);
    let mut supervisor = Supervisor::default();
    let mut drain_until: Option<Instant> = None;
    loop {
        let event = match drain_until {
            Some(until) if Instant::now() >= until => break,
            Some(_) => match inbox.try_recv().await {
                Some(event) => event,
                None => break,
            },
            None => tokio::select! {
                biased;
                stopped = &mut stop => match stopped {
                    Ok(Stop::DrainUntil(until)) => {
                        drain_until = Some(until);
                        continue;
                    }
                    Ok(Stop::Now) | Err(_) => break,
                },
                event = inbox.recv() => match event {
                    Some(event) => event,
                    None => break,
                },
            },
        };
        let Some(agent) = live.take() else {
            if let Event::Message(msg) = event {
                let failure = CallFailure {
                    reason: "quarantined",
                    message: format!("agent `{name}` is quarantined after repeated failures; redeploy it"),
                    poisoned: false,
                };
                env.stats(|s| s.failed(failure.reason));
                fail_message(&env, &msg, &failure);
            }
            continue;
        };
        let in_hand = Arc::new(Mutex::new(None));
        let batch = Batch { agent, first: event, inbox: inbox.clone(), generation, in_hand: in_hand.clone() };
        let call = calls.submit(move || batch.run());
        let lost = |failure: CallFailure| {
            env.stats(|s| s.failed(failure.reason));
            if let Some(msg) = in_hand.lock().unwrap_or_else(|p| p.into_inner()).take() {
                fail_message(&env, &msg, &failure);
            }
            (None, Some(failure))
        };
        let (back, failure) = match tokio::time::timeout(deadline + HOST_TIMEOUT_GRACE + BATCH_TIME, call).await {
            Ok(Ok((agent, failure))) => (Some(agent), failure),
            Ok(Err(_)) => {
                lost(CallFailure::poisoned("host-panic", format!("a host function panicked while `{name}` ran")))
            }
            Err(_) => {
                // the stuck call keeps its thread until the host call returns, but takes no further events
                generation = inbox.abandon().await;
                lost(CallFailure::poisoned(
                    "deadline",
                    format!("deadline of {} µs per message exceeded inside a host call", deadline.as_micros()),
                ))
            }
        };
        live = match failure.filter(|f| f.poisoned) {
            None => back,
            Some(failure) => {
                drop(back);
                restart(&env, &pre, &mut supervisor, &failure).await
            }
        };
    }
    inbox.close().await;
    let removed = CallFailure {
        reason: "removed",
        message: format!("agent `{name}` was removed before handling the message"),
        poisoned: false,
    };
    while let Some(event) = inbox.try_recv().await {
        if let Event::Message(msg) = event {
            env.stats(|s| s.failed(removed.reason));
            fail_message(&env, &msg, &removed);
        }
    }
    if let Some(agent) = live {
        let _ = tokio::task::spawn_blocking(move || agent.shutdown()).await;
    }
}

/// Back off and start a fresh instance, until one starts or the agent is quarantined.
async fn restart(
    env: &AgentEnv,
    pre: &AgentPre<AgentState>,
    supervisor: &mut Supervisor,
    failure: &CallFailure,
) -> Option<LiveAgent> {
    let name = &env.spec.name;
    let mut cause = failure.message.clone();
    loop {
        match supervisor.failed(Instant::now()) {
            Verdict::Quarantine => {
                tracing::error!(agent = %name, "quarantined after {MAX_FAILURES} failures within {FAILURE_WINDOW:?}; last: {cause}");
                env.stats(|s| s.status = Status::Quarantined(cause));
                return None;
            }
            Verdict::Restart(backoff) => {
                tracing::info!(agent = %name, backoff_ms = backoff.as_millis() as u64, "restarting after: {cause}");
                env.stats(|s| s.status = Status::Restarting);
                tokio::time::sleep(backoff).await;
                let (env2, pre2) = (env.clone(), pre.clone());
                match tokio::task::spawn_blocking(move || LiveAgent::start(env2, &pre2)).await {
                    Ok(Ok(fresh)) => {
                        env.stats(|s| {
                            s.restarts += 1;
                            s.status = Status::Running;
                        });
                        return Some(fresh);
                    }
                    Ok(Err(e)) => cause = e.to_string(),
                    Err(e) => cause = format!("a host function failed while restarting: {e}"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_the_fifth_failure_in_a_minute_quarantines() {
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        let verdicts: Vec<Verdict> = (0..5).map(|i| s.failed(t0 + Duration::from_secs(i))).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Restart(Duration::from_millis(100)),
                Verdict::Restart(Duration::from_millis(200)),
                Verdict::Restart(Duration::from_millis(400)),
                Verdict::Restart(Duration::from_millis(800)),
                Verdict::Quarantine,
            ]
        );
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        for i in 0..4 {
            s.failed(t0 + Duration::from_secs(i));
        }
        let later = t0 + FAILURE_WINDOW + Duration::from_secs(10);
        assert_eq!(s.failed(later), Verdict::Restart(BACKOFF_BASE));
    }
}
