//! One agent's store and instance: creating them and calling the exports under
//! the agent's limits (memory, fuel, epoch deadline, host calls, hostcall fuel).
//!
//! A failed call is described by a [`CallFailure`]; deciding what happens next
//! (reply, restart, back off, quarantine) is the actor's job.

use super::engine::{deadline_ticks, MemoryLimiter, FUEL_PER_MICRO};
use super::stats::AgentStats;
use super::RuntimeError;
use crate::acl::{Message, Performative};
use crate::bindings::caxton::agent::types::AgentProfile;
use crate::bindings::{Agent, AgentPre};
use crate::bus::{Bus, Event, Mailbox};
use crate::capability::baseline::{BlockedPastDeadline, DeadlinePoll};
use crate::capability::{
    kv_store::KvStoreCtx, logging::LoggingCtx, messaging::MessagingCtx, timers::TimersCtx, AgentHost,
};
use crate::policy::{AgentSpec, LogLevel};
use crate::store::KvBackend;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{CallHook, Store, StoreContextMut, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Most resource handles (streams, pollables, …) an agent may hold at once.
pub const MAX_RESOURCES: usize = 4_096;

/// Everything needed to (re)create an agent's store.
#[derive(Clone)]
pub struct AgentEnv {
    /// The agent as deployed.
    pub spec: AgentSpec,
    /// The bus it sends through.
    pub bus: Arc<Bus>,
    /// Where its kv-store lives.
    pub kv: Arc<dyn KvBackend>,
    /// Its own mailbox, for timers.
    pub mailbox: Mailbox,
    /// The tokio runtime timers run on.
    pub runtime: tokio::runtime::Handle,
    /// Its statistics, kept across restarts.
    pub stats: Arc<Mutex<AgentStats>>,
    /// Output lines dropped over the log budget, kept across restarts.
    pub dropped_lines: Arc<std::sync::atomic::AtomicU64>,
    /// Its timers, kept across restarts.
    pub timers: Arc<crate::capability::timers::AgentTimers>,
    /// Its topic subscriptions, staged while its `init` runs before registration.
    pub subscriptions: crate::bus::topics::Staged,
}

impl AgentEnv {
    /// Update the statistics.
    pub fn stats(&self, f: impl FnOnce(&mut AgentStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The data of an agent's wasmtime store.
pub struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    messaging: MessagingCtx,
    timers: TimersCtx,
    kv_store: KvStoreCtx,
    logging: LoggingCtx,
    limiter: MemoryLimiter,
    host_calls: u64,
    host_call_limit: u64,
    deadline: Instant,
}

impl AgentState {
    fn new(env: &AgentEnv) -> Result<AgentState, String> {
        let spec = &env.spec;
        let grants = &spec.grants;
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let wasi =
            crate::capability::baseline::inert_ctx(&spec.name, env.dropped_lines.clone(), grants.filesystem.as_ref())?;
        Ok(AgentState {
            wasi,
            table,
            messaging: MessagingCtx::new(
                &spec.name,
                env.bus.clone(),
                grants.messaging.clone(),
                &spec.limits,
                env.subscriptions.clone(),
            ),
            timers: TimersCtx::new(env.timers.clone()),
            kv_store: KvStoreCtx::new(&spec.name, env.kv.clone(), grants.kv_store.clone()),
            logging: LoggingCtx::new(&spec.name, grants.logging.map_or(LogLevel::Critical, |l| l.max_level)),
            limiter: MemoryLimiter::new(spec.limits.memory_bytes),
            host_calls: 0,
            host_call_limit: spec.limits.host_calls_per_message,
            deadline: Instant::now(),
        })
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl AgentHost for AgentState {
    fn messaging(&mut self) -> &mut MessagingCtx {
        &mut self.messaging
    }
    fn timers(&mut self) -> &mut TimersCtx {
        &mut self.timers
    }
    fn kv_store(&mut self) -> &mut KvStoreCtx {
        &mut self.kv_store
    }
    fn logging(&mut self) -> &mut LoggingCtx {
        &mut self.logging
    }
    fn keyvalue(&mut self) -> crate::capability::keyvalue::KeyValue<'_> {
        crate::capability::keyvalue::KeyValue { kv: &mut self.kv_store, table: &mut self.table }
    }
    fn deadline_poll(&mut self) -> DeadlinePoll<'_> {
        DeadlinePoll { table: &mut self.table, deadline: self.deadline }
    }
}

/// The error a call hook raises when an agent makes too many host calls.
#[derive(Debug, thiserror::Error)]
#[error("host-call limit of {0} per message exceeded")]
pub struct HostCallLimit(pub u64);

/// Count calls from the guest into the host; past the limit, trap.
fn count_host_calls(mut ctx: StoreContextMut<'_, AgentState>, hook: CallHook) -> wasmtime::Result<()> {
    if matches!(hook, CallHook::CallingHost) {
        let state = ctx.data_mut();
        state.host_calls += 1;
        if state.host_calls > state.host_call_limit {
            return Err(wasmtime::Error::new(HostCallLimit(state.host_call_limit)));
        }
    }
    Ok(())
}

/// Why a call into the agent did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// Machine-readable reason: `handler-error`, `deadline`, `cpu-limit`,
    /// `memory-limit`, `host-call-limit`, `message-too-large`, `resource-limit`,
    /// `trap`, `host-panic`, `quarantined` or `removed`.
    pub reason: &'static str,
    /// A sentence naming the cause.
    pub message: String,
    /// Whether the instance is poisoned and must be replaced.
    pub poisoned: bool,
}

impl CallFailure {
    /// A failure that poisons the instance.
    pub fn poisoned(reason: &'static str, message: String) -> CallFailure {
        CallFailure { reason, message, poisoned: true }
    }
}

/// A running instance of an agent.
pub struct LiveAgent {
    env: AgentEnv,
    store: Store<AgentState>,
    agent: Agent,
}

impl LiveAgent {
    /// Instantiate the agent and run its `init`, both under the per-message limits.
    pub fn start(env: AgentEnv, pre: &AgentPre<AgentState>) -> Result<LiveAgent, RuntimeError> {
        let name = env.spec.name.clone();
        let state =
            AgentState::new(&env).map_err(|message| RuntimeError::Instantiate { agent: name.clone(), message })?;
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.call_hook(count_host_calls);
        let limits = env.spec.limits;
        store.set_hostcall_fuel(limits.message_bytes.max(2 * 1024 * 1024) as usize);
        store.set_max_component_handles(MAX_RESOURCES);
        arm(&mut store, &env.spec);
        let agent = pre.instantiate(&mut store).map_err(|e| RuntimeError::Instantiate {
            agent: name.clone(),
            message: describe(&e, &mut store, &env.spec).message,
        })?;
        let mut live = LiveAgent { env, store, agent };
        live.call("init", |a, s| a.caxton_agent_guest().call_init(s))
            .and_then(|r| r.map_err(|m| CallFailure { reason: "handler-error", message: m, poisoned: false }))
            .map_err(|f| RuntimeError::Init { agent: name, message: f.message })?;
        Ok(live)
    }

    /// The agent's self-description, from its `capabilities` export.
    pub fn capabilities(&mut self) -> Result<AgentProfile, CallFailure> {
        self.call("capabilities", |a, s| a.caxton_agent_guest().call_capabilities(s))
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.env.spec.name
    }

    /// Handle one mailbox event; returns the failure, if any. A failed message
    /// is answered with a `failure` and dead-lettered (at most once: it is not retried).
    pub fn handle(&mut self, event: Event) -> Option<CallFailure> {
        let (outcome, request) = match event {
            Event::Message(msg) => {
                self.env.stats(|s| s.messages += 1);
                let hops = msg.hops;
                self.store.data_mut().messaging.set_hops(hops);
                let wit_msg: crate::bindings::caxton::agent::types::Message = (*msg).into();
                let outcome =
                    self.call("handle-message", |a, s| a.caxton_agent_guest().call_handle_message(s, &wit_msg));
                // the message goes back to host form only when a failure must answer it
                let request = match outcome {
                    Ok(Ok(())) => None,
                    _ => Some(Message { hops, ..wit_msg.into() }),
                };
                (outcome, request)
            }
            Event::Timer(id) => {
                if !self.store.data_mut().timers.take_fired(id) {
                    return None;
                }
                self.env.stats(|s| s.timers += 1);
                self.store.data_mut().messaging.set_hops(0);
                (self.call("handle-timer", |a, s| a.caxton_agent_guest().call_handle_timer(s, id)), None)
            }
        };
        let failure = match outcome {
            Ok(Ok(())) => return None,
            Ok(Err(message)) => {
                self.env.stats(|s| s.failed("handler-error"));
                CallFailure { reason: "handler-error", message, poisoned: false }
            }
            Err(failure) => failure, // counted by `call`
        };
        if let Some(request) = request {
            fail_message(&self.env, &request, &failure);
        }
        Some(failure)
    }

    /// Call `shutdown`, ignoring its outcome (the agent is going away).
    pub fn shutdown(mut self) {
        let _ = self.call("shutdown", |a, s| a.caxton_agent_guest().call_shutdown(s));
    }

    fn call<R>(
        &mut self,
        export: &str,
        f: impl FnOnce(&Agent, &mut Store<AgentState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallFailure> {
        let budget = arm(&mut self.store, &self.env.spec);
        let started = Instant::now();
        let result = f(&self.agent, &mut self.store);
        let fuel = budget.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let memory = self.store.data().limiter.used() as u64;
        let took = started.elapsed();
        let result = result.map_err(|e| {
            let mut failure = describe(&e, &mut self.store, &self.env.spec);
            failure.message = format!("`{export}` failed: {}", failure.message);
            failure
        });
        // one update, so a reader never sees the call finished but its failure not yet counted
        self.env.stats(|s| {
            s.observe_call(took, fuel, memory);
            if let Err(failure) = &result {
                s.failed(failure.reason);
            }
        });
        result
    }
}

/// Answer `request` with a `failure` naming the cause (unless it was itself a
/// failure or not-understood: answering those could loop) and dead-letter it.
/// (Counting the failure is the caller's job.)
pub fn fail_message(env: &AgentEnv, request: &Message, failure: &CallFailure) {
    use crate::bus::dead_letters::Reason;
    let name = &env.spec.name;
    tracing::warn!(agent = %name, reason = failure.reason, "{}", failure.message);
    let reason = if failure.reason == "removed" { Reason::Removed } else { Reason::ReceiverFailed };
    let detail = format!("{} ({})", failure.message, failure.reason);
    env.bus.dead_letter(reason, name, detail, request.clone());
    if !matches!(request.performative, Performative::Failure | Performative::NotUnderstood) {
        let content = serde_json::json!({ "error": failure.message, "reason": failure.reason });
        let reply = request.host_reply(Performative::Failure, content.to_string());
        if let Err(e) = env.bus.send(name, reply) {
            tracing::debug!(agent = %name, "cannot deliver failure reply: {e}");
        }
    }
}

/// Arm the per-message limits; returns the fuel budget.
fn arm(store: &mut Store<AgentState>, spec: &AgentSpec) -> u64 {
    let limits = spec.limits;
    store.set_epoch_deadline(deadline_ticks(Duration::from_micros(limits.deadline_micros)));
    let budget = limits.cpu_micros_per_message.saturating_mul(FUEL_PER_MICRO);
    let _ = store.set_fuel(budget);
    let state = store.data_mut();
    state.deadline = Instant::now() + Duration::from_micros(limits.deadline_micros);
    state.host_calls = 0;
    state.limiter.take_refused();
    budget
}

/// Turn a wasmtime error into a failure reason and a sentence.
fn describe(e: &wasmtime::Error, store: &mut Store<AgentState>, spec: &AgentSpec) -> CallFailure {
    let limiter = &mut store.data_mut().limiter;
    if limiter.take_refused() {
        return CallFailure::poisoned("memory-limit", format!("memory limit of {} bytes exceeded", limiter.limit()));
    }
    if let Some(limit) = e.downcast_ref::<HostCallLimit>() {
        return CallFailure::poisoned("host-call-limit", limit.to_string());
    }
    let limits = spec.limits;
    let text = format!("{e:#}");
    if e.downcast_ref::<wasmtime::component::ResourceTableError>().is_some()
        || text.contains("resource table has no free keys")
    {
        return CallFailure::poisoned(
            "resource-limit",
            format!("the agent holds more than {MAX_RESOURCES} resource handles"),
        );
    }
    if text.contains("fuel allocated for hostcalls has been exhausted") {
        return CallFailure::poisoned(
            "message-too-large",
            format!(
                "the agent passed the host more data in one call than allowed (message limit {} bytes)",
                limits.message_bytes
            ),
        );
    }
    if e.downcast_ref::<BlockedPastDeadline>().is_some() {
        return CallFailure::poisoned(
            "deadline",
            format!("deadline of {} µs per message exceeded while blocked in a host call", limits.deadline_micros),
        );
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            CallFailure::poisoned("deadline", format!("deadline of {} µs per message exceeded", limits.deadline_micros))
        }
        Some(Trap::OutOfFuel) => CallFailure::poisoned(
            "cpu-limit",
            format!("CPU limit of {} µs per message exceeded", limits.cpu_micros_per_message),
        ),
        Some(Trap::StackOverflow) => CallFailure::poisoned("trap", "the agent overflowed its stack".into()),
        Some(trap) => CallFailure::poisoned("trap", format!("the agent trapped: {trap}")),
        None => CallFailure::poisoned("trap", format!("{e:#}")),
    }
}
