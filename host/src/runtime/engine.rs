//! The wasmtime engine Caxton runs every agent on, its epoch ticker, and the
//! memory limiter that caps the sum of an agent's memories.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::{Config, Engine, ResourceLimiter};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// An engine configured for agents: components, epoch interruption, synchronous calls.
pub fn new_engine() -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(512 * 1024);
    Engine::new(&config)
}

/// Epoch ticks to allow for a deadline: the deadline passes within one extra tick.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_micros().max(1);
    (deadline.as_micros().div_ceil(tick) as u64).saturating_add(1)
}

/// Advances an engine's epoch every [`EPOCH_TICK`] on its own thread until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    /// Start ticking `engine`.
    pub fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new().name("caxton-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Caps the sum of all linear memories of one store, and remembers whether it
/// refused a growth so that a following trap can be reported as a memory breach.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: usize,
    used: usize,
    refused: bool,
}

/// Most table elements one agent may have.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes in total.
    pub fn new(limit: u64) -> MemoryLimiter {
        MemoryLimiter { limit: usize::try_from(limit).unwrap_or(usize::MAX), used: 0, refused: false }
    }

    /// Whether a growth was refused since the last call, clearing the flag.
    pub fn take_refused(&mut self) -> bool {
        std::mem::take(&mut self.refused)
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let extra = desired.saturating_sub(current);
        if self.used.saturating_add(extra) > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.used += extra;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_limit_covers_the_sum_of_all_memories() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(!l.memory_growing(0, 60, None).unwrap(), "a second memory counts too");
        assert!(l.take_refused());
        assert!(!l.take_refused());
        assert!(l.memory_growing(60, 100, None).unwrap());
    }

    #[test]
    fn deadlines_round_up_to_whole_ticks_plus_one() {
        assert_eq!(deadline_ticks(Duration::from_millis(1000)), 101);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 2);
    }
}
