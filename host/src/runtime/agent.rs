//! One agent's store and instance: creating them and calling the exports under
//! the agent's limits (memory, fuel, epoch deadline, host calls, hostcall fuel).
//!
//! A failed call is described by a [`CallFailure`]; deciding what happens next
//! (reply, restart, back off, quarantine) is the cell's and supervision's job.

use super::engine::{deadline_ticks, MemoryLimiter, FUEL_PER_MICRO};
use super::failure::{classify, CallFailure, FailureReason, HostCallLimit, Observed};
use super::stats::AgentStats;
use super::RuntimeError;
use crate::acl::trace::TraceContext;
use crate::acl::{Message, Performative};
use crate::bindings::caxton::agent::types::{AgentProfile, Message as WitMessage};
use crate::bindings::{Agent, AgentPre};
use crate::bus::mailbox::Mailbox;
use crate::bus::{Bus, Event};
use crate::capability::baseline::DeadlinePoll;
use crate::capability::{
    kv_store::KvStoreCtx, logging::LoggingCtx, messaging::MessagingCtx, timers::TimersCtx, AgentHost,
};
use crate::policy::{AgentSpec, LogLevel};
use crate::store::KvBackend;
use crate::traces::Handling;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::{CallHook, Store, StoreContextMut};
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
    /// Its own mailbox.
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
    /// Where the spans of the events it handles go, if anywhere.
    pub traces: Option<crate::traces::Tracer>,
}

impl AgentEnv {
    /// Update the statistics.
    pub fn stats(&self, f: impl FnOnce(&mut AgentStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Count `failure` in the statistics and publish it on the event stream.
    pub fn failed(&self, failure: &CallFailure) {
        self.stats(|s| s.failed(failure.reason));
        self.published(failure);
    }

    /// Publish `failure` (already counted) on the event stream.
    fn published(&self, failure: &CallFailure) {
        self.bus.events().failure(&self.spec.name, failure.reason.as_str(), &failure.message);
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
        let wasi = crate::capability::baseline::inert_ctx(
            &spec.name,
            env.dropped_lines.clone(),
            grants.filesystem.as_ref(),
            env.bus.events().clone(),
        )?;
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
            logging: LoggingCtx::new(
                &spec.name,
                grants.logging.map_or(LogLevel::Critical, |l| l.max_level),
                env.bus.events().clone(),
            ),
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

/// An event that failed: why, and the message to answer (none for a timer).
pub struct Failed {
    /// Why.
    pub failure: CallFailure,
    /// The message it failed, in host form.
    pub request: Option<Message>,
}

/// A message in its receiver's hands, in the guest's form. The cell's note of
/// the event in hand shares it (to answer it if the call is abandoned), so
/// handling a message copies none of it.
pub struct Delivery {
    message: WitMessage,
    hops: u32,
    trace: Option<TraceContext>,
}

impl Delivery {
    /// The message in host form (a copy: for answering a failure and dead-lettering it).
    pub fn message(&self) -> Message {
        Message { hops: self.hops, trace: self.trace, ..self.message.clone().into() }
    }
}

/// What the agent handles next (see [`LiveAgent::prepare`]).
enum Work {
    Message(Arc<Delivery>),
    Timer(u64),
}

/// An event ready to be handled, with the span it is handled in.
pub struct Prepared {
    work: Work,
    span: Handling,
}

impl Prepared {
    /// The message, shared; none for a timer.
    pub fn delivery(&self) -> Option<Arc<Delivery>> {
        match &self.work {
            Work::Message(delivery) => Some(delivery.clone()),
            Work::Timer(_) => None,
        }
    }
}

/// Which counter of the agent's statistics a call adds to.
#[derive(Clone, Copy)]
enum Counted {
    Message,
    Timer,
    Neither,
}

/// A running instance of an agent.
pub struct LiveAgent {
    env: AgentEnv,
    store: Store<AgentState>,
    agent: Agent,
    /// Fuel the last export call burned.
    last_fuel: u64,
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
        // above the resource table's own cap, so that cap (a typed error) is what an agent meets
        store.set_max_component_handles(2 * MAX_RESOURCES);
        arm(&mut store, &env.spec, deadline_from_now(&limits), Instant::now());
        let agent = match pre.instantiate(&mut store) {
            Ok(agent) => agent,
            Err(e) => {
                let failure = failure_of(e, &mut store, &env.spec);
                return Err(RuntimeError::Instantiate { agent: name, message: failure.message });
            }
        };
        let mut live = LiveAgent { env, store, agent, last_fuel: 0 };
        let deadline = deadline_from_now(&limits);
        live.call("init", Counted::Neither, deadline, |a, s| a.caxton_agent_guest().call_init(s))
            .and_then(|r| r.map_err(|m| CallFailure::new(FailureReason::HandlerError, m)))
            .map_err(|f| RuntimeError::Init { agent: name, message: f.message })?;
        Ok(live)
    }

    /// The agent's self-description, from its `capabilities` export.
    pub fn capabilities(&mut self) -> Result<AgentProfile, CallFailure> {
        let deadline = deadline_from_now(&self.env.spec.limits);
        self.call("capabilities", Counted::Neither, deadline, |a, s| a.caxton_agent_guest().call_capabilities(s))
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.env.spec.name
    }

    /// Ready `event` for [`LiveAgent::handle`]: its span opened, the cause of
    /// what the agent sends meanwhile set, a message moved into the guest's
    /// form; none for a timer cancelled since it fired.
    pub fn prepare(&mut self, event: Event) -> Option<Prepared> {
        match event {
            Event::Message(msg) => {
                let span = Handling::message(self.env.traces.as_ref(), &self.env.spec.name, &msg);
                self.store.data_mut().messaging.set_cause(msg.hops, span.context_for_sends(msg.trace));
                let (hops, trace) = (msg.hops, msg.trace);
                let delivery = Delivery { message: (*msg).into(), hops, trace };
                Some(Prepared { work: Work::Message(Arc::new(delivery)), span })
            }
            Event::Timer(id) => {
                if !self.store.data_mut().timers.take_fired(id) {
                    return None;
                }
                let span = Handling::timer(self.env.traces.as_ref(), &self.env.spec.name, id);
                self.store.data_mut().messaging.set_cause(0, span.context_for_sends(None));
                Some(Prepared { work: Work::Timer(id), span })
            }
        }
    }

    /// Handle a prepared event by `deadline`; returns the failure, if any,
    /// with the message it failed (for the caller to answer with a `failure`
    /// and dead-letter, unless the call was abandoned and answered already).
    pub fn handle(&mut self, prepared: Prepared, deadline: Instant) -> Option<Failed> {
        let Prepared { work, span } = prepared;
        let (outcome, request) = match work {
            Work::Message(delivery) => {
                let outcome = self.call("handle-message", Counted::Message, deadline, |a, s| {
                    a.caxton_agent_guest().call_handle_message(s, &delivery.message)
                });
                // the message goes back to host form only when a failure must answer it
                let request = match outcome {
                    Ok(Ok(())) => None,
                    _ => Some(delivery.message()),
                };
                (outcome, request)
            }
            Work::Timer(id) => {
                let outcome = self.call("handle-timer", Counted::Timer, deadline, |a, s| {
                    a.caxton_agent_guest().call_handle_timer(s, id)
                });
                (outcome, None)
            }
        };
        let failure = match outcome {
            Ok(Ok(())) => {
                span.finish(self.last_fuel, None);
                return None;
            }
            Ok(Err(message)) => {
                let failure = CallFailure::new(FailureReason::HandlerError, message);
                self.env.failed(&failure);
                failure
            }
            Err(failure) => failure, // counted by `call`
        };
        span.finish(self.last_fuel, Some(failure.reason.as_str()));
        Some(Failed { failure, request })
    }

    /// Call `shutdown`, ignoring its outcome (the agent is going away).
    pub fn shutdown(mut self) {
        let deadline = deadline_from_now(&self.env.spec.limits);
        let _ = self.call("shutdown", Counted::Neither, deadline, |a, s| a.caxton_agent_guest().call_shutdown(s));
    }

    fn call<R>(
        &mut self,
        export: &str,
        counted: Counted,
        deadline: Instant,
        f: impl FnOnce(&Agent, &mut Store<AgentState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallFailure> {
        // counted before the call: whoever gets the guest's answer sees its message counted
        match counted {
            Counted::Message => self.env.stats(|s| s.messages += 1),
            Counted::Timer => self.env.stats(|s| s.timers += 1),
            Counted::Neither => {}
        }
        let started = Instant::now();
        let budget = arm(&mut self.store, &self.env.spec, deadline, started);
        let result = f(&self.agent, &mut self.store);
        let fuel = budget.saturating_sub(self.store.get_fuel().unwrap_or(0));
        self.last_fuel = fuel;
        let memory = self.store.data().limiter.used() as u64;
        let took = started.elapsed();
        let result = result.map_err(|e| {
            let mut failure = failure_of(e, &mut self.store, &self.env.spec);
            failure.message = format!("`{export}` failed: {}", failure.message);
            failure
        });
        // one update, so a reader never sees the call finished but its failure not yet counted
        self.env.stats(|s| {
            s.observe_call(started, took, fuel, memory);
            if let Err(failure) = &result {
                s.failed(failure.reason);
            }
        });
        if let Err(failure) = &result {
            self.env.published(failure);
        }
        result
    }
}

/// When an event (or any export call) that starts now must end: the one
/// place a deadline is decided. The epoch deadline, blocking host calls and
/// the monitor's check of calls stuck in the host all end there.
pub fn deadline_from_now(limits: &crate::policy::Limits) -> Instant {
    Instant::now() + Duration::from_micros(limits.deadline_micros)
}

/// Answer `request` with a `failure` naming the cause (unless it was itself a
/// failure or not-understood: answering those could loop) and dead-letter it.
/// (Counting the failure is the caller's job.)
pub fn fail_message(env: &AgentEnv, request: &Message, failure: &CallFailure) {
    use crate::bus::dead_letters::Reason;
    let name = &env.spec.name;
    // the whole error (a trap's wasm backtrace) for the operator, on one line
    let error = failure.source.as_ref().map(|source| crate::printable::neutralise(&format!("{source:#}")));
    tracing::warn!(agent = %name, reason = failure.reason.as_str(), error, "{}", failure.message);
    let reason = if failure.reason == FailureReason::Removed { Reason::Removed } else { Reason::ReceiverFailed };
    let detail = format!("{} ({})", failure.message, failure.reason);
    env.bus.dead_letter(reason, name, detail, request.clone());
    if !matches!(request.performative, Performative::Failure | Performative::NotUnderstood) {
        let content = serde_json::json!({ "error": failure.message, "reason": failure.reason.as_str() });
        let reply = request.host_reply(Performative::Failure, content.to_string());
        if let Err(e) = env.bus.send_host_reply(name, reply, crate::protocol::HostEnding::Failed) {
            tracing::debug!(agent = %name, "cannot deliver failure reply: {e}");
        }
    }
}

/// Arm the per-message limits for a call that must end by `deadline` (the
/// epoch deadline and blocking host calls both end there); returns the fuel budget.
fn arm(store: &mut Store<AgentState>, spec: &AgentSpec, deadline: Instant, now: Instant) -> u64 {
    let limits = spec.limits;
    store.set_epoch_deadline(deadline_ticks(deadline.saturating_duration_since(now)));
    let budget = limits.cpu_micros_per_message.saturating_mul(FUEL_PER_MICRO);
    let _ = store.set_fuel(budget);
    let state = store.data_mut();
    state.deadline = deadline;
    state.host_calls = 0;
    state.limiter.take_refused();
    budget
}

/// The failure a wasmtime error from a call into the agent stands for.
fn failure_of(e: wasmtime::Error, store: &mut Store<AgentState>, spec: &AgentSpec) -> CallFailure {
    let limiter = &mut store.data_mut().limiter;
    let observed = Observed {
        memory_refused: limiter.take_refused(),
        memory_limit: limiter.limit(),
        max_resources: MAX_RESOURCES,
    };
    classify(e, &observed, &spec.limits)
}
