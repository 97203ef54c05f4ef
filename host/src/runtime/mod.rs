//! The runtime: compiles and links agents, and runs each one on the
//! [`scheduler`]'s workers, one event at a time from its bounded mailbox.
//!
//! The path of one message, and who owns what on it:
//!
//! 1. A sender (an agent's `messaging.send` on a worker thread, or an HTTP
//!    handler on a tokio thread) calls [`crate::bus::Bus::send`], which
//!    reserves a slot in every receiver's [`crate::bus::mailbox::Mailbox`] and
//!    queues the message.
//! 2. Queuing into an idle agent's mailbox wakes its [`cell::AgentCell`]: the
//!    cell's [`cell::Turn`] goes from `Idle` to `Scheduled` and the cell is
//!    pushed onto the run queue of the worker that sent (its LIFO slot), or
//!    onto the shared queue when the sender is not a worker.
//! 3. A worker runs the cell's batch: it takes the agent's instance
//!    ([`agent::LiveAgent`], which owns the wasmtime store), and calls
//!    `handle-message` for each queued event under the event's deadline
//!    ([`agent::deadline_from_now`]), up to a batch's limit; then the turn
//!    goes back to `Idle`, or the cell yields to the back of the run queue.
//! 4. A call that fails names a [`failure::FailureReason`]; one that poisons
//!    the instance hands the turn to [`supervisor::restart`] (an async task,
//!    only then), which backs off, starts a fresh instance and hands it back.
//!
//! Deploy ([`Runtime::deploy_bytes`]) and removal ([`Runtime::remove`]) run on
//! tokio: they build or retire cells; the scheduler never waits on them.

pub mod agent;
pub mod agent_types;
pub mod cell;
pub mod engine;
pub mod exports;
pub mod failure;
mod install;
pub mod reclaim;
pub mod scheduler;
pub mod stats;
pub mod supervisor;

pub use install::{prepare, verify};
use install::{start, EnvParts, Linked, Started};

use crate::bus::Bus;
use crate::component::{self, Compiler, ComponentError};
use crate::policy::{AgentSpec, PolicyError};
use crate::store::KvBackend;
use stats::AgentStats;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime::Engine;

/// Why an agent could not be deployed or removed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The component file or bytes are unusable.
    #[error("agent `{agent}`: {source}")]
    Component {
        /// The agent.
        agent: String,
        /// What is wrong with the component.
        #[source]
        source: ComponentError,
    },
    /// The deployment file refuses it.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Linking failed: an import is missing from the linker or an export from the component.
    #[error("agent `{agent}` cannot be linked: {message}")]
    Link {
        /// The agent.
        agent: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// Instantiation failed (e.g. its memory exceeds the limit, or its start function trapped).
    #[error("agent `{agent}` cannot be instantiated: {message}")]
    Instantiate {
        /// The agent.
        agent: String,
        /// The cause.
        message: String,
    },
    /// `init` returned an error or trapped.
    #[error("agent `{agent}` failed to initialise: {message}")]
    Init {
        /// The agent.
        agent: String,
        /// The cause.
        message: String,
    },
    /// The component does not implement the `agent` world.
    #[error("agent `{agent}` does not export {}{}: the component must implement the `caxton:agent/agent` world", .missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "), .found.iter().map(|f| format!(" (it exports `{f}`)")).collect::<String>())]
    MissingExports {
        /// The agent.
        agent: String,
        /// The exports it lacks.
        missing: Vec<String>,
        /// Exports of the same interfaces at other versions.
        found: Vec<String>,
    },
    /// A function of the exported `guest` interface is missing or has the wrong type.
    #[error("agent `{agent}` exports `{export}`, but its function `{function}` {problem}")]
    GuestFunction {
        /// The agent.
        agent: String,
        /// The exported interface.
        export: String,
        /// The function.
        function: String,
        /// What is wrong with it, as the end of a sentence.
        problem: String,
    },
    /// Compiling the component took too long.
    #[error("agent `{agent}`: compiling the component took longer than {timeout:?}; it is too complex to deploy")]
    CompileTimeout {
        /// The agent.
        agent: String,
        /// The limit.
        timeout: Duration,
    },
    /// An agent with that name is already running.
    #[error("an agent named `{0}` is already deployed")]
    AlreadyDeployed(String),
    /// Another host of the cluster runs an agent of that name.
    #[error("an agent named `{agent}` already runs on host `{host}` of the cluster; remove it there first or pick another name")]
    RunsElsewhere {
        /// The agent.
        agent: String,
        /// The host that runs it.
        host: String,
    },
    /// No agent with that name is running.
    #[error("no agent named `{0}` is deployed")]
    NotDeployed(String),
    /// The removed agent's kv-store could not be deleted.
    #[error("agent `{agent}` was removed, but its kv-store could not be deleted")]
    Storage {
        /// The agent.
        agent: String,
        /// What the store said.
        #[source]
        source: crate::store::StoreError,
    },
    /// The host itself failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The exports of the `agent` world every agent component must have: the
/// `guest` interface (init, handle-message, handle-timer, shutdown, capabilities).
pub const AGENT_EXPORTS: [&str; 1] = [exports::GUEST];

/// Where the runtime keeps its state.
pub struct RuntimeConfig {
    /// Compiled components are cached here; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The kv-store backend shared by all agents.
    pub kv: Arc<dyn KvBackend>,
    /// How many agents the instance pool holds.
    pub pool: engine::PoolSize,
    /// Longest a component may take to compile before its deploy is refused.
    pub compile_timeout: Duration,
    /// Where pending timers are written down; `None` keeps them in memory only.
    pub timer_log: Option<Arc<dyn crate::capability::timers::TimerLog>>,
    /// Where dead letters are written down; `None` keeps them in memory only.
    pub dead_letter_log: Option<Arc<dyn crate::bus::dead_letters::DeadLetterLog>>,
    /// Largest component deployed, in bytes.
    pub max_component_bytes: usize,
    /// Where a span per handled message or timer goes; `None` makes none.
    pub traces: Option<crate::traces::Tracer>,
}

impl RuntimeConfig {
    /// Defaults: no compile cache, a pool of 1,000 agents, a one-minute compile
    /// timeout, components of at most [`component::MAX_COMPONENT_BYTES`].
    pub fn new(kv: Arc<dyn KvBackend>) -> RuntimeConfig {
        RuntimeConfig {
            cache_dir: None,
            kv,
            pool: engine::PoolSize::default(),
            compile_timeout: Duration::from_secs(60),
            timer_log: None,
            dead_letter_log: None,
            max_component_bytes: component::MAX_COMPONENT_BYTES,
            traces: None,
        }
    }
}

/// What removing an agent does with what it stored: its kv-store (its own
/// namespace and its buckets) and its pending timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateOnRemove {
    /// Delete them, so whatever is deployed under the name next starts empty.
    Delete,
    /// Keep them for the next agent deployed under the same name.
    Keep,
}

/// How long a redeployed agent's old version may take to finish its queue.
pub const REDEPLOY_GRACE: Duration = Duration::from_secs(10);

/// Components compiled at once; more deploys wait their turn, so compiling
/// never takes every blocking thread.
pub const PARALLEL_COMPILES: usize = 2;

struct Running {
    cell: Arc<cell::AgentCell>,
    /// Retires the version this one replaced, then releases this one.
    handover: Option<tokio::task::JoinHandle<()>>,
    services: Vec<String>,
    digest: [u8; 32],
}

/// What the runtime reports about a deployed agent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentSummary {
    /// The agent's name.
    pub name: String,
    /// The names of the services it registered.
    pub services: Vec<String>,
    /// The capabilities it is granted.
    pub grants: Vec<&'static str>,
    /// Its limits.
    pub limits: crate::policy::Limits,
    /// Its state and counters.
    pub stats: AgentStats,
    /// Messages waiting in its mailbox now.
    pub mailbox_depth: usize,
}

/// Deploys, runs and removes agents.
pub struct Runtime {
    engine: Engine,
    compiler: Compiler,
    bus: Arc<Bus>,
    kv: Arc<dyn KvBackend>,
    agents: Mutex<HashMap<String, Running>>,
    compiles: tokio::sync::Semaphore,
    timer_log: Option<Arc<dyn crate::capability::timers::TimerLog>>,
    traces: Option<crate::traces::Tracer>,
    compile_timeout_micros: std::sync::atomic::AtomicU64,
    linked: Linked,
    scheduler: scheduler::Scheduler,
    max_component_bytes: usize,
    lifecycle: crate::name_locks::NameLocks,
    /// Agent types and their instances, from the first type deployed.
    types: std::sync::OnceLock<Arc<agent_types::AgentTypes>>,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    /// A runtime with no agents.
    pub fn new(config: RuntimeConfig) -> Result<Runtime, RuntimeError> {
        let engine = engine::new_engine(config.pool).map_err(|e| RuntimeError::Internal(format!("{e:#}")))?;
        let ticker = engine::EpochTicker::start(&engine).map_err(|e| RuntimeError::Internal(e.to_string()))?;
        Ok(Runtime {
            compiler: Compiler::new(engine.clone(), config.cache_dir),
            engine,
            bus: config.dead_letter_log.map_or_else(Bus::new, Bus::with_dead_letter_log),
            kv: config.kv,
            agents: Mutex::new(HashMap::new()),
            compiles: tokio::sync::Semaphore::new(PARALLEL_COMPILES),
            timer_log: config.timer_log,
            traces: config.traces,
            compile_timeout_micros: std::sync::atomic::AtomicU64::new(config.compile_timeout.as_micros() as u64),
            linked: Linked::default(),
            scheduler: scheduler::Scheduler::new().map_err(|e| RuntimeError::Internal(e.to_string()))?,
            max_component_bytes: config.max_component_bytes,
            lifecycle: crate::name_locks::NameLocks::default(),
            types: std::sync::OnceLock::new(),
            _ticker: ticker,
        })
    }

    /// The bus agents and clients send through.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The largest component this runtime deploys, in bytes.
    pub fn max_component_bytes(&self) -> usize {
        self.max_component_bytes
    }

    /// The engine agents run on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Drop what is held in memory for the component with this digest when no
    /// agent in `agents` runs it any more (a later deploy loads it from the
    /// cache directory, or compiles it when there is none).
    fn forget_unused(&self, agents: &HashMap<String, Running>, digest: &[u8; 32]) {
        if !agents.values().any(|r| &r.digest == digest) && !self.types.get().is_some_and(|t| t.uses(digest)) {
            self.linked.forget(digest);
            self.compiler.forget(digest);
        }
    }

    /// How many compiled components this runtime holds in memory.
    pub fn components_in_memory(&self) -> usize {
        self.compiler.in_memory()
    }

    /// How many components this runtime compiled to machine code (rather
    /// than finding them already compiled in memory or in the cache directory).
    pub fn components_compiled(&self) -> u64 {
        self.compiler.compiled()
    }

    /// Whether deadlines are enforced: the epoch ticker is advancing.
    pub fn healthy(&self) -> bool {
        self._ticker.healthy()
    }

    /// Whether `name` is a deployed agent, or an instance (in memory or not) of a deployed agent type.
    pub fn knows(&self, name: &str) -> bool {
        if self.agents.lock().unwrap_or_else(|p| p.into_inner()).contains_key(name) {
            return true;
        }
        name.split_once('/').is_some_and(|(type_name, _)| self.is_agent_type(type_name))
    }

    /// Whether an agent type of this name is deployed.
    pub fn is_agent_type(&self, name: &str) -> bool {
        self.types.get().is_some_and(|t| t.contains(name))
    }

    /// The deployed agents, sorted by name.
    pub fn agents(&self) -> Vec<AgentSummary> {
        let agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<AgentSummary> = agents
            .iter()
            .map(|(name, r)| {
                let env = &r.cell.env;
                AgentSummary {
                    name: name.clone(),
                    services: r.services.clone(),
                    grants: env.spec.grants.names(),
                    limits: env.spec.limits,
                    stats: AgentStats {
                        log_lines_dropped: env.dropped_lines.load(std::sync::atomic::Ordering::Relaxed),
                        ..env.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
                    },
                    mailbox_depth: env.mailbox.depth(),
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// Deploy the agent `spec` describes, reading its component from disk.
    pub async fn deploy(&self, spec: AgentSpec) -> Result<(), RuntimeError> {
        let path = spec.component.clone();
        let agent = spec.name.clone();
        let limit = self.max_component_bytes;
        let bytes = tokio::task::spawn_blocking(move || component::read(&path, limit))
            .await
            .map_err(|e| RuntimeError::Internal(e.to_string()))?
            .map_err(|source| RuntimeError::Component { agent, source })?;
        self.deploy_bytes(spec, bytes).await
    }

    /// Deploy `spec` with the given component bytes: check grants, compile (or
    /// load from cache), link only what is granted, instantiate, `init`,
    /// register its capabilities, and release it to the scheduler.
    pub async fn deploy_bytes(&self, spec: AgentSpec, bytes: Vec<u8>) -> Result<(), RuntimeError> {
        if self.agents.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&spec.name) {
            return Err(RuntimeError::AlreadyDeployed(spec.name));
        }
        self.install(spec, bytes, false).await
    }

    /// Deploy `spec`, replacing the running agent of that name if there is one.
    ///
    /// The new version is compiled, linked and initialised before anything
    /// changes, so a version that fails leaves the old one running. Then new
    /// messages go to the new version's mailbox, the old one finishes what it
    /// already had (for up to [`REDEPLOY_GRACE`]), and only then does the new
    /// one start handling. The kv-store and pending timers carry over.
    pub async fn redeploy_bytes(&self, spec: AgentSpec, bytes: Vec<u8>) -> Result<(), RuntimeError> {
        self.install(spec, bytes, true).await
    }

    async fn install(&self, spec: AgentSpec, bytes: Vec<u8>, replace: bool) -> Result<(), RuntimeError> {
        let name = spec.name.clone();
        let _turn = self.lifecycle.lock(&name).await;
        if let Err(crate::bus::BusError::RunsElsewhere { agent, host }) = self.bus.name_is_free(&name) {
            return Err(RuntimeError::RunsElsewhere { agent, host });
        }
        if !replace && self.agents.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&name) {
            return Err(RuntimeError::AlreadyDeployed(name));
        }
        if self.types.get().is_some_and(|t| t.contains(&name)) {
            return Err(RuntimeError::AlreadyDeployed(name));
        }
        let inherited =
            self.agents.lock().unwrap_or_else(|p| p.into_inner()).get(&name).map(|r| r.cell.env.timers.clone());
        let parts = EnvParts {
            spec: spec.clone(),
            bus: self.bus.clone(),
            kv: self.kv.clone(),
            runtime: tokio::runtime::Handle::current(),
            scheduler: self.scheduler.handle(),
            timer_log: self.timer_log.clone(),
            traces: self.traces.clone(),
            inherited: inherited.filter(|_| replace),
        };
        let Started { cell, capabilities, digest } = match self.start_version(&spec, parts, bytes).await {
            Ok(started) => started,
            Err(e) => {
                // the running version (if any) keeps its timers
                if let Some(running) = self.agents.lock().unwrap_or_else(|p| p.into_inner()).get(&name) {
                    let max_active = running.cell.env.spec.grants.timers.map_or(0, |t| t.max_active);
                    running.cell.env.timers.retarget_back(running.cell.mailbox().clone(), max_active);
                }
                return Err(e);
            }
        };
        let profile: crate::bus::directory::Profile = capabilities.into();
        let services = profile.services.iter().map(|s| s.name.clone()).collect();
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        let previous = agents.remove(&name);
        if previous.is_some() && !replace {
            // a concurrent deploy of the same name won the race
            if let Some(p) = previous {
                agents.insert(name.clone(), p);
            }
            return Err(RuntimeError::AlreadyDeployed(name));
        }
        self.bus.replace(&name, cell.mailbox().clone(), profile, &cell.env.subscriptions);
        let old_digest = previous.as_ref().map(|p| p.digest);
        let handover = match previous {
            None => {
                cell.release();
                None
            }
            Some(old) => {
                // the old version finishes its queue first; the new one's events wait in its mailbox
                let until = tokio::time::Instant::now() + REDEPLOY_GRACE;
                let new = cell.clone();
                Some(tokio::spawn(async move {
                    if let Some(earlier) = old.handover {
                        let _ = earlier.await;
                    }
                    retire(old.cell, Some(until)).await;
                    new.release();
                }))
            }
        };
        agents.insert(name.clone(), Running { cell, handover, services, digest });
        if let Some(old_digest) = old_digest {
            self.forget_unused(&agents, &old_digest);
        }
        drop(agents);
        tracing::info!(agent = %name, replaced = old_digest.is_some(), "deployed");
        let detail = old_digest.is_some().then_some("a new version replaced the running one");
        self.bus.events().lifecycle(&name, crate::events::Change::Deployed, detail);
        Ok(())
    }

    /// Admit, link, instantiate and initialise a new version (see
    /// [`install::blocking`] for where); a new component is compiled first.
    async fn start_version(&self, spec: &AgentSpec, parts: EnvParts, bytes: Vec<u8>) -> Result<Started, RuntimeError> {
        let (linked, compiler) = (self.linked.clone(), self.compiler.clone());
        let limit = self.max_component_bytes;
        let first = move || install::start_if_compiled(&linked, &compiler, parts, bytes, limit);
        match install::blocking(first).await?? {
            Ok(started) => Ok(started),
            Err((bytes, digest, parts)) => {
                let compiled = self.compile(&spec.name, bytes, digest).await?;
                let pre = self.linked.insert(&compiled, &digest, spec)?;
                install::blocking(move || start(parts, pre, digest)).await?
            }
        }
    }

    /// Compile in a bounded worker with a timeout. A compile that times out
    /// keeps its thread until cranelift finishes, but the deploy fails at once.
    async fn compile(&self, agent: &str, bytes: Vec<u8>, digest: [u8; 32]) -> Result<Component, RuntimeError> {
        let _turn = self.compiles.acquire().await.map_err(|e| RuntimeError::Internal(e.to_string()))?;
        let compiler = self.compiler.clone();
        // a large component takes seconds to compile: say so before, and how long after
        let size = format!("{:.1} MB", bytes.len() as f64 / 1e6);
        tracing::info!(agent, size, "compiling the component (not in the compile cache)");
        let started = std::time::Instant::now();
        let job = tokio::task::spawn_blocking(move || compiler.compile_digested(&bytes, &digest));
        let timeout = self.compile_timeout();
        let compiled = match tokio::time::timeout(timeout, job).await {
            Ok(joined) => joined
                .map_err(|e| RuntimeError::Internal(e.to_string()))?
                .map_err(|source| RuntimeError::Component { agent: agent.to_string(), source })?,
            Err(_) => return Err(RuntimeError::CompileTimeout { agent: agent.to_string(), timeout }),
        };
        tracing::info!(agent, elapsed_ms = started.elapsed().as_millis() as u64, "compiled");
        Ok(compiled)
    }

    /// How long a compile may take.
    pub fn compile_timeout(&self) -> Duration {
        Duration::from_micros(self.compile_timeout_micros.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Change how long a compile may take, for deploys from now on.
    pub fn set_compile_timeout(&self, timeout: Duration) {
        let micros = u64::try_from(timeout.as_micros()).unwrap_or(u64::MAX);
        self.compile_timeout_micros.store(micros, std::sync::atomic::Ordering::Relaxed);
    }

    /// Remove an agent: it stops receiving at once, finishes the event in hand,
    /// answers what is still queued with `failure`, and runs `shutdown`; then
    /// its kv-store and pending timers are deleted or kept, as `state` says.
    pub async fn remove(&self, name: &str, state: StateOnRemove) -> Result<(), RuntimeError> {
        let _turn = self.lifecycle.lock(name).await;
        let running = self.agents.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        let Some(running) = running else {
            return Err(RuntimeError::NotDeployed(name.to_string()));
        };
        self.bus.unregister(name);
        self.forget_unused(&self.agents.lock().unwrap_or_else(|p| p.into_inner()), &running.digest);
        running.cell.halt();
        let timers = running.cell.env.timers.clone();
        // in a task of its own, so the agent is retired even if this call is dropped half-way
        let retiring = tokio::spawn(async move {
            if let Some(handover) = running.handover {
                let _ = handover.await;
            }
            retire(running.cell, None).await;
        });
        let _ = retiring.await;
        let detail = if state == StateOnRemove::Delete {
            timers.disarm_all();
            let keys = self.delete_state(name).await?;
            tracing::info!(agent = %name, keys, "removed with its state");
            "removed with its state"
        } else {
            tracing::info!(agent = %name, "removed; its kv-store and timers are kept");
            "removed; its kv-store and timers are kept"
        };
        self.bus.events().lifecycle(name, crate::events::Change::Removed, Some(detail));
        Ok(())
    }

    /// Delete what agent `name` left behind: its kv-store (buckets included)
    /// and the pending timers the timer log holds for it; how many keys went.
    /// For an agent that is not running (the platform removes a remembered agent that could not be restored).
    pub async fn delete_state(&self, name: &str) -> Result<u64, RuntimeError> {
        if let Some(log) = &self.timer_log {
            for (id, _) in log.pending(name) {
                log.disarmed(name, id);
            }
        }
        let (kv, owner) = (self.kv.clone(), name.to_string());
        let cleared = tokio::task::spawn_blocking(move || kv.clear(&owner)).await;
        let cleared = cleared.map_err(|e| RuntimeError::Internal(e.to_string()))?;
        cleared.map_err(|source| RuntimeError::Storage { agent: name.to_string(), source })
    }

    /// Stop every agent: no new messages are accepted, what is already queued
    /// is handled for up to `grace` (then answered with `failure`), and each
    /// agent's `shutdown` runs.
    pub async fn shutdown(&self, grace: Duration) {
        let running: Vec<(String, Running)> = self.agents.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        let until = tokio::time::Instant::now() + grace;
        let mut done = Vec::new();
        for (name, r) in running {
            self.bus.unregister(&name);
            done.push(tokio::spawn(async move {
                if let Some(handover) = r.handover {
                    let _ = handover.await;
                }
                retire(r.cell, Some(until)).await;
            }));
        }
        if let Some(types) = self.types.get() {
            done.extend(types.retire_all(until));
        }
        for d in done {
            let _ = d.await;
        }
    }
}

/// Stop an agent's cell: let it finish what is queued until `drain_until`
/// (if given; otherwise it stops after the event in hand), answer what is
/// left with a `failure` (reason `removed`), and call its `shutdown`.
async fn retire(cell: Arc<cell::AgentCell>, drain_until: Option<tokio::time::Instant>) {
    if let Some(until) = drain_until {
        cell.drained(until).await;
    }
    cell.mailbox().close();
    cell.halt();
    cell.settled().await;
    let instance = cell.stop();
    // until every slot is free: a sender that reserved one before the close may still be queuing into it
    loop {
        while let Some(event) = cell.mailbox().pop() {
            cell.refuse_removed(event);
        }
        if cell.mailbox().depth() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    if let cell::Instance::Live(agent) = instance {
        let _ = tokio::task::spawn_blocking(move || agent.shutdown()).await;
    }
}
