//! Waits inside host calls (a kv-store write waiting for its commit, a WASI
//! poll) announced to the thread running the agent, so that the runtime's
//! scheduler can let another worker run meanwhile. A leaf: capabilities call
//! [`wait`]; the scheduler installs the hook on its own workers
//! (`runtime::scheduler`). On other threads the announcement does nothing.

use std::cell::RefCell;

type Hook = Box<dyn Fn(bool)>;

thread_local! {
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Run `wait`, a call that blocks this thread on something other than the CPU.
pub fn wait<R>(wait: impl FnOnce() -> R) -> R {
    announce(true);
    let result = wait();
    announce(false);
    result
}

fn announce(blocked: bool) {
    HOOK.with(|hook| {
        if let Some(hook) = hook.borrow().as_ref() {
            hook(blocked);
        }
    });
}

/// Called with `true` when this thread starts waiting and `false` when it is
/// done (set by the worker pool on its own threads).
pub fn on_this_thread(hook: impl Fn(bool) + 'static) {
    HOOK.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
}
