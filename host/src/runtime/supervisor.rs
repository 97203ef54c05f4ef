//! Supervision of an agent whose instance failed: restart with exponential
//! backoff, and quarantine after repeated failures.
//!
//! When a call poisons the instance (trap, limit breach, host panic, or a host
//! call that overran the deadline), the cell hands its turn to [`restart`],
//! which waits out an exponential backoff and starts a fresh instance; after
//! [`MAX_FAILURES`] such failures within [`FAILURE_WINDOW`] the agent is
//! quarantined and every further message is refused with a `failure` until it
//! is redeployed. An agent that never fails costs no task here.

use super::agent::LiveAgent;
use super::cell::{AgentCell, Instance};
use super::failure::CallFailure;
use super::stats::Status;
use crate::events::Change;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Poisoning failures within [`FAILURE_WINDOW`] that quarantine an agent.
pub const MAX_FAILURES: usize = 5;
/// The window over which failures are counted.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The first restart waits this long; each further one twice as long.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// The longest restart backoff.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);

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

/// Supervision after `failure` poisoned the cell's instance (the cell's turn
/// is `Restarting`): back off and start a fresh instance, or quarantine the
/// agent; then hand the turn back. A halt (removal) ends a backoff early.
pub async fn restart(cell: Arc<AgentCell>, failure: CallFailure) {
    let env = &cell.env;
    let name = &env.spec.name;
    let mut cause = failure.message;
    let instance = loop {
        let verdict = cell.supervisor.lock().unwrap_or_else(|p| p.into_inner()).failed(Instant::now());
        match verdict {
            Verdict::Quarantine => {
                tracing::error!(agent = %name, "quarantined after {MAX_FAILURES} failures within {FAILURE_WINDOW:?}; last: {cause}");
                env.stats(|s| s.status = Status::Quarantined(cause.clone()));
                env.bus.events().lifecycle(name, Change::Quarantined, Some(&cause));
                break Instance::Quarantined(cause);
            }
            Verdict::Restart(backoff) => {
                tracing::info!(agent = %name, backoff_ms = backoff.as_millis() as u64, "restarting after: {cause}");
                env.stats(|s| s.status = Status::Restarting);
                let halted = cell.halt_signal.notified();
                tokio::pin!(halted);
                halted.as_mut().enable();
                if cell.halted() {
                    break Instance::Empty;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut halted => break Instance::Empty,
                }
                let (env2, pre) = (env.clone(), cell.pre.clone());
                match tokio::task::spawn_blocking(move || LiveAgent::start(env2, &pre)).await {
                    Ok(Ok(fresh)) => {
                        env.stats(|s| {
                            s.restarts += 1;
                            s.status = Status::Running;
                        });
                        env.bus.events().lifecycle(name, Change::Restarted, Some(&cause));
                        break Instance::Live(Box::new(fresh));
                    }
                    Ok(Err(e)) => cause = e.to_string(),
                    Err(e) => cause = format!("a host function failed while restarting: {e}"),
                }
            }
        }
    };
    cell.install(instance);
    cell.release();
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
