//! Agent types and their instances (virtual agents): an instance `TYPE/KEY`
//! exists from its first event and leaves memory when idle, keeping its
//! kv-store namespace and its timers.
//!
//! - **Activation** ([`AgentTypes::activate`], called by the bus for a
//!   receiver it does not hold): a mailbox is registered for the instance at
//!   once, so what arrives meanwhile queues in order. When nothing else is
//!   under way for the name and there is room under `max-active`, the
//!   instance is released at once and its first batch, on the worker that
//!   takes its first message, instantiates it from the type's linked
//!   component (never compiling), runs `init` and handles the message; else
//!   a task first waits for its turn (a passivation of the same name
//!   finishing its `shutdown`) and for room. A failing start answers every
//!   queued message with a `failure` (`init-failed`) naming the cause.
//! - **Passivation**: a sweeper per type passivates an instance that has had
//!   no event for `idle-after-ms`; a start beyond `max-active` waits while the
//!   sweeper passivates the least recently used idle instance for it. Passivating takes the
//!   instance off the bus only while nothing is queued or reserved in its
//!   mailbox ([`crate::bus::Bus::passivate`]), then runs its `shutdown`.
//! - **Reminders**: the timers of a passivated instance stay armed (and in
//!   the timer log); one that falls due activates the instance, which takes
//!   them over. After a restart, the logged timers of every instance of a
//!   type are armed again when the type is deployed.
//! - **In a cluster** the bus sends a message for an instance to the host it
//!   is placed on (`crate::cluster::presence`); an instance held here that is
//!   placed on another host now (a host that runs its type joined) is
//!   passivated by the sweeper once idle, as an idle one is.

use super::agent::LiveAgent;
use super::cell::{AgentCell, Instance, Turn};
use super::install::{self, EnvParts};
use super::stats::Histogram;
use crate::bindings::AgentPre;
use crate::bus::activation::Activated;
use crate::bus::Bus;
use crate::capability::timers::AgentTimers;
use crate::policy::types::{split_instance, AgentTypeSpec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use tokio::time::Instant;

mod sweeper;
use sweeper::sweep;

/// What an instance is made from, besides its type: shared by all types.
pub(super) struct Parts {
    pub(super) bus: Arc<Bus>,
    pub(super) kv: Arc<dyn crate::store::KvBackend>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) scheduler: super::scheduler::Handle,
    pub(super) timer_log: Option<Arc<dyn crate::capability::timers::TimerLog>>,
    pub(super) traces: Option<crate::traces::Tracer>,
}

/// The agent types of a runtime and their active instances.
pub struct AgentTypes {
    parts: Parts,
    types: RwLock<HashMap<String, Arc<AgentType>>>,
    /// Starts and passivations of one instance, one at a time.
    lifecycle: crate::name_locks::NameLocks,
    /// Gives what passivated instances freed back to the system.
    reclaimer: Arc<super::reclaim::Reclaimer>,
    me: Weak<AgentTypes>,
}

/// One deployed agent type.
pub(super) struct AgentType {
    pub(super) spec: AgentTypeSpec,
    pre: AgentPre<super::agent::AgentState>,
    digest: [u8; 32],
    instances: Mutex<HashMap<String, Active>>,
    /// The timers of passivated instances with timers pending, by key: when
    /// one fires it activates its instance, which takes them over. Taken
    /// under the lock of `instances`.
    parked: Mutex<HashMap<String, Arc<AgentTimers>>>,
    /// One permit per instance in memory, `max-active` in all.
    room: Arc<tokio::sync::Semaphore>,
    /// Starts waiting for room, and passivations under way (whose room is about to come free).
    waiting: std::sync::atomic::AtomicUsize,
    retiring: std::sync::atomic::AtomicUsize,
    /// Notified when a start begins to wait for room: the sweeper makes some.
    need_room: tokio::sync::Notify,
    /// Whether the type's directory entry was registered (from its first instance's `capabilities`).
    registered: AtomicBool,
    activations: AtomicU64,
    passivations: AtomicU64,
    activation_time: Mutex<Histogram>,
    sweeper: Mutex<Option<tokio::task::AbortHandle>>,
}

/// An instance in memory (or on its way there).
struct Active {
    cell: Arc<AgentCell>,
    /// Events it had handled at the last look, and since when that count stood still.
    seen: (u64, Instant),
    /// Its room under `max-active`, once it has it.
    room: Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>,
}

/// An agent type as `GET /v1/agent-types` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TypeSummary {
    /// The type's name.
    pub name: String,
    /// Instances in memory (or starting) now.
    pub active: usize,
    /// Most instances in memory at once.
    pub max_active: u32,
    /// Passivated after this long without an event, in milliseconds.
    pub idle_after_ms: u64,
    /// Instances started since the type was deployed.
    pub activations: u64,
    /// Instances passivated since the type was deployed.
    pub passivations: u64,
    /// How long starts took (message in the mailbox to instance released).
    pub activation_time: Histogram,
}

/// An active instance as `GET /v1/agents?type=` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstanceSummary {
    /// Its name, `TYPE/KEY`.
    pub name: String,
    /// `starting`, `idle`, `running`, `restarting`, `quarantined` or `failed` (it could not start).
    pub state: &'static str,
    /// Messages waiting in its mailbox.
    pub mailbox_depth: usize,
    /// Its counters since it was activated.
    pub stats: super::stats::AgentStats,
}

/// How many instances of a type may be in memory or waiting for room, in
/// multiples of its `max-active`; beyond it a message to a new instance is
/// refused as by a full mailbox, so a flood of new keys cannot queue without bound.
pub const MAX_WAITING: usize = 2;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AgentTypes {
    pub(super) fn new(parts: Parts) -> Arc<AgentTypes> {
        let reclaimer = Arc::new(super::reclaim::Reclaimer::default());
        parts.runtime.spawn(super::reclaim::Reclaimer::run(Arc::downgrade(&reclaimer)));
        Arc::new_cyclic(|me| AgentTypes {
            parts,
            types: RwLock::new(HashMap::new()),
            lifecycle: crate::name_locks::NameLocks::default(),
            reclaimer,
            me: me.clone(),
        })
    }

    /// How many times the memory passivated instances freed was given back to the system
    /// (see [`super::reclaim`]).
    pub fn memory_trims(&self) -> u64 {
        self.reclaimer.trims()
    }

    fn get(&self, name: &str) -> Option<Arc<AgentType>> {
        self.types.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// Whether a deployed type runs the component with this digest.
    pub(super) fn uses(&self, digest: &[u8; 32]) -> bool {
        self.types.read().unwrap_or_else(|p| p.into_inner()).values().any(|t| &t.digest == digest)
    }

    /// Whether a type of this name is deployed.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Deploy (or replace) the type `spec` with its linked component; its
    /// instances start from `pre` from now on (those in memory keep running).
    pub(super) fn insert(&self, spec: AgentTypeSpec, pre: AgentPre<super::agent::AgentState>, digest: [u8; 32]) {
        let agent_type = Arc::new(AgentType {
            room: Arc::new(tokio::sync::Semaphore::new(spec.max_active as usize)),
            waiting: std::sync::atomic::AtomicUsize::new(0),
            retiring: std::sync::atomic::AtomicUsize::new(0),
            need_room: tokio::sync::Notify::new(),
            spec,
            pre,
            digest,
            instances: Mutex::new(HashMap::new()),
            parked: Mutex::new(HashMap::new()),
            registered: AtomicBool::new(false),
            activations: AtomicU64::new(0),
            passivations: AtomicU64::new(0),
            activation_time: Mutex::new(Histogram::default()),
            sweeper: Mutex::new(None),
        });
        let sweeper = self.parts.runtime.spawn(sweep(self.me.clone(), Arc::downgrade(&agent_type)));
        *lock(&agent_type.sweeper) = Some(sweeper.abort_handle());
        self.park_logged_timers(&agent_type);
        let name = agent_type.spec.name().to_string();
        let old = self.types.write().unwrap_or_else(|p| p.into_inner()).insert(name, agent_type);
        self.parts.bus.types_changed();
        if let Some(old) = old {
            // the instances of the version replaced finish what they have; the next message starts the new one
            let until = Instant::now() + super::REDEPLOY_GRACE;
            drop(self.retire_type(&old, until));
        }
    }

    /// Arm the logged timers of the instances of `t` that are not in memory
    /// (after a restart): each activates its instance when it falls due.
    fn park_logged_timers(&self, t: &AgentType) {
        let Some(log) = &self.parts.timer_log else { return };
        let max_active = t.spec.agent.grants.timers.map_or(0, |g| g.max_active);
        for name in log.agents_pending(&format!("{}/", t.spec.name())) {
            let Some((_, key)) = split_instance(&name) else { continue };
            let timers = AgentTimers::new(
                &name,
                crate::bus::mailbox::Mailbox::closed(),
                self.parts.runtime.clone(),
                max_active,
                Some(log.clone()),
            );
            timers.on_closed(self.reactivation(&name));
            lock(&t.parked).insert(key.to_string(), timers);
        }
    }

    /// What a timer of the instance `name` calls when it fires while the instance is passivated.
    fn reactivation(&self, name: &str) -> crate::capability::timers::Reactivate {
        let (types, name) = (self.me.clone(), name.to_string());
        Arc::new(move || {
            if let Some(types) = types.upgrade() {
                // a due reminder starts its instance even when the type is busy
                types.activate_instance(&name, false);
            }
        })
    }

    /// The deployed types, sorted by name.
    pub fn summaries(&self) -> Vec<TypeSummary> {
        let types = self.types.read().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<TypeSummary> = types
            .values()
            .map(|t| TypeSummary {
                name: t.spec.name().to_string(),
                active: lock(&t.instances).len(),
                max_active: t.spec.max_active,
                idle_after_ms: t.spec.idle_after.as_millis() as u64,
                activations: t.activations.load(Ordering::Relaxed),
                passivations: t.passivations.load(Ordering::Relaxed),
                activation_time: lock(&t.activation_time).clone(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// The instances of `agent_type` in memory, sorted by name; `None` when no such type is deployed.
    pub fn instances(&self, agent_type: &str) -> Option<Vec<InstanceSummary>> {
        let t = self.get(agent_type)?;
        let mut list: Vec<InstanceSummary> = lock(&t.instances)
            .values()
            .map(|a| {
                let stats = lock(&a.cell.env.stats).clone();
                let state = match (a.cell.turn(), &stats.status) {
                    (_, super::stats::Status::Quarantined(_)) => "quarantined",
                    (Turn::Idle, _) if a.cell.not_started() => "failed",
                    (Turn::Held, _) => "starting",
                    (Turn::Idle, _) => "idle",
                    (Turn::Restarting, _) => "restarting",
                    (Turn::Scheduled | Turn::Stopped, _) => "running",
                };
                InstanceSummary {
                    name: a.cell.env.spec.name.clone(),
                    state,
                    mailbox_depth: a.cell.mailbox().depth(),
                    stats,
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Some(list)
    }

    /// Stop every instance (the server stops): each handles what is queued
    /// until `until`, then runs its `shutdown`; the tasks doing it.
    pub(super) fn retire_all(&self, until: Instant) -> Vec<tokio::task::JoinHandle<()>> {
        let types: Vec<Arc<AgentType>> =
            self.types.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        types.iter().flat_map(|t| self.retire_type(t, until)).collect()
    }

    /// Stop the sweeper and every instance of `t` (see [`AgentTypes::retire_all`]).
    fn retire_type(&self, t: &AgentType, until: Instant) -> Vec<tokio::task::JoinHandle<()>> {
        if let Some(sweeper) = lock(&t.sweeper).take() {
            sweeper.abort();
        }
        let mut retiring = Vec::new();
        for (_, active) in lock(&t.instances).drain() {
            self.parts.bus.unregister_instance(&active.cell.env.spec.name, active.cell.mailbox());
            retiring.push(self.parts.runtime.spawn(async move {
                super::retire(active.cell, Some(until)).await;
                drop(active.room);
            }));
        }
        lock(&t.parked).clear();
        retiring
    }

    /// Purge the instance `TYPE/KEY`: out of memory at once (it finishes the
    /// event in hand; what is queued is answered with `failure`, reason
    /// `removed`), its timers disarmed and its kv-store deleted; how many keys
    /// went. The type stays: the next message starts the instance afresh.
    pub async fn purge(&self, name: &str) -> Result<u64, super::RuntimeError> {
        let not_deployed = || super::RuntimeError::NotDeployed(name.to_string());
        let (type_name, key) = split_instance(name).ok_or_else(not_deployed)?;
        let t = self.get(type_name).ok_or_else(not_deployed)?;
        let _turn = self.lifecycle.lock(name).await;
        let active = lock(&t.instances).remove(key);
        if let Some(parked) = lock(&t.parked).remove(key) {
            parked.disarm_all();
        }
        if let Some(active) = active {
            self.parts.bus.unregister_instance(name, active.cell.mailbox());
            active.cell.halt();
            active.cell.env.timers.disarm_all();
            super::retire(active.cell, None).await;
        }
        if let Some(log) = &self.parts.timer_log {
            for (id, _) in log.pending(name) {
                log.disarmed(name, id);
            }
        }
        let (kv, owner) = (self.parts.kv.clone(), name.to_string());
        let cleared = tokio::task::spawn_blocking(move || kv.clear(&owner)).await;
        let cleared = cleared.map_err(|e| super::RuntimeError::Internal(e.to_string()))?;
        cleared.map_err(|source| super::RuntimeError::Storage { agent: name.to_string(), source })
    }

    /// Passivate the instance `TYPE/KEY` now if it is idle; whether it was.
    pub fn passivate_now(&self, name: &str) -> bool {
        let Some((type_name, key)) = split_instance(name) else { return false };
        self.get(type_name).is_some_and(|t| self.passivate(&t, &mut lock(&t.instances), key))
    }

    /// Take `key` of `t` out of memory when it is idle and nothing waits for it (see the module doc).
    fn passivate(&self, t: &Arc<AgentType>, instances: &mut HashMap<String, Active>, key: &str) -> bool {
        let Some(active) = instances.get(key) else { return false };
        let cell = &active.cell;
        if cell.turn() != Turn::Idle {
            return false;
        }
        // the turn is taken now, so no activation of this name starts before `shutdown` ran
        let Some(turn) = self.lifecycle.try_lock(&cell.env.spec.name) else { return false };
        if !self.parts.bus.passivate(&cell.env.spec.name, cell.mailbox()) {
            return false;
        }
        let Some(active) = instances.remove(key) else { return false };
        if active.cell.env.timers.active() > 0 {
            lock(&t.parked).insert(key.to_string(), active.cell.env.timers.clone());
        }
        let (Some(types), t) = (self.me.upgrade(), t.clone()) else { return true };
        t.retiring.fetch_add(1, Ordering::SeqCst);
        self.parts.runtime.spawn(async move {
            let name = active.cell.env.spec.name.clone();
            let _turn = turn;
            super::retire(active.cell, None).await;
            types.parts.kv.release(&name);
            drop(active.room);
            t.retiring.fetch_sub(1, Ordering::SeqCst);
            t.passivations.fetch_add(1, Ordering::Relaxed);
            types.reclaimer.freed();
            tracing::debug!(agent = %name, "passivated");
            types.parts.bus.events().lifecycle(&name, crate::events::Change::Passivated, None);
        });
        true
    }

    /// Start `TYPE/KEY` (see the module doc). With `bounded`, refused
    /// ([`Activated::Busy`]) while its type has [`MAX_WAITING`] times
    /// `max-active` instances in memory or waiting for room.
    pub fn activate_instance(&self, name: &str, bounded: bool) -> Activated {
        let Some((type_name, key)) = split_instance(name) else { return Activated::NotAnInstance };
        let Some(t) = self.get(type_name) else { return Activated::NotAnInstance };
        let mut instances = lock(&t.instances);
        if instances.contains_key(key) {
            return Activated::Registered;
        }
        if bounded && instances.len() >= MAX_WAITING.saturating_mul(t.spec.max_active as usize) {
            return Activated::Busy;
        }
        let parts = EnvParts {
            spec: t.spec.instance(key),
            bus: self.parts.bus.clone(),
            kv: self.parts.kv.clone(),
            runtime: self.parts.runtime.clone(),
            scheduler: self.parts.scheduler.clone(),
            timer_log: self.parts.timer_log.clone(),
            traces: self.parts.traces.clone(),
            inherited: lock(&t.parked).remove(key),
        };
        let cell = parts.build(t.pre.clone());
        cell.env.timers.on_closed(self.reactivation(name));
        if !self.parts.bus.register_instance(name, cell.mailbox().clone()) {
            return Activated::Registered;
        }
        let room = Arc::new(Mutex::new(None));
        instances.insert(key.to_string(), Active { cell: cell.clone(), seen: (0, Instant::now()), room: room.clone() });
        drop(instances);
        let began = Instant::now();
        // at once when nothing is under way for this name and there is room (nobody waits for it)
        let turn = self.lifecycle.try_lock(name).filter(|_| t.waiting.load(Ordering::SeqCst) == 0);
        match turn.and_then(|turn| Some((turn, t.room.clone().try_acquire_owned().ok()?))) {
            Some((turn, permit)) => {
                *lock(&room) = Some(permit);
                cell.install(Instance::Unstarted(starter(&self.parts.bus, t, &cell, turn, began)));
                cell.release();
            }
            None => {
                if let Some(types) = self.me.upgrade() {
                    self.parts.runtime.spawn(async move { types.start(t, cell, room, began).await });
                }
            }
        }
        Activated::Registered
    }

    /// Passivate up to `wanted` idle instances of `t` in memory, the least recently used first; how many went.
    fn evict(&self, t: &Arc<AgentType>, wanted: usize) -> usize {
        let mut instances = lock(&t.instances);
        let mut idle: Vec<(Option<std::time::Instant>, String)> = instances
            .iter()
            .filter(|(_, a)| a.cell.turn() == Turn::Idle && a.cell.mailbox().is_empty() && lock(&a.room).is_some())
            .map(|(key, a)| (lock(&a.cell.env.stats).last_call, key.clone()))
            .collect();
        idle.sort_unstable();
        let mut evicted = 0;
        for (_, key) in idle {
            if evicted == wanted {
                break;
            }
            if self.passivate(t, &mut instances, &key) {
                evicted += 1;
            }
        }
        evicted
    }

    /// Wait for room under `max-active` and for the turn of an activated
    /// instance (a passivation of the same name finishing its `shutdown`),
    /// then let it run: its first batch starts it.
    async fn start(
        &self,
        t: Arc<AgentType>,
        cell: Arc<AgentCell>,
        room: Arc<Mutex<Option<tokio::sync::OwnedSemaphorePermit>>>,
        began: Instant,
    ) {
        // room under max-active first (the sweeper makes some, see `sweep`), holding no turn,
        // so a purge of the waiting instance goes ahead at once
        let permit = match t.room.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                t.waiting.fetch_add(1, Ordering::SeqCst);
                t.need_room.notify_one();
                let permit = t.room.clone().acquire_owned().await;
                t.waiting.fetch_sub(1, Ordering::SeqCst);
                match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
        };
        let turn = self.lifecycle.lock(&cell.env.spec.name).await;
        if cell.halted() {
            // purged (or retired with its type) while it waited: the room goes back
            return;
        }
        *lock(&room) = Some(permit);
        cell.install(Instance::Unstarted(starter(&self.parts.bus, t, &cell, turn, began)));
        cell.release();
    }
}

/// What starts an activated instance of `t` in `cell`, on the worker that
/// runs its first batch (so its first message is handled right after `init`,
/// with no trip between threads): instantiate it from the type's linked
/// component and run `init`, holding `turn` (the instance's lifecycle turn)
/// until then. The type's directory entry comes from its first instance's
/// `capabilities`. A failing start leaves [`Instance::NotStarted`] with the
/// cause, so what is queued is answered with a `failure` (`init-failed`);
/// passivated once idle, the next message tries again.
fn starter(
    bus: &Arc<Bus>,
    t: Arc<AgentType>,
    cell: &AgentCell,
    turn: tokio::sync::OwnedMutexGuard<()>,
    began: Instant,
) -> super::cell::Starter {
    let (env, pre, bus) = (cell.env.clone(), cell.pre.clone(), bus.clone());
    Box::new(move || {
        let _turn = turn;
        let (name, staged) = (env.spec.name.clone(), env.subscriptions.clone());
        let describe = !t.registered.load(Ordering::SeqCst);
        match LiveAgent::start(env, &pre) {
            Ok(mut live) => {
                // what `init` subscribed to takes effect now, and later subscriptions at once;
                // they end when the instance is passivated
                bus.topics().set(&name, staged.take());
                let profile = if describe { live.capabilities().ok() } else { None };
                if let Some(profile) = profile.filter(|_| !t.registered.swap(true, Ordering::SeqCst)) {
                    bus.register_type(t.spec.name(), profile.into());
                }
                t.activations.fetch_add(1, Ordering::Relaxed);
                lock(&t.activation_time).observe(began.elapsed());
                bus.events().lifecycle(&name, crate::events::Change::Activated, None);
                Instance::Live(Box::new(live))
            }
            Err(e) => {
                tracing::warn!(agent = %name, "cannot activate: {e}");
                bus.events().failure(
                    &name,
                    super::failure::FailureReason::InitFailed.as_str(),
                    &format!("cannot activate: {e}"),
                );
                Instance::NotStarted(e.to_string())
            }
        }
    })
}

impl super::Runtime {
    /// Deploy (or replace) the agent type `spec` with the component `bytes`:
    /// admitted, compiled (or taken from the cache) and linked with the
    /// type's grants now, so an instance's activation only instantiates it.
    pub async fn deploy_type(
        &self,
        spec: crate::policy::types::AgentTypeSpec,
        bytes: Vec<u8>,
    ) -> Result<(), super::RuntimeError> {
        let name = spec.name().to_string();
        let _turn = self.lifecycle.lock(&name).await;
        if let Err(crate::bus::BusError::RunsElsewhere { agent, host }) = self.bus.type_name_is_free(&name) {
            return Err(super::RuntimeError::RunsElsewhere { agent, host });
        }
        if self.agents.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&name) {
            return Err(super::RuntimeError::AlreadyDeployed(name));
        }
        let (pre, digest) = self.link(&spec.agent, bytes).await?;
        let types = self.types.get_or_init(|| {
            let types = AgentTypes::new(Parts {
                bus: self.bus.clone(),
                kv: self.kv.clone(),
                runtime: tokio::runtime::Handle::current(),
                scheduler: self.scheduler.handle(),
                timer_log: self.timer_log.clone(),
                traces: self.traces.clone(),
            });
            let activator: std::sync::Weak<dyn crate::bus::activation::Activator> = Arc::downgrade(&types) as _;
            self.bus.set_activator(activator);
            types
        });
        types.insert(spec, pre, digest);
        tracing::info!(agent_type = %name, "agent type deployed");
        Ok(())
    }

    /// The agent types and their instances, once a type was deployed.
    pub fn agent_types(&self) -> Option<&Arc<AgentTypes>> {
        self.types.get()
    }

    /// Admit `bytes` for `spec` and link it with its grants, compiling it first when it is new.
    async fn link(
        &self,
        spec: &crate::policy::AgentSpec,
        bytes: Vec<u8>,
    ) -> Result<install::LinkedComponent, super::RuntimeError> {
        let (linked, compiler, owned) = (self.linked.clone(), self.compiler.clone(), spec.clone());
        let limit = self.max_component_bytes;
        let found = install::blocking(move || install::link_if_compiled(&linked, &compiler, &owned, bytes, limit));
        match found.await?? {
            Ok(linked) => Ok(linked),
            Err((bytes, digest)) => {
                let compiled = self.compile(&spec.name, bytes, digest).await?;
                Ok((self.linked.insert(&compiled, &digest, spec)?, digest))
            }
        }
    }
}

impl crate::bus::activation::Activator for AgentTypes {
    fn activate(&self, name: &str) -> Activated {
        self.activate_instance(name, true)
    }

    fn owns(&self, name: &str) -> bool {
        self.contains(name) || split_instance(name).is_some_and(|(t, _)| self.contains(t))
    }

    fn types(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        names.sort();
        names
    }
}
