//! The threads agents run on, and which agent runs next.
//!
//! One worker thread per core, each with a *LIFO slot* and a FIFO run queue
//! of its own, and a shared queue for work scheduled from outside (HTTP
//! handlers, timers, restarts). A task scheduled by a running task goes to its
//! worker's LIFO slot: when agent A sends to an idle agent B, B runs next on
//! the same thread, with no wake-up and no trip between threads. The slot's
//! previous occupant moves to the back of the run queue, where idle workers
//! steal it. A worker takes the LIFO slot at most [`LIFO_STREAK`] times in a
//! row, and looks at the shared queue first every [`SHARED_EVERY`] runs, so
//! two agents talking to each other cannot starve the rest.
//!
//! A task that holds its worker longer than [`HELD_AFTER`] (a spinning agent,
//! or one blocked in a host call, see [`crate::blocking`]) no longer counts:
//! the monitor thread starts another worker, so there are always as many
//! workers free of long calls as cores, moves the held worker's LIFO slot to
//! the shared queue, and tells the task ([`Task::held`]) so it can enforce its
//! deadline. Workers beyond the core count leave after [`IDLE_EXIT`] idle.
//! A worker out of work first spins for [`SPIN`] (one at a time), and whoever
//! queues work while one spins wakes nobody: the next message of an exchange
//! costs no wake-up. Then it parks; a worker parks only after registering as a
//! sleeper and looking for work once more, and whoever queues work wakes a
//! sleeper after queuing it, so no wake-up is lost.

use crossbeam_deque::{Injector, Steal, Stealer, Worker as RunQueue};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// A worker whose task has run this long no longer counts as free, and is
/// replaced while work waits. Well above a batch's own limit
/// (`cell::BATCH_TIME`), so ordinary busy batches never look held: only one
/// event that runs long (a spinning agent) does.
pub const HELD_AFTER: Duration = Duration::from_millis(10);
/// How often the monitor looks at the workers while any task runs.
pub const TICK: Duration = Duration::from_millis(2);
/// Most workers at once.
pub const MAX_WORKERS: usize = 512;
/// A worker beyond the core count that is idle this long leaves.
pub const IDLE_EXIT: Duration = Duration::from_secs(10);
/// Consecutive runs from a worker's LIFO slot before its run queue gets a turn.
pub const LIFO_STREAK: u32 = 3;
/// A worker looks at the shared queue before its own every this many runs.
pub const SHARED_EVERY: u32 = 61;
/// How long a worker that ran out of work looks for more before it parks,
/// when no other worker is looking: work queued meanwhile (the next message
/// of an exchange, a reply from outside) is taken with no wake-up, which
/// costs a futex call and, on a virtual machine, an interrupt to a halted CPU.
pub const SPIN: Duration = Duration::from_micros(50);

/// Something a worker runs: an agent with events to handle.
pub trait Task: Send + Sync + 'static {
    /// Run on a worker thread until done or until it yields (by scheduling itself again).
    fn run(self: Arc<Self>);
    /// Called by the monitor thread while this task has held its worker for
    /// longer than [`HELD_AFTER`] (or waits in a host call), about every [`TICK`].
    fn held(&self, _now: Instant) {}
}

/// A task as the queues hold it.
pub type Job = Arc<dyn Task>;

/// What a worker is doing.
enum WorkerState {
    /// Looking for work or parked.
    Idle,
    /// Running `job` since `since`.
    Running { since: Instant, job: Job },
    /// Running `job`, which waits inside a host call.
    Blocked { job: Job },
}

/// A worker as the others see it.
struct Slot {
    stealer: Stealer<Job>,
    lifo: Mutex<Option<Job>>,
    state: Mutex<WorkerState>,
    thread: OnceLock<Thread>,
    /// Set by whoever takes this worker off the sleepers to wake it.
    woken: AtomicBool,
}

struct Shared {
    queue: Injector<Job>,
    workers: RwLock<Vec<Arc<Slot>>>,
    sleepers: Mutex<Vec<Arc<Slot>>>,
    sleeping: AtomicUsize,
    /// Whether a worker spins for work before it parks (one at a time, see [`SPIN`]).
    spinning: AtomicBool,
    /// Workers running a task; the monitor sleeps while there are none.
    running: AtomicUsize,
    /// The monitor waits for a task to run: the first to run wakes it (only
    /// then, so a worker pays for no wake-up while the monitor ticks).
    monitor_waits: AtomicBool,
    /// Workers started and not leaving.
    alive: AtomicUsize,
    monitor: (Mutex<()>, Condvar),
    core: usize,
    closed: AtomicBool,
}

/// Schedules tasks on a scheduler's workers; clones share it.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// The worker threads; dropping it stops them once their tasks are done.
pub struct Scheduler {
    handle: Handle,
}

/// The worker this thread is, if it is one.
struct Local {
    shared: Arc<Shared>,
    slot: Arc<Slot>,
    queue: RunQueue<Job>,
    streak: Cell<u32>,
    runs: Cell<u32>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Scheduler {
    /// A scheduler with one worker per core.
    pub fn new() -> std::io::Result<Scheduler> {
        let core = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shared = Arc::new(Shared {
            queue: Injector::new(),
            workers: RwLock::new(Vec::new()),
            sleepers: Mutex::new(Vec::new()),
            sleeping: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            monitor_waits: AtomicBool::new(false),
            alive: AtomicUsize::new(0),
            monitor: (Mutex::new(()), Condvar::new()),
            core,
            closed: AtomicBool::new(false),
        });
        for _ in 0..core {
            spawn_worker(&shared)?;
        }
        let monitor = shared.clone();
        std::thread::Builder::new().name("caxton-monitor".into()).spawn(move || watch(&monitor))?;
        Ok(Scheduler { handle: Handle { shared } })
    }

    /// A handle that schedules on this scheduler.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// How many worker threads there are now.
    pub fn workers(&self) -> usize {
        self.handle.shared.workers.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        shared.closed.store(true, Ordering::SeqCst);
        drop(lock(&shared.monitor.0));
        shared.monitor.1.notify_all();
        for slot in shared.workers.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if let Some(thread) = slot.thread.get() {
                thread.unpark();
            }
        }
    }
}

impl Handle {
    /// Run `job` soon: next on this worker when called from one of this
    /// scheduler's tasks (its LIFO slot), otherwise from the shared queue.
    pub fn schedule(&self, job: Job) {
        let Some(job) = self.on_own_worker(job, Local::push_lifo) else { return };
        self.shared.queue.push(job);
        self.shared.wake_one();
    }

    /// Run `job` again after what is already queued (a task that yields).
    pub fn schedule_yield(&self, job: Job) {
        let Some(job) = self.on_own_worker(job, Local::push_back) else { return };
        self.shared.queue.push(job);
        self.shared.wake_one();
    }

    /// Hand `job` to `push` when this thread is one of this scheduler's
    /// workers; otherwise give it back.
    fn on_own_worker(&self, job: Job, push: fn(&Local, Job)) -> Option<Job> {
        LOCAL.with(|local| match local.borrow().as_ref() {
            Some(local) if Arc::ptr_eq(&local.shared, &self.shared) => {
                push(local, job);
                None
            }
            _ => Some(job),
        })
    }
}

impl Shared {
    /// Wake a parked worker, if one is parked (after work was queued).
    fn wake_one(&self) {
        fence(Ordering::SeqCst);
        // a spinning worker takes the work: before it stops spinning and parks, it looks again
        if self.spinning.load(Ordering::SeqCst) || self.sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let slot = {
            let mut sleepers = lock(&self.sleepers);
            let slot = sleepers.pop();
            if let Some(slot) = &slot {
                // under the sleepers' lock, so the worker sees it taken off and woken at once
                slot.woken.store(true, Ordering::SeqCst);
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
            }
            slot
        };
        if let Some(thread) = slot.as_ref().and_then(|s| s.thread.get()) {
            thread.unpark();
        }
    }

    /// Tasks waiting in the shared queue and in the workers' run queues.
    fn pending(&self) -> usize {
        let workers = self.workers.read().unwrap_or_else(|p| p.into_inner());
        self.queue.len() + workers.iter().map(|s| s.stealer.len()).sum::<usize>()
    }

    /// Whether any queue holds work another worker could take.
    fn has_work(&self) -> bool {
        self.pending() > 0
    }

    /// Let one worker beyond the core count leave; false if that would leave fewer than cores.
    fn reserve_exit(&self) -> bool {
        self.alive.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n > self.core).then(|| n - 1)).is_ok()
    }

    /// Take `slot` off the sleepers; false if a waker took it off first.
    fn unsleep(&self, slot: &Arc<Slot>) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|s| Arc::ptr_eq(s, slot)) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

impl Local {
    fn push_lifo(&self, job: Job) {
        let previous = lock(&self.slot.lifo).replace(job);
        if let Some(previous) = previous {
            self.queue.push(previous);
            self.shared.wake_one();
        }
    }

    fn push_back(&self, job: Job) {
        self.queue.push(job);
        self.shared.wake_one();
    }

    /// The next task: the LIFO slot (within its streak), the own queue, the
    /// shared queue, then another worker's queue.
    fn next(&self) -> Option<Job> {
        self.runs.set(self.runs.get().wrapping_add(1));
        if self.runs.get().is_multiple_of(SHARED_EVERY) {
            if let Some(job) = self.steal_shared() {
                return Some(job);
            }
        }
        let lifo = lock(&self.slot.lifo).take();
        if let Some(job) = lifo {
            // past its streak the LIFO task queues behind the others, if there are any
            if self.streak.get() < LIFO_STREAK || self.queue.is_empty() {
                self.streak.set(self.streak.get() + 1);
                return Some(job);
            }
            self.queue.push(job);
        }
        self.streak.set(0);
        self.queue.pop().or_else(|| self.steal_shared()).or_else(|| self.steal_other())
    }

    fn steal_shared(&self) -> Option<Job> {
        loop {
            match self.shared.queue.steal_batch_and_pop(&self.queue) {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    fn steal_other(&self) -> Option<Job> {
        let workers = self.shared.workers.read().unwrap_or_else(|p| p.into_inner()).clone();
        for slot in workers.iter().filter(|s| !Arc::ptr_eq(s, &self.slot)) {
            loop {
                match slot.stealer.steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        None
    }

    fn run(&self, job: Job) {
        *lock(&self.slot.state) = WorkerState::Running { since: Instant::now(), job: job.clone() };
        // pairs with the monitor's `monitor_waits` store then `running` load: one of them sees the other
        if self.shared.running.fetch_add(1, Ordering::SeqCst) == 0 && self.shared.monitor_waits.load(Ordering::SeqCst) {
            let _guard = lock(&self.shared.monitor.0);
            self.shared.monitor.1.notify_one();
        }
        // a task handles its own failures; a panic that escapes it must not take the worker along
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run())).is_err() {
            tracing::error!("a task panicked on an agent worker");
        }
        self.shared.running.fetch_sub(1, Ordering::SeqCst);
        *lock(&self.slot.state) = WorkerState::Idle;
    }

    /// Look for work for up to [`SPIN`] unless another worker is looking
    /// already; whether some came. Once it stops spinning, [`Local::park`]'s
    /// registration and last look catch work queued by a waker that saw it spinning.
    fn spin(&self) -> bool {
        let shared = &self.shared;
        if shared.spinning.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_err() {
            return false;
        }
        let until = Instant::now() + SPIN;
        let found = loop {
            if shared.has_work() {
                break true;
            }
            if shared.closed.load(Ordering::Relaxed) || Instant::now() >= until {
                break false;
            }
            // gives the core to any other thread ready to run on it (the caller waiting for a
            // reply, an HTTP handler): spinning must not take a core from work on 2 cores
            std::thread::yield_now();
        };
        shared.spinning.store(false, Ordering::SeqCst);
        // wakers left the rest to this worker: more than it takes now goes to a sleeper too
        if found && shared.pending() > 1 {
            shared.wake_one();
        }
        found
    }

    /// Park until woken; false when this worker should leave (the scheduler
    /// closed, or it is an extra worker idle for [`IDLE_EXIT`]).
    fn park(&self) -> bool {
        let shared = &self.shared;
        if self.spin() {
            return true;
        }
        {
            let mut sleepers = lock(&shared.sleepers);
            self.slot.woken.store(false, Ordering::SeqCst);
            if !sleepers.iter().any(|s| Arc::ptr_eq(s, &self.slot)) {
                sleepers.push(self.slot.clone());
                shared.sleeping.fetch_add(1, Ordering::SeqCst);
            }
        }
        fence(Ordering::SeqCst);
        let idle_since = Instant::now();
        loop {
            if shared.closed.load(Ordering::SeqCst) {
                shared.unsleep(&self.slot);
                return false;
            }
            // after registering, and after every wake-up: work queued meanwhile is taken
            if self.slot.woken.load(Ordering::SeqCst) || shared.has_work() {
                shared.unsleep(&self.slot);
                return true;
            }
            if idle_since.elapsed() >= IDLE_EXIT && shared.reserve_exit() {
                if shared.unsleep(&self.slot) {
                    return false;
                }
                // a waker took this worker off the sleepers meanwhile: it stays
                shared.alive.fetch_add(1, Ordering::SeqCst);
                return true;
            }
            std::thread::park_timeout(IDLE_EXIT);
        }
    }
}

fn spawn_worker(shared: &Arc<Shared>) -> std::io::Result<()> {
    let queue = RunQueue::new_fifo();
    let slot = Arc::new(Slot {
        stealer: queue.stealer(),
        lifo: Mutex::new(None),
        state: Mutex::new(WorkerState::Idle),
        thread: OnceLock::new(),
        woken: AtomicBool::new(false),
    });
    shared.workers.write().unwrap_or_else(|p| p.into_inner()).push(slot.clone());
    shared.alive.fetch_add(1, Ordering::SeqCst);
    let local = Local { shared: shared.clone(), slot: slot.clone(), queue, streak: Cell::new(0), runs: Cell::new(0) };
    let spawned = std::thread::Builder::new().name("caxton-agent".into()).spawn(move || work(local));
    if spawned.is_err() {
        shared.workers.write().unwrap_or_else(|p| p.into_inner()).retain(|s| !Arc::ptr_eq(s, &slot));
        shared.alive.fetch_sub(1, Ordering::SeqCst);
    }
    spawned.map(drop)
}

/// A worker's life: run tasks, park when there are none, leave when told.
fn work(local: Local) {
    let _ = local.slot.thread.set(std::thread::current());
    let local = Rc::new(local);
    LOCAL.with(|l| *l.borrow_mut() = Some(local.clone()));
    let (shared, slot) = (Arc::downgrade(&local.shared), local.slot.clone());
    crate::blocking::on_this_thread(move |blocked| {
        if let Some(shared) = shared.upgrade() {
            announce(&shared, &slot, blocked);
        }
    });
    loop {
        match local.next() {
            Some(job) => local.run(job),
            None if local.park() => {}
            None => break,
        }
    }
    local.shared.workers.write().unwrap_or_else(|p| p.into_inner()).retain(|s| !Arc::ptr_eq(s, &local.slot));
    LOCAL.with(|l| l.borrow_mut().take());
}

/// The task on this worker starts (`true`) or stops (`false`) waiting inside
/// a host call: while it waits its LIFO slot goes to the shared queue, and if
/// that leaves fewer free workers than cores another one starts at once.
fn announce(shared: &Arc<Shared>, slot: &Arc<Slot>, blocked: bool) {
    let mut state = lock(&slot.state);
    let next = match std::mem::replace(&mut *state, WorkerState::Idle) {
        WorkerState::Running { job, .. } if blocked => WorkerState::Blocked { job },
        WorkerState::Blocked { job } if !blocked => WorkerState::Running { since: Instant::now(), job },
        other => other,
    };
    *state = next;
    drop(state);
    if blocked {
        if let Some(job) = lock(&slot.lifo).take() {
            shared.queue.push(job);
            shared.wake_one();
        }
        let held = held_workers(shared, Instant::now());
        if held.workers - held.tasks.len() < shared.core && held.workers < MAX_WORKERS {
            if let Err(e) = spawn_worker(shared) {
                tracing::warn!("cannot start another agent worker: {e}");
            }
        }
    }
}

/// The workers, and those held by a long or waiting task.
struct Held {
    /// Workers in all.
    workers: usize,
    /// Each held worker with its task.
    tasks: Vec<(Arc<Slot>, Job)>,
}

fn held_workers(shared: &Shared, now: Instant) -> Held {
    let workers = shared.workers.read().unwrap_or_else(|p| p.into_inner()).clone();
    let held: Vec<(Arc<Slot>, Job)> = workers
        .iter()
        .filter_map(|slot| match &*lock(&slot.state) {
            WorkerState::Running { since, job } if now.duration_since(*since) >= HELD_AFTER => {
                Some((slot.clone(), job.clone()))
            }
            WorkerState::Blocked { job } => Some((slot.clone(), job.clone())),
            _ => None,
        })
        .collect();
    Held { workers: workers.len(), tasks: held }
}

/// The monitor: while any task runs, every [`TICK`] tell held tasks
/// they are held, free their workers' LIFO slots, and start workers until as
/// many as cores are free of long tasks (while work waits).
fn watch(shared: &Arc<Shared>) {
    loop {
        {
            let mut guard = lock(&shared.monitor.0);
            loop {
                shared.monitor_waits.store(true, Ordering::SeqCst);
                if shared.running.load(Ordering::SeqCst) != 0 || shared.closed.load(Ordering::SeqCst) {
                    break;
                }
                guard = shared.monitor.1.wait(guard).unwrap_or_else(|p| p.into_inner());
            }
            shared.monitor_waits.store(false, Ordering::SeqCst);
        }
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(TICK);
        let now = Instant::now();
        let Held { workers, tasks } = held_workers(shared, now);
        let held_count = tasks.len();
        for (slot, job) in tasks {
            if let Some(job) = lock(&slot.lifo).take() {
                shared.queue.push(job);
            }
            job.held(now);
        }
        if shared.has_work() {
            let free = workers - held_count;
            let missing = shared.core.saturating_sub(free).min(MAX_WORKERS.saturating_sub(workers));
            for _ in 0..missing {
                if let Err(e) = spawn_worker(shared) {
                    tracing::warn!("cannot start another agent worker: {e}");
                    break;
                }
            }
            shared.wake_one();
        }
    }
}

#[cfg(test)]
mod tests;
