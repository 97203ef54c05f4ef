//! The wasmtime engine Caxton runs every agent on, its epoch ticker, and the
//! memory limiter that caps the sum of an agent's memories.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter};

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Fuel per microsecond of CPU budget: cranelift code runs roughly a thousand
/// wasm instructions (one unit of fuel each) per microsecond on this class of machine.
pub const FUEL_PER_MICRO: u64 = 1_000;
/// Largest single linear memory; deployment files cannot grant more.
pub use crate::policy::MAX_MEMORY_BYTES;
/// Native stack available to wasm code; deeper recursion traps with a stack overflow.
pub const MAX_WASM_STACK: usize = 512 * 1024;

/// What one memory slot of the pool reserves by default: 4 GiB and wasmtime's 32 MiB guard.
const DEFAULT_SLOT_BYTES: u64 = (4 << 30) + (32 << 20);
/// The address space a pool may take (of the 128 TiB a 64-bit Linux process has).
const ADDRESS_SPACE_FOR_POOL: u64 = 32 << 40;
/// The guard after each memory slot of a large pool.
const SMALL_GUARD_BYTES: u64 = 64 << 10;

/// How many agents an engine's instance pool holds.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Component instances (one per running agent, plus one while restarting).
    pub instances: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize { instances: 1_000 }
    }
}

/// The settings every agent engine shares (components, fuel, epoch
/// interruption, stack limit, copy-on-write images), without the allocator.
pub fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.memory_init_cow(true);
    config
}

/// An engine configured for agents: components, fuel, epoch interruption,
/// synchronous calls, and a pooling instance allocator with copy-on-write
/// memory images. Falls back to on-demand allocation when the pool cannot be
/// reserved (for example under a tight virtual-memory limit).
pub fn new_engine(pool: PoolSize) -> wasmtime::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    let instances = pool.instances.max(1);
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances.saturating_mul(4))
        .total_memories(instances.saturating_mul(2))
        .total_tables(instances.saturating_mul(4))
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        .max_memories_per_component(4)
        .max_tables_per_component(16);
    let mut config = base_config();
    if u64::from(instances) * 2 * DEFAULT_SLOT_BYTES > ADDRESS_SPACE_FOR_POOL {
        // each memory slot reserves 4 GiB plus a guard by default (so wasm needs no bounds
        // checks); a pool that large would not fit the address space, so its slots reserve
        // only the largest memory an agent may have, and bounds are checked in code
        config.memory_reservation(MAX_MEMORY_BYTES);
        config.memory_guard_size(SMALL_GUARD_BYTES);
    }
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    match Engine::new(&config) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            tracing::warn!("instance pool unavailable, allocating on demand: {e:#}");
            Engine::new(&base_config())
        }
    }
}

/// Epoch ticks to allow for a deadline: the deadline passes within one extra tick.
pub fn deadline_ticks(deadline: Duration) -> u64 {
    let tick = EPOCH_TICK.as_micros().max(1);
    (deadline.as_micros().div_ceil(tick) as u64).saturating_add(1)
}

/// Advances an engine's epoch every [`EPOCH_TICK`] on its own thread until
/// dropped, and records when it last did, so a stalled ticker is noticed.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    last_tick_micros: Arc<AtomicU64>,
    started: Instant,
}

/// The ticker is considered stalled when it has not ticked for this long.
pub const TICKER_STALL: Duration = Duration::from_secs(1);

impl EpochTicker {
    /// Start ticking `engine`.
    pub fn start(engine: &Engine) -> std::io::Result<EpochTicker> {
        let stop = Arc::new(AtomicBool::new(false));
        let last_tick_micros = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let (engine, flag, last) = (engine.clone(), stop.clone(), last_tick_micros.clone());
        std::thread::Builder::new().name("caxton-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
                last.store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
            }
        })?;
        Ok(EpochTicker { stop, last_tick_micros, started })
    }

    /// How long ago the epoch last advanced.
    pub fn since_last_tick(&self) -> Duration {
        let last = Duration::from_micros(self.last_tick_micros.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// Whether deadlines are being enforced: the ticker ticked recently.
    pub fn healthy(&self) -> bool {
        self.since_last_tick() < TICKER_STALL
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

/// Most instances (core and component) one agent may create.
pub const MAX_INSTANCES: usize = 64;

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

    /// Bytes of linear memory in use (memories never shrink, so this is also the high-water mark).
    pub fn used(&self) -> usize {
        self.used
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

    fn instances(&self) -> usize {
        MAX_INSTANCES
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
