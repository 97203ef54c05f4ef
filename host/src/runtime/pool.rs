//! The threads agents' calls run on: as many workers as there are cores, each
//! taking the next queued batch as soon as it finishes one (no thread is woken
//! per event while the agents are busy). A worker whose batch has run longer
//! than [`GROW_AFTER`] (a spinning agent, or one blocked in a host call) no
//! longer counts: the pool starts another, so there are always as many
//! workers free of long calls as cores. A worker that waits inside a host call
//! (see [`crate::blocking`]) no longer counts at once. Extra workers leave
//! after a while idle.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A worker whose batch has run this long is replaced while queued batches wait.
pub const GROW_AFTER: Duration = Duration::from_millis(2);
/// Most workers at once.
pub const MAX_WORKERS: usize = 512;
/// An extra worker idle this long leaves.
pub const IDLE_EXIT: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

/// Batches queued for a worker, and workers waiting for a batch, across all
/// pools in the process.
static BACKLOG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static IDLE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether batches are queued that no idle worker is about to take.
pub fn backlog() -> bool {
    BACKLOG.load(Ordering::Relaxed) > IDLE.load(Ordering::Relaxed)
}

struct State {
    jobs: VecDeque<Job>,
    /// When each worker's current batch started (µs since `epoch`, plus one), or 0 when idle.
    busy: Vec<Arc<AtomicU64>>,
    idle: usize,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    ready: Condvar,
    /// Signalled when the queue stops being empty (the monitor sleeps otherwise).
    queued: Condvar,
    core: usize,
    epoch: Instant,
}

impl Shared {
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64 + 1
    }
}

/// Where agents' calls run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Executor {
    /// A [`WorkerPool`]: one worker per core, more while calls run long.
    #[default]
    WorkerPool,
    /// tokio's blocking thread pool: a thread per call in flight.
    BlockingPool,
}

/// Runs agents' batches on the chosen executor.
#[derive(Clone)]
pub enum Calls {
    /// On a worker pool.
    Pool(Arc<WorkerPool>),
    /// On tokio's blocking pool.
    Blocking,
}

impl Calls {
    /// The calls of `executor`.
    pub fn new(executor: Executor) -> std::io::Result<Calls> {
        Ok(match executor {
            Executor::WorkerPool => Calls::Pool(Arc::new(WorkerPool::new()?)),
            Executor::BlockingPool => Calls::Blocking,
        })
    }

    /// Run `f`; the receiver gets its result (or is dropped if `f` panicked).
    ///
    /// On a current-thread tokio runtime calls always go to the blocking pool:
    /// a paused test clock advances only when no blocking task is running,
    /// and it knows nothing of the worker pool's threads.
    pub fn submit<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> oneshot::Receiver<R> {
        let current_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        match self {
            Calls::Pool(pool) if !current_thread => pool.submit(f),
            _ => {
                let (tx, rx) = oneshot::channel();
                tokio::task::spawn_blocking(move || answer(f, tx));
                rx
            }
        }
    }
}

/// Run `f` and send its result; a panic drops `tx`, which the receiver sees as an error.
fn answer<R>(f: impl FnOnce() -> R, tx: oneshot::Sender<R>) {
    if let Ok(result) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let _ = tx.send(result);
    }
}

/// An elastic pool of worker threads for agent calls.
pub struct WorkerPool {
    shared: Arc<Shared>,
}

impl WorkerPool {
    /// A pool with one worker per core, growing up to [`MAX_WORKERS`].
    pub fn new() -> std::io::Result<WorkerPool> {
        let core = std::thread::available_parallelism().map_or(1, |n| n.get());
        let state = State { jobs: VecDeque::new(), busy: Vec::new(), idle: 0, closed: false };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            ready: Condvar::new(),
            queued: Condvar::new(),
            core,
            epoch: Instant::now(),
        });
        for _ in 0..core {
            spawn_worker(&shared)?;
        }
        let monitor = shared.clone();
        std::thread::Builder::new().name("caxton-pool-monitor".into()).spawn(move || grow_when_stuck(&monitor))?;
        Ok(WorkerPool { shared })
    }

    /// How many worker threads the pool has now.
    pub fn workers(&self) -> usize {
        lock(&self.shared).busy.len()
    }

    /// Run `f` on a worker; the receiver gets its result (or is dropped if `f` panicked).
    pub fn submit<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> oneshot::Receiver<R> {
        let (tx, rx) = oneshot::channel();
        let runtime = tokio::runtime::Handle::try_current().ok();
        let job: Job = Box::new(move || {
            let _entered = runtime.as_ref().map(|r| r.enter());
            answer(f, tx);
        });
        let mut state = lock(&self.shared);
        state.jobs.push_back(job);
        if state.jobs.len() == 1 {
            self.shared.queued.notify_one();
        }
        BACKLOG.fetch_add(1, Ordering::Relaxed);
        if state.idle > 0 {
            self.shared.ready.notify_one();
        }
        rx
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        lock(&self.shared).closed = true;
        self.shared.ready.notify_all();
        self.shared.queued.notify_all();
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

fn spawn_worker(shared: &Arc<Shared>) -> std::io::Result<()> {
    let (worker, busy) = (shared.clone(), Arc::new(AtomicU64::new(0)));
    lock(shared).busy.push(busy.clone());
    let mine = busy.clone();
    let spawned = std::thread::Builder::new().name("caxton-agent".into()).spawn(move || work(&worker, &mine));
    if spawned.is_err() {
        lock(shared).busy.retain(|b| !Arc::ptr_eq(b, &busy));
    }
    spawned.map(drop)
}

/// Take jobs until the pool closes (or, for an extra worker, until idle too long).
fn work(shared: &Arc<Shared>, busy: &Arc<AtomicU64>) {
    // a wait inside a host call counts as a long call at once, and another worker takes over
    let (me, slot) = (Arc::downgrade(shared), busy.clone());
    crate::blocking::on_this_thread(move |blocked| {
        let Some(shared) = me.upgrade() else { return };
        if blocked {
            slot.store(1, Ordering::Relaxed);
            replace_if_short(&shared);
        } else {
            slot.store(shared.now(), Ordering::Relaxed);
        }
    });
    loop {
        let job = {
            let mut state = lock(shared);
            loop {
                if let Some(job) = state.jobs.pop_front() {
                    BACKLOG.fetch_sub(1, Ordering::Relaxed);
                    break job;
                }
                let extra = state.busy.len() > shared.core;
                if state.closed {
                    state.busy.retain(|b| !Arc::ptr_eq(b, busy));
                    return;
                }
                state.idle += 1;
                IDLE.fetch_add(1, Ordering::Relaxed);
                let (next, waited) = shared.ready.wait_timeout(state, IDLE_EXIT).unwrap_or_else(|p| p.into_inner());
                state = next;
                state.idle -= 1;
                IDLE.fetch_sub(1, Ordering::Relaxed);
                if waited.timed_out() && state.jobs.is_empty() && extra {
                    state.busy.retain(|b| !Arc::ptr_eq(b, busy));
                    return;
                }
            }
        };
        busy.store(shared.now(), Ordering::Relaxed);
        job();
        busy.store(0, Ordering::Relaxed);
    }
}

/// Workers not held by a long call or a wait.
fn free_workers(shared: &Shared, state: &State) -> usize {
    let (now, long) = (shared.now(), GROW_AFTER.as_micros() as u64);
    let held = state
        .busy
        .iter()
        .map(|b| b.load(Ordering::Relaxed))
        .filter(|&t| t == 1 || (t != 0 && now.saturating_sub(t) >= long));
    state.busy.len() - held.count()
}

/// A worker starts waiting: if that leaves fewer free workers than cores, start another.
fn replace_if_short(shared: &Arc<Shared>) {
    let short = {
        let state = lock(shared);
        free_workers(shared, &state) < shared.core && state.busy.len() < MAX_WORKERS
    };
    if short {
        if let Err(e) = spawn_worker(shared) {
            tracing::warn!("cannot start another agent worker: {e}");
        }
    }
}

/// Every [`GROW_AFTER`]: while batches wait, start a worker for each one held
/// by a long batch, so that as many workers as cores are free of long calls.
fn grow_when_stuck(shared: &Arc<Shared>) {
    loop {
        {
            // an idle pool's monitor sleeps until a batch is queued
            let mut state = lock(shared);
            while state.jobs.is_empty() && !state.closed {
                state = shared.queued.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        }
        std::thread::sleep(GROW_AFTER);
        let missing = {
            let state = lock(shared);
            if state.closed {
                return;
            }
            if state.jobs.is_empty() {
                continue;
            }
            let free = free_workers(shared, &state);
            shared.core.saturating_sub(free).min(MAX_WORKERS.saturating_sub(state.busy.len()))
        };
        for _ in 0..missing {
            if let Err(e) = spawn_worker(shared) {
                tracing::warn!("cannot start another agent worker: {e}");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn jobs_run_and_a_panicking_job_drops_its_answer() {
        let pool = WorkerPool::new().unwrap();
        assert_eq!(pool.submit(|| 6 * 7).await.unwrap(), 42);
        assert!(pool.submit(|| -> u32 { panic!("a host function failed") }).await.is_err());
        assert_eq!(pool.submit(|| "still serving").await.unwrap(), "still serving");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_worker_waiting_in_a_host_call_is_replaced_at_once() {
        let pool = WorkerPool::new().unwrap();
        let core = pool.workers();
        let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let waiting: Vec<_> = (0..core)
            .map(|_| {
                let (held, entered_tx) = (held.clone(), entered_tx.clone());
                pool.submit(move || {
                    crate::blocking::wait(|| {
                        let _ = entered_tx.send(());
                        let _ = held.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    })
                })
            })
            .collect();
        for _ in 0..core {
            entered.recv().unwrap();
        }
        // each worker that started waiting left a replacement behind before it waited
        assert_eq!(pool.workers(), 2 * core);
        for _ in 0..core {
            release.send(()).unwrap();
        }
        for job in waiting {
            job.await.unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn workers_held_by_long_calls_are_replaced() {
        let pool = WorkerPool::new().unwrap();
        let core = std::thread::available_parallelism().map_or(1, |n| n.get());
        // every worker stuck in a call that only ends when the test says so
        let (release, held) = std::sync::mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        let stuck: Vec<_> = (0..core)
            .map(|_| {
                let held = held.clone();
                pool.submit(move || {
                    let _ = held.lock().unwrap_or_else(|p| p.into_inner()).recv();
                })
            })
            .collect();
        // a short call still gets a worker (would wait forever if the pool could not grow)
        assert_eq!(pool.submit(|| "answered").await.unwrap(), "answered");
        for _ in 0..core {
            release.send(()).unwrap();
        }
        for job in stuck {
            job.await.unwrap();
        }
    }
}
