//! Gives the memory that passivated instances freed back to the system.
//!
//! A burst of activations touches memory on many threads (the scheduler
//! starts workers while agents wait in host calls, and instances are built and
//! dropped on them), and glibc's malloc keeps what is freed in its per-thread
//! arenas: without this, the RSS of a burst's peak stayed after every instance
//! was passivated (3.4× an idle server after 100,000 keys, the extra threads
//! gone). `malloc_trim(0)` returns the free pages of every arena. The
//! [`Reclaimer`] calls it every [`EVERY`] while instances were passivated
//! within the last [`WINDOW`] (which outlasts the burst's extra workers, see
//! [`super::scheduler::IDLE_EXIT`]), and never otherwise. With a C library
//! other than glibc it does nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// How often the reclaimer looks.
pub const EVERY: Duration = Duration::from_secs(2);
/// How long after the last passivation it keeps trimming.
pub const WINDOW: Duration = Duration::from_secs(super::scheduler::IDLE_EXIT.as_secs() + 2 * EVERY.as_secs());

/// Trims the allocator after passivations (see the module doc).
#[derive(Default)]
pub struct Reclaimer {
    freed_at: Mutex<Option<Instant>>,
    trims: AtomicU64,
}

impl Reclaimer {
    /// Note that an instance was passivated just now.
    pub fn freed(&self) {
        *self.freed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// How many times the allocator was trimmed.
    pub fn trims(&self) -> u64 {
        self.trims.load(Ordering::Relaxed)
    }

    /// Look every [`EVERY`] until `reclaimer` is dropped.
    pub async fn run(reclaimer: Weak<Reclaimer>) {
        loop {
            tokio::time::sleep(EVERY).await;
            let Some(me) = reclaimer.upgrade() else { return };
            let freed_at = *me.freed_at.lock().unwrap_or_else(|p| p.into_inner());
            if freed_at.is_some_and(|at| at.elapsed() < WINDOW) {
                // walks every arena under its lock: off the async workers
                let _ = tokio::task::spawn_blocking(trim).await;
                me.trims.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: `malloc_trim` takes no pointer from us; it only releases free
    // pages of the allocator's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
