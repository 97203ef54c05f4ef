//! The scheduler's guarantees, with plain tasks (no wasm).

use super::*;
use std::sync::mpsc;

/// Guards a test against hanging when the guarantee breaks; not a timing assertion.
const HANG: Duration = Duration::from_secs(60);

struct FnTask<F: Fn() + Send + Sync + 'static>(F);

impl<F: Fn() + Send + Sync + 'static> Task for FnTask<F> {
    fn run(self: Arc<Self>) {
        (self.0)()
    }
}

fn task(f: impl Fn() + Send + Sync + 'static) -> Job {
    Arc::new(FnTask(f))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn a_task_scheduled_by_a_task_runs_next_on_the_same_worker() {
    let scheduler = Scheduler::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let handle = scheduler.handle();
    scheduler.handle().schedule(task(move || {
        let (tx, me) = (tx.clone(), std::thread::current().id());
        handle.schedule(task(move || {
            let _ = tx.send(std::thread::current().id() == me);
        }));
    }));
    assert!(rx.recv_timeout(HANG).unwrap(), "the receiver ran on its sender's worker");
}

#[test]
fn spinning_tasks_on_every_core_do_not_starve_a_short_one() {
    let scheduler = Scheduler::new().unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (spinning_tx, spinning) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    for _ in 0..cores() {
        let (released, spinning_tx, done_tx) = (released.clone(), spinning_tx.clone(), done_tx.clone());
        scheduler.handle().schedule(task(move || {
            let _ = spinning_tx.send(());
            // pure CPU, never announced as a wait: only the monitor can see it
            while !released.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            let _ = done_tx.send("spinner");
        }));
    }
    for _ in 0..cores() {
        spinning.recv_timeout(HANG).unwrap();
    }
    // the spinners end only once this task has run: it must get a worker beside them
    let release = released.clone();
    let short_done = done_tx.clone();
    scheduler.handle().schedule(task(move || {
        release.store(true, Ordering::SeqCst);
        let _ = short_done.send("short");
    }));
    let finished: Vec<&str> = (0..=cores()).map(|_| done.recv_timeout(HANG).expect("starved")).collect();
    assert!(finished.contains(&"short"));
    assert!(scheduler.workers() > cores(), "a worker was added beside the held ones");
}

#[test]
fn a_task_waiting_in_a_host_call_is_replaced_at_once() {
    let scheduler = Scheduler::new().unwrap();
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release, held) = mpsc::channel::<()>();
    let held = Arc::new(Mutex::new(held));
    for _ in 0..cores() {
        let (held, entered_tx) = (held.clone(), entered_tx.clone());
        scheduler.handle().schedule(task(move || {
            crate::blocking::wait(|| {
                let _ = entered_tx.send(());
                let _ = lock(&held).recv();
            })
        }));
    }
    for _ in 0..cores() {
        entered.recv_timeout(HANG).unwrap();
    }
    // each worker that started waiting left a replacement behind before it waited
    assert_eq!(scheduler.workers(), 2 * cores());
    for _ in 0..cores() {
        release.send(()).unwrap();
    }
}

#[test]
fn a_panicking_task_leaves_its_worker_serving() {
    let scheduler = Scheduler::new().unwrap();
    for _ in 0..cores() {
        scheduler.handle().schedule(task(|| std::panic::panic_any("a host function failed")));
    }
    let (tx, rx) = mpsc::channel();
    for _ in 0..10 {
        let tx = tx.clone();
        scheduler.handle().schedule(task(move || {
            let _ = tx.send(());
        }));
    }
    for _ in 0..10 {
        rx.recv_timeout(HANG).unwrap();
    }
    assert!(scheduler.workers() >= cores(), "no worker left with its panicking task");
}

#[test]
fn two_tasks_that_keep_scheduling_each_other_leave_room_for_the_rest() {
    let scheduler = Scheduler::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // on one worker: a ping-pong pair that would fill the LIFO slot forever
    fn volley(handle: Handle, stop: Arc<AtomicBool>) -> Job {
        task(move || {
            if !stop.load(Ordering::SeqCst) {
                handle.schedule(volley(handle.clone(), stop.clone()));
            }
        })
    }
    let handle = scheduler.handle();
    let (stop2, handle2) = (stop.clone(), handle.clone());
    let (tx, rx) = mpsc::channel();
    handle.schedule(task(move || {
        // everything below is scheduled from this worker: the others wait behind the volley
        handle2.schedule(volley(handle2.clone(), stop2.clone()));
        for i in 0..100 {
            let tx = tx.clone();
            handle2.schedule_yield(task(move || {
                let _ = tx.send(i);
            }));
        }
    }));
    let mut seen: Vec<i32> = (0..100).map(|_| rx.recv_timeout(HANG).expect("starved by the volley")).collect();
    stop.store(true, Ordering::SeqCst);
    seen.sort_unstable();
    assert_eq!(seen, (0..100).collect::<Vec<_>>());
}

#[test]
fn work_scheduled_from_outside_runs_whether_the_workers_spin_or_sleep() {
    let scheduler = Scheduler::new().unwrap();
    let (tx, rx) = mpsc::channel();
    for round in 0..2_000 {
        // one at a time (a worker spins for the next), in bursts (more than one spinner
        // takes), and now and then after the workers had time to park
        let burst = if round % 100 == 0 { 2 * cores() + 1 } else { 1 };
        for _ in 0..burst {
            let tx = tx.clone();
            scheduler.handle().schedule(task(move || {
                let _ = tx.send(());
            }));
        }
        for _ in 0..burst {
            rx.recv_timeout(HANG).expect("a task scheduled from outside never ran: a wake-up was lost");
        }
        if round % 250 == 0 {
            std::thread::sleep(SPIN * 4);
        }
    }
}
