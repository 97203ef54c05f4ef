//! One agent's store and instance: creating them, calling the exports under
//! the agent's limits, and replacing them after a trap.

use super::engine::{deadline_ticks, MemoryLimiter};
use super::RuntimeError;
use crate::acl::{Message, Performative};
use crate::bindings::caxton::agent::types::Capabilities;
use crate::bindings::{Agent, AgentPre};
use crate::bus::dead_letters::Reason;
use crate::bus::{Bus, Event, Mailbox};
use crate::capability::{
    kv_store::KvStoreCtx, logging::LoggingCtx, messaging::MessagingCtx, timers::TimersCtx, AgentHost,
};
use crate::policy::{AgentSpec, LogLevel};
use crate::store::KvBackend;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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
}

impl AgentState {
    fn new(env: &AgentEnv) -> AgentState {
        let spec = &env.spec;
        let grants = &spec.grants;
        AgentState {
            wasi: crate::capability::baseline::inert_ctx(&spec.name),
            table: ResourceTable::new(),
            messaging: MessagingCtx::new(
                &spec.name,
                env.bus.clone(),
                grants.messaging.clone(),
                spec.limits.message_bytes,
            ),
            timers: TimersCtx::new(env.mailbox.clone(), env.runtime.clone(), grants.timers.map_or(0, |t| t.max_active)),
            kv_store: KvStoreCtx::new(&spec.name, env.kv.clone(), grants.kv_store),
            logging: LoggingCtx::new(&spec.name, grants.logging.map_or(LogLevel::Critical, |l| l.max_level)),
            limiter: MemoryLimiter::new(spec.limits.memory_bytes),
        }
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
}

/// Why a call into the agent did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    /// Machine-readable reason: `handler-error`, `deadline`, `memory-limit` or `trap`.
    pub reason: &'static str,
    /// A sentence naming the cause.
    pub message: String,
    /// Whether the instance is poisoned and must be replaced.
    pub poisoned: bool,
}

/// A running instance of an agent.
pub struct LiveAgent {
    env: AgentEnv,
    pre: AgentPre<AgentState>,
    store: Store<AgentState>,
    agent: Agent,
}

impl LiveAgent {
    /// Instantiate the agent and run its `init`.
    pub fn start(env: AgentEnv, pre: AgentPre<AgentState>) -> Result<LiveAgent, RuntimeError> {
        let name = env.spec.name.clone();
        let mut store = Store::new(pre.engine(), AgentState::new(&env));
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(deadline_ticks(Duration::from_micros(env.spec.limits.deadline_micros)));
        let agent = pre.instantiate(&mut store).map_err(|e| RuntimeError::Instantiate {
            agent: name.clone(),
            message: describe(&e, &mut store, &env.spec).message,
        })?;
        let mut live = LiveAgent { env, pre, store, agent };
        live.call("init", |a, s| a.call_init(s))
            .and_then(|r| r.map_err(|m| CallFailure { reason: "handler-error", message: m, poisoned: false }))
            .map_err(|f| RuntimeError::Init { agent: name, message: f.message })?;
        Ok(live)
    }

    /// The agent's self-description, from its `capabilities` export.
    pub fn capabilities(&mut self) -> Result<Capabilities, CallFailure> {
        self.call("capabilities", |a, s| a.call_capabilities(s))
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.env.spec.name
    }

    /// Handle one mailbox event. A failed message is answered with a `failure`
    /// to its sender; a poisoned instance is replaced by a fresh one.
    pub fn handle(&mut self, event: Event) {
        let (outcome, request) = match event {
            Event::Message(msg) => {
                self.store.data_mut().messaging.set_hops(msg.hops);
                let wit_msg = (*msg).clone().into();
                let r = self.call("handle-message", |a, s| a.call_handle_message(s, &wit_msg));
                (r, Some(msg))
            }
            Event::Timer(id) => {
                if !self.store.data_mut().timers.take_fired(id) {
                    return;
                }
                self.store.data_mut().messaging.set_hops(0);
                (self.call("handle-timer", |a, s| a.call_handle_timer(s, id)), None)
            }
        };
        let failure = match outcome {
            Ok(Ok(())) => return,
            Ok(Err(message)) => CallFailure { reason: "handler-error", message, poisoned: false },
            Err(failure) => failure,
        };
        tracing::warn!(agent = %self.name(), reason = failure.reason, "{}", failure.message);
        if let Some(request) = request {
            self.reply_failure(&request, &failure);
            let detail = format!("{} ({})", failure.message, failure.reason);
            self.env.bus.dead_letter(Reason::ReceiverFailed, self.name(), detail, *request);
        }
        if failure.poisoned {
            self.restart();
        }
    }

    /// Answer `request` with a `failure` naming the cause, unless it was itself
    /// a failure or not-understood (answering those could loop).
    pub fn reply_failure(&self, request: &Message, failure: &CallFailure) {
        if matches!(request.performative, Performative::Failure | Performative::NotUnderstood) {
            return;
        }
        let content = serde_json::json!({ "error": failure.message, "reason": failure.reason });
        let reply = request.host_reply(Performative::Failure, content.to_string());
        if let Err(e) = self.env.bus.send(self.name(), reply) {
            tracing::warn!(agent = %self.name(), "cannot deliver failure reply: {e}");
        }
    }

    /// Call `shutdown`, ignoring its outcome (the agent is going away).
    pub fn shutdown(mut self) {
        let _ = self.call("shutdown", |a, s| a.call_shutdown(s));
    }

    fn restart(&mut self) {
        match LiveAgent::start(self.env.clone(), self.pre.clone()) {
            Ok(fresh) => *self = fresh,
            Err(e) => tracing::error!(agent = %self.name(), "cannot restart after a trap: {e}"),
        }
    }

    fn call<R>(
        &mut self,
        export: &str,
        f: impl FnOnce(&Agent, &mut Store<AgentState>) -> wasmtime::Result<R>,
    ) -> Result<R, CallFailure> {
        let limits = self.env.spec.limits;
        self.store.set_epoch_deadline(deadline_ticks(Duration::from_micros(limits.deadline_micros)));
        self.store.data_mut().limiter.take_refused();
        let result = f(&self.agent, &mut self.store);
        result.map_err(|e| {
            let mut failure = describe(&e, &mut self.store, &self.env.spec);
            failure.message = format!("`{export}` failed: {}", failure.message);
            failure
        })
    }
}

/// Turn a wasmtime error into a failure reason and a sentence.
fn describe(e: &wasmtime::Error, store: &mut Store<AgentState>, spec: &AgentSpec) -> CallFailure {
    let limiter = &mut store.data_mut().limiter;
    if limiter.take_refused() {
        return CallFailure {
            reason: "memory-limit",
            message: format!("memory limit of {} bytes exceeded", limiter.limit()),
            poisoned: true,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallFailure {
            reason: "deadline",
            message: format!("deadline of {} µs per message exceeded", spec.limits.deadline_micros),
            poisoned: true,
        },
        Some(trap) => CallFailure { reason: "trap", message: format!("the agent trapped: {trap}"), poisoned: true },
        None => CallFailure { reason: "trap", message: format!("{e:#}"), poisoned: true },
    }
}
