//! The inert WASI baseline: what a plain Rust `std` guest imports even when it
//! never uses it, provided so that it can run and reach nothing.
//!
//! No preopened directories (every path fails) unless the deployment file
//! grants one directory, which is opened with cap-std confinement, no environment variables, no
//! arguments, a closed stdin, clocks and randomness. stdout and stderr go to the
//! host log under the agent's name, with control characters escaped and lines
//! cut at [`MAX_LINE`] bytes. Sockets and HTTP are not part of it: a component
//! importing them is refused at deploy. The interfaces it serves are listed in
//! [`crate::interfaces::BASELINE`].

use super::AgentHost;
use crate::events::logs::{NewLine, Source};
use crate::events::Events;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream, WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, io, random, sync};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiView};
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;

/// Longest stdout/stderr line written to the log; the rest is cut.
pub const MAX_LINE: usize = 4096;

/// A WASI context with nothing in it: no environment, no arguments, no stdin,
/// and no files unless a directory is granted. Output lines over the budget
/// are counted in `dropped_lines`.
pub fn inert_ctx(
    agent: &str,
    dropped_lines: Arc<std::sync::atomic::AtomicU64>,
    filesystem: Option<&crate::policy::FilesystemGrant>,
    events: Arc<Events>,
) -> Result<WasiCtx, String> {
    let agent: Arc<str> = Arc::from(agent);
    let bucket = crate::rate::TokenBucket::new(LOG_LINES_PER_SECOND, LOG_LINES_PER_SECOND);
    let budget = Arc::new(std::sync::Mutex::new(LineBudget { bucket, dropped: 0, total_dropped: dropped_lines }));
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(AgentOutput {
            agent: agent.clone(),
            stream: Source::Stdout,
            budget: budget.clone(),
            events: events.clone(),
        })
        .stderr(AgentOutput { agent, stream: Source::Stderr, budget, events })
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    if let Some(grant) = filesystem {
        let perms = if grant.read_only { FsPerms::ReadOnly } else { FsPerms::ReadWrite };
        builder
            .preopened_dir(&grant.host_dir, &grant.guest_path, perms)
            .map_err(|e| format!("cannot open the granted directory `{}`: {e:#}", grant.host_dir.display()))?;
    }
    Ok(builder.build())
}

struct IoTable;

impl HasData for IoTable {
    type Data<'a> = &'a mut ResourceTable;
}

fn table<T: WasiView>(t: &mut T) -> &mut ResourceTable {
    t.ctx().table
}

/// Link the baseline interfaces (synchronous variants).
pub fn add_to_linker<T: AgentHost>(l: &mut Linker<T>) -> wasmtime::Result<()> {
    io::error::add_to_linker::<T, IoTable>(l, table::<T>)?;
    sync::io::poll::add_to_linker::<T, DeadlinePollData>(l, T::deadline_poll)?;
    sync::io::streams::add_to_linker::<T, IoTable>(l, table::<T>)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, T::random)?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, T::random)?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    filesystem::preopens::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    sync::filesystem::types::add_to_linker::<T, WasiFilesystem>(l, T::filesystem)?;
    Ok(())
}

/// The error a blocking poll raises when it would run past the message deadline.
#[derive(Debug, thiserror::Error)]
#[error("blocked in a host call past the message deadline")]
pub struct BlockedPastDeadline;

/// `wasi:io/poll` that gives up at the agent's message deadline: the epoch
/// cannot interrupt a guest that waits inside the host (a `sleep`, a poll on a
/// far-off clock), so the wait itself is bounded.
pub struct DeadlinePoll<'a> {
    /// The agent's resources.
    pub table: &'a mut ResourceTable,
    /// When the current message's deadline passes.
    pub deadline: std::time::Instant,
}

struct DeadlinePollData;

impl HasData for DeadlinePollData {
    type Data<'a> = DeadlinePoll<'a>;
}

impl DeadlinePoll<'_> {
    fn bounded<R>(&mut self, f: impl AsyncFnOnce(&mut ResourceTable) -> wasmtime::Result<R>) -> wasmtime::Result<R> {
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let table = &mut *self.table;
        crate::blocking::wait(|| {
            wasmtime_wasi::runtime::in_tokio(async move {
                match tokio::time::timeout_at(deadline, f(table)).await {
                    Ok(result) => result,
                    Err(_) => Err(wasmtime::Error::new(BlockedPastDeadline)),
                }
            })
        })
    }
}

impl sync::io::poll::Host for DeadlinePoll<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        self.bounded(async |t| async_poll::Host::poll(t, pollables).await)
    }
}

impl sync::io::poll::HostPollable for DeadlinePoll<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        self.bounded(async |t| async_poll::HostPollable::ready(t, pollable).await)
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.bounded(async |t| async_poll::HostPollable::block(t, pollable).await)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}

/// Lines per second an agent may write to stdout and stderr together; the
/// rest are dropped and counted.
pub const LOG_LINES_PER_SECOND: u32 = 100;

/// The log-line allowance shared by an agent's stdout and stderr.
struct LineBudget {
    bucket: crate::rate::TokenBucket,
    /// Dropped since the last line written.
    dropped: u64,
    /// Dropped in all, for the agent's statistics.
    total_dropped: Arc<std::sync::atomic::AtomicU64>,
}

/// stdout or stderr of one agent, written line by line to the host log and the agent's log ring.
#[derive(Clone)]
struct AgentOutput {
    agent: Arc<str>,
    stream: Source,
    budget: Arc<std::sync::Mutex<LineBudget>>,
    events: Arc<Events>,
}

impl AgentOutput {
    /// Whether one more line may be written now; reports drops when writing resumes.
    fn allow(&self) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if !budget.bucket.take(1, std::time::Instant::now()) {
            budget.dropped += 1;
            budget.total_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        if budget.dropped > 0 {
            tracing::warn!(agent = %self.agent, "{} output lines dropped (over {LOG_LINES_PER_SECOND} lines/s)", budget.dropped);
            budget.dropped = 0;
        }
        true
    }

    fn emit(&self, bytes: &[u8]) {
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            if !self.allow() {
                continue;
            }
            let cut = line.get(..MAX_LINE).unwrap_or(line);
            let text = neutralise(&String::from_utf8_lossy(cut));
            let truncated = if cut.len() < line.len() { " [truncated]" } else { "" };
            tracing::info!(agent = %self.agent, stream = self.stream.as_str(), "{text}{truncated}");
            let text = format!("{text}{truncated}");
            let (agent, source) = (&*self.agent, self.stream);
            self.events.log(NewLine { agent, source, level: "info", context: "", text: &text });
        }
    }
}

pub use crate::printable::neutralise;

impl IsTerminal for AgentOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for AgentOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for AgentOutput {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.emit(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for AgentOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for AgentOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.emit(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}
