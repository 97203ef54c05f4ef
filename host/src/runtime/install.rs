//! How a deploy becomes a started agent: admission checks, the cache of
//! linked components, the agent's environment, and its first instantiation.

use super::agent::{AgentEnv, AgentState, LiveAgent};
use super::cell::{AgentCell, Instance};
use super::scheduler::Handle;
use super::stats::AgentStats;
use super::{RuntimeError, AGENT_EXPORTS};
use crate::bindings::AgentPre;
use crate::bus::Bus;
use crate::capability::link_granted;
use crate::component::{self, Compiler, ComponentError, ComponentInfo};
use crate::policy::{check, AgentSpec, Grants};
use crate::store::KvBackend;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

/// Linked components are found by content digest and the capabilities
/// linked (the linker depends on which are granted, not on a grant's scope,
/// which lives in each agent's store).
type LinkKey = ([u8; 32], Vec<crate::interfaces::Capability>);

/// Bytes of running components with their digests, by length and a hash of their ends.
type KnownBytes = HashMap<(usize, u64), Vec<(Arc<[u8]>, [u8; 32])>>;

/// Check a component before anything is compiled: it imports only what
/// `spec` grants and exports the `agent` world.
fn admit(spec: &AgentSpec, info: &ComponentInfo) -> Result<(), RuntimeError> {
    let agent = || spec.name.clone();
    check::preflight(spec, info)?;
    let missing: Vec<String> =
        AGENT_EXPORTS.iter().filter(|e| !info.exports.iter().any(|x| x == *e)).map(|e| e.to_string()).collect();
    if !missing.is_empty() {
        // the same interfaces at other versions, to name what the component exports instead
        let path = |name: &str| name.split('@').next().unwrap_or_default().to_string();
        let found =
            info.exports.iter().filter(|x| missing.iter().any(|m| path(m) == path(x))).cloned().collect::<Vec<_>>();
        return Err(RuntimeError::MissingExports { agent: agent(), missing, found });
    }
    Ok(())
}

/// What a new agent's environment is made from; built only once its
/// component is compiled, so a deploy that fails to compile leaves no trace.
pub(super) struct EnvParts {
    pub(super) spec: AgentSpec,
    pub(super) bus: Arc<Bus>,
    pub(super) kv: Arc<dyn KvBackend>,
    pub(super) runtime: tokio::runtime::Handle,
    pub(super) scheduler: Handle,
    pub(super) timer_log: Option<Arc<dyn crate::capability::timers::TimerLog>>,
    pub(super) traces: Option<crate::traces::Tracer>,
    /// The timers of the version being replaced, which carry over (if this
    /// version fails to start, the runtime points them back at the old one).
    pub(super) inherited: Option<Arc<crate::capability::timers::AgentTimers>>,
}

impl EnvParts {
    /// The agent's cell (held: it runs once released) with its environment.
    pub(super) fn build(self, pre: AgentPre<AgentState>) -> Arc<AgentCell> {
        let capacity = self.spec.limits.mailbox as usize;
        let scheduler = self.scheduler.clone();
        AgentCell::new(
            move |mailbox| {
                let max_active = self.spec.grants.timers.map_or(0, |t| t.max_active);
                if let Some(inherited) = &self.inherited {
                    // from here on timers fire into the new version's mailbox (taken up once it is
                    // released), and its grant bounds them
                    inherited.retarget(mailbox.clone(), max_active);
                }
                let timers = self.inherited.unwrap_or_else(|| {
                    crate::capability::timers::AgentTimers::new(
                        &self.spec.name,
                        mailbox.clone(),
                        self.runtime.clone(),
                        max_active,
                        self.timer_log,
                    )
                });
                AgentEnv {
                    spec: self.spec,
                    bus: self.bus,
                    kv: self.kv,
                    mailbox,
                    runtime: self.runtime,
                    stats: Arc::new(Mutex::new(AgentStats::default())),
                    dropped_lines: Arc::new(std::sync::atomic::AtomicU64::new(0)),
                    timers,
                    subscriptions: crate::bus::topics::Staged::new(),
                    traces: self.traces,
                }
            },
            capacity,
            pre,
            scheduler,
        )
    }
}

/// A new agent, initialised and held, with its self-description.
pub(super) struct Started {
    pub(super) cell: Arc<AgentCell>,
    pub(super) capabilities: crate::bindings::caxton::agent::types::AgentProfile,
    /// The component's content digest.
    pub(super) digest: [u8; 32],
}

/// Build the agent's cell, instantiate it, run its `init` and read its
/// `capabilities` (on a blocking thread).
pub(super) fn start(parts: EnvParts, pre: AgentPre<AgentState>, digest: [u8; 32]) -> Result<Started, RuntimeError> {
    let cell = parts.build(pre);
    let mut live = LiveAgent::start(cell.env.clone(), &cell.pre)?;
    let capabilities =
        live.capabilities().map_err(|f| RuntimeError::Init { agent: live.name().to_string(), message: f.message })?;
    cell.install(Instance::Live(Box::new(live)));
    Ok(Started { cell, capabilities, digest })
}

/// Run `f` (admission, instantiation and the guest's `init`, which its
/// deadline bounds) where it may block: on a multi-thread tokio runtime on
/// this very thread, with `block_in_place` handing the thread's other tasks to
/// another one meanwhile, which saves the two thread switches of a trip to the
/// blocking pool; on a current-thread runtime on the blocking pool. A panic
/// becomes an internal error.
pub(super) async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Result<R, RuntimeError> {
    let flavor = tokio::runtime::Handle::current().runtime_flavor();
    if flavor == tokio::runtime::RuntimeFlavor::MultiThread {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tokio::task::block_in_place(f)));
        ran.map_err(|_| RuntimeError::Internal("a host function panicked while the agent started".into()))
    } else {
        joined(tokio::task::spawn_blocking(f)).await
    }
}

/// The outcome of a blocking job, with a panic turned into an internal error.
pub(super) async fn joined<T>(job: tokio::task::JoinHandle<T>) -> Result<T, RuntimeError> {
    job.await.map_err(|e| RuntimeError::Internal(e.to_string()))
}

/// What is known of components already seen, by content digest: their
/// bytes, imports and exports, and their links by grants. Deploying the same
/// component again skips hashing and reading it and, with the same grants,
/// building the linker.
#[derive(Default, Clone)]
pub(super) struct Linked {
    /// Bytes of running components, by length and a hash of their two ends;
    /// a match is confirmed byte for byte, so the digest it gives is exact.
    known: Arc<Mutex<KnownBytes>>,
    infos: Arc<Mutex<HashMap<[u8; 32], Arc<ComponentInfo>>>>,
    pres: Arc<Mutex<HashMap<LinkKey, AgentPre<AgentState>>>>,
}

/// Bytes from each end of a component that pick its bucket among the known
/// ones (a match is then confirmed byte for byte, so a few suffice).
const ENDS: usize = 64;

fn ends_key(bytes: &[u8]) -> (usize, u64) {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(bytes.get(..ENDS).unwrap_or(bytes));
    h.write(bytes.get(bytes.len().saturating_sub(ENDS)..).unwrap_or(bytes));
    (bytes.len(), h.finish())
}

impl Linked {
    /// The SHA-256 digest of `bytes`: looked up when the same bytes run
    /// already (a comparison instead of hashing them again), computed otherwise.
    fn digest(&self, bytes: &[u8]) -> [u8; 32] {
        let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let found = known.get(&ends_key(bytes)).and_then(|c| c.iter().find(|(b, _)| **b == *bytes));
        found.map_or_else(|| Compiler::digest(bytes), |(_, digest)| *digest)
    }

    /// Remember that `bytes` (digest `digest`) run, for [`Linked::digest`].
    fn remember(&self, bytes: &[u8], digest: &[u8; 32]) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = known.entry(ends_key(bytes)).or_default();
        if !bucket.iter().any(|(_, d)| d == digest) {
            bucket.push((Arc::from(bytes), *digest));
        }
    }

    /// The imports and exports of the component `bytes` (whose digest is `digest`).
    fn info(&self, digest: &[u8; 32], bytes: &[u8]) -> Result<Arc<ComponentInfo>, ComponentError> {
        if let Some(info) = self.infos.lock().unwrap_or_else(|p| p.into_inner()).get(digest) {
            return Ok(info.clone());
        }
        let info = Arc::new(component::inspect(bytes)?);
        self.infos.lock().unwrap_or_else(|p| p.into_inner()).insert(*digest, info.clone());
        Ok(info)
    }

    fn key(digest: &[u8; 32], spec: &AgentSpec) -> LinkKey {
        (*digest, spec.grants.granted())
    }

    /// The linked component, linking it now if it is compiled but was not linked
    /// with these grants; `None` when it is neither compiled in this process
    /// nor in the cache directory.
    fn get(
        &self,
        compiler: &Compiler,
        digest: &[u8; 32],
        spec: &AgentSpec,
    ) -> Option<Result<AgentPre<AgentState>, RuntimeError>> {
        let key = Self::key(digest, spec);
        if let Some(pre) = self.pres.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Some(Ok(pre.clone()));
        }
        let component = compiler.loaded(digest)?;
        Some(self.insert(&component, digest, spec))
    }

    /// Forget what is known of the component with this digest (no agent uses it any more).
    pub(super) fn forget(&self, digest: &[u8; 32]) {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.values_mut().for_each(|bucket| bucket.retain(|(_, d)| d != digest));
        known.retain(|_, bucket| !bucket.is_empty());
        drop(known);
        self.infos.lock().unwrap_or_else(|p| p.into_inner()).remove(digest);
        self.pres.lock().unwrap_or_else(|p| p.into_inner()).retain(|(d, _), _| d != digest);
    }

    /// Link `component` with the grants of `spec` and remember it.
    pub(super) fn insert(
        &self,
        component: &Component,
        digest: &[u8; 32],
        spec: &AgentSpec,
    ) -> Result<AgentPre<AgentState>, RuntimeError> {
        super::exports::check_guest(component.engine(), component, &spec.name)?;
        let pre = prepare(component.engine(), component, &spec.grants)
            .map_err(|e| RuntimeError::Link { agent: spec.name.clone(), message: format!("{e:#}") })?;
        self.pres.lock().unwrap_or_else(|p| p.into_inner()).insert(Self::key(digest, spec), pre.clone());
        Ok(pre)
    }
}

/// Build the linker from `grants` alone and pre-instantiate `component` with it.
///
/// This is where wasmtime itself refuses a component whose imports are not all
/// linked, and one that lacks an export of the `agent` world.
pub fn prepare(engine: &Engine, component: &Component, grants: &Grants) -> wasmtime::Result<AgentPre<AgentState>> {
    let mut linker = Linker::new(engine);
    link_granted(&mut linker, grants)?;
    AgentPre::new(linker.instantiate_pre(component)?)
}

/// Every check a deploy of `spec` with the component `bytes` makes before it
/// instantiates anything, offline: size and header (at most `limit` bytes),
/// imports against the grants, the exports of the `agent` world function by
/// function, and wasmtime's type-check of every import against the linker the
/// grants build. `compiler` compiles (or finds the compiled form in its cache).
pub fn verify(compiler: &Compiler, spec: &AgentSpec, bytes: &[u8], limit: usize) -> Result<(), RuntimeError> {
    let component_error = |source| RuntimeError::Component { agent: spec.name.clone(), source };
    component::check(bytes, limit).map_err(component_error)?;
    admit(spec, &component::inspect(bytes).map_err(component_error)?)?;
    let compiled = compiler.compile_digested(bytes, &Compiler::digest(bytes)).map_err(component_error)?;
    super::exports::check_guest(compiled.engine(), &compiled, &spec.name)?;
    prepare(compiled.engine(), &compiled, &spec.grants)
        .map(drop)
        .map_err(|e| RuntimeError::Link { agent: spec.name.clone(), message: format!("{e:#}") })
}

/// A component not compiled in this process yet: its bytes, digest and the
/// parts of the environment the agent will get.
pub(super) type NotCompiled = (Vec<u8>, [u8; 32], EnvParts);

/// On a blocking thread: admit the component (at most `limit` bytes), and when it is already compiled,
/// link (or take the link), instantiate and initialise it.
pub(super) fn start_if_compiled(
    linked: &Linked,
    compiler: &Compiler,
    parts: EnvParts,
    bytes: Vec<u8>,
    limit: usize,
) -> Result<Result<Started, NotCompiled>, RuntimeError> {
    let agent = || parts.spec.name.clone();
    component::check(&bytes, limit).map_err(|source| RuntimeError::Component { agent: agent(), source })?;
    let digest = linked.digest(&bytes);
    let info = linked.info(&digest, &bytes).map_err(|source| RuntimeError::Component { agent: agent(), source })?;
    admit(&parts.spec, &info)?;
    match linked.get(compiler, &digest, &parts.spec) {
        Some(pre) => {
            let started = start(parts, pre?, digest)?;
            linked.remember(&bytes, &digest);
            Ok(Ok(started))
        }
        None => Ok(Err((bytes, digest, parts))),
    }
}

/// A component linked with some grants, and its content digest.
pub(super) type LinkedComponent = (AgentPre<AgentState>, [u8; 32]);
/// A component not compiled in this process yet: its bytes and digest.
pub(super) type NotLinked = (Vec<u8>, [u8; 32]);

/// On a blocking thread: admit the component `bytes` (at most `limit`
/// bytes) for `spec` and, when it is already compiled, link it (or take the
/// link) without instantiating it; otherwise give back what compiling needs.
pub(super) fn link_if_compiled(
    linked: &Linked,
    compiler: &Compiler,
    spec: &AgentSpec,
    bytes: Vec<u8>,
    limit: usize,
) -> Result<Result<LinkedComponent, NotLinked>, RuntimeError> {
    let agent = || spec.name.clone();
    component::check(&bytes, limit).map_err(|source| RuntimeError::Component { agent: agent(), source })?;
    let digest = linked.digest(&bytes);
    let info = linked.info(&digest, &bytes).map_err(|source| RuntimeError::Component { agent: agent(), source })?;
    admit(spec, &info)?;
    match linked.get(compiler, &digest, spec) {
        Some(pre) => {
            let pre = pre?;
            linked.remember(&bytes, &digest);
            Ok(Ok((pre, digest)))
        }
        None => Ok(Err((bytes, digest))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_component_is_recognised_only_by_its_exact_bytes() {
        let linked = Linked::default();
        let known = vec![1u8; 3 * ENDS];
        let mut lookalike = known.clone(); // same length, same ends, one byte apart in the middle
        lookalike[ENDS + 10] = 2;
        let digest = Compiler::digest(&known);
        linked.remember(&known, &digest);
        assert_eq!(linked.digest(&known), digest);
        assert_eq!(linked.digest(&lookalike), Compiler::digest(&lookalike));
        assert_ne!(linked.digest(&lookalike), digest);
        linked.forget(&digest);
        assert!(linked.known.lock().unwrap_or_else(|p| p.into_inner()).is_empty());
    }
}
