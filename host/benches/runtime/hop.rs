//! Rows 1 and 2: a message hop between two agents, and the throughput of many
//! agent pairs, each next to the same guests driven by plain wasmtime.
//!
//! Both arms run `bus-probe` relays: the probe that receives `relay N …`
//! answers its sender with `N + 1`, until the end, when it reports to whoever
//! started the relay. So both arms do the same guest work (a little text in
//! and out, one `messaging.send` per hop); the bare arm's host is a loop that hands each
//! sent message straight to the other instance's `handle-message`.

use super::{root, BENCH_CLIENT};
use caxton::acl::{Message, Performative};
use caxton::bindings::caxton::agent::types::{DirectoryQuery, Message as WitMessage, SendError};
use caxton::bindings::Agent;
use caxton::bus::directory::Profile;
use caxton::bus::mailbox::{self, Receiver};
use caxton::bus::Event;
use caxton::policy::{AgentSpec, Grants, Limits, MessagingGrant};
use caxton::runtime::Runtime;
use std::path::PathBuf;
use std::time::Instant;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// `bus-probe` with messaging to everyone, kv-store and timers, and limits
/// that let it relay as fast as it can.
pub fn probe_spec(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        component: root().join("components/bus_probe.wasm"),
        grants: Grants {
            messaging: Some(MessagingGrant::send_to_all()),
            kv_store: Some(caxton::policy::KvStoreGrant::default()),
            timers: Some(caxton::policy::TimersGrant { max_active: 1 }),
            logging: None,
            filesystem: None,
        },
        limits: Limits { messages_per_second: 1_000_000, ..Limits::default() },
        policy: PathBuf::from("bench"),
    }
}

/// Agent-to-agent messages in one relay (the bus allows 32 in a chain).
pub const HOPS: u64 = 30;
/// A relayed message's content: `relay N UNTIL REPORT PAD`, plain text.
fn relayed_content(n: u64, pad: &str) -> String {
    format!("relay {n} {HOPS} {BENCH_CLIENT} {pad}")
}

/// Padding that brings the relayed content to 256 bytes.
pub fn pad() -> String {
    "x".repeat(256 - relayed_content(10, "").len())
}

/// The request that starts a relay between `a` and `b`.
fn relay_request(a: &str, b: &str) -> Message {
    let content = serde_json::json!({ "action": "relay", "to": b, "hops": HOPS, "pad": pad() });
    Message::new(Performative::Request, vec![a.to_string()], content.to_string())
}

/// The size of a relayed message's content, for the method text.
pub fn relayed_content_bytes() -> usize {
    relayed_content(10, &pad()).len()
}

/// A bus participant the bench listens as: reports of finished relays arrive here.
pub fn client(rt: &Runtime, capacity: usize) -> Receiver {
    let (tx, rx) = mailbox::channel(capacity);
    rt.bus().register(BENCH_CLIENT, tx, Profile::default()).unwrap();
    rx
}

async fn relayed(rx: &mut Receiver) -> Message {
    // a safety net against a lost message hanging the bench, not a measurement
    let next = tokio::time::timeout(std::time::Duration::from_secs(120), rx.recv()).await;
    match next.expect("no relay report within 120 s: a message was lost") {
        Some(Event::Message(m)) => *m,
        other => panic!("expected a relay report, got {other:?}"),
    }
}

/// Microseconds per hop of `chains` relays between the deployed probes `hop-a` and `hop-b`, one at a time.
pub async fn platform_hops(rt: &Runtime, rx: &mut Receiver, chains: usize) -> Vec<f64> {
    platform_hops_between(rt, rx, ("hop-a", "hop-b"), chains).await
}

/// Microseconds per hop of `chains` relays between the probes `a` and `b`, one at a time.
pub async fn platform_hops_between(rt: &Runtime, rx: &mut Receiver, (a, b): (&str, &str), chains: usize) -> Vec<f64> {
    let mut per_hop = Vec::with_capacity(chains);
    for _ in 0..chains {
        let started = Instant::now();
        rt.bus().send(BENCH_CLIENT, relay_request(a, b)).unwrap();
        let report = relayed(rx).await;
        per_hop.push(started.elapsed().as_secs_f64() * 1e6 / HOPS as f64);
        assert!(report.content.contains("relayed"), "{report:?}");
    }
    per_hop
}

/// Messages per second delivered by `pairs` relaying pairs (deployed as
/// `tp-a-N`/`tp-b-N`), each pair running `rounds` relays one after another.
pub async fn platform_throughput(rt: &Runtime, rx: &mut Receiver, pairs: usize, rounds: usize) -> f64 {
    let started = Instant::now();
    for i in 0..pairs {
        rt.bus().send(BENCH_CLIENT, relay_request(&format!("tp-a-{i}"), &format!("tp-b-{i}"))).unwrap();
    }
    let mut left: Vec<usize> = vec![rounds; pairs];
    let mut outstanding = pairs;
    while outstanding > 0 {
        let report = relayed(rx).await;
        let pair: usize = report.sender.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap();
        left[pair] -= 1;
        if left[pair] == 0 {
            outstanding -= 1;
        } else {
            rt.bus().send(BENCH_CLIENT, relay_request(&format!("tp-a-{pair}"), &format!("tp-b-{pair}"))).unwrap();
        }
    }
    // each relay: the request, HOPS relayed messages, the report
    (pairs * rounds) as f64 * (HOPS + 2) as f64 / started.elapsed().as_secs_f64()
}

/// One probe instance on plain wasmtime: WASI plus a `messaging.send` that
/// only keeps the message; nothing else is linked.
pub struct Bare {
    name: String,
    wasi: WasiCtx,
    table: ResourceTable,
    outbox: Vec<WitMessage>,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl caxton::bindings::caxton::agent::types::Host for Bare {}

impl caxton::bindings::caxton::agent::messaging::Host for Bare {
    fn send(&mut self, msg: WitMessage) -> wasmtime::Result<Result<(), SendError>> {
        self.outbox.push(msg);
        Ok(Ok(()))
    }
    fn self_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.name.clone())
    }
    fn search(&mut self, _: DirectoryQuery) -> wasmtime::Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn broadcast(&mut self, _: DirectoryQuery, _: WitMessage) -> wasmtime::Result<Result<u32, SendError>> {
        Ok(Ok(0))
    }
    fn subscribe(&mut self, _: String) -> wasmtime::Result<Result<(), SendError>> {
        Ok(Ok(()))
    }
    fn unsubscribe(&mut self, _: String) -> wasmtime::Result<bool> {
        Ok(false)
    }
    fn publish(&mut self, _: String, _: WitMessage) -> wasmtime::Result<Result<u32, SendError>> {
        Ok(Ok(0))
    }
}

/// `component` linked on plain wasmtime with WASI and a `messaging` that keeps what is sent.
pub fn bare_pre(engine: &Engine, component: &Component) -> InstancePre<Bare> {
    let mut linker = Linker::<Bare>::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    caxton::bindings::caxton::agent::messaging::add_to_linker::<Bare, HasSelf<Bare>>(&mut linker, |s| s).unwrap();
    linker.define_unknown_imports_as_traps(component).unwrap();
    linker.instantiate_pre(component).unwrap()
}

/// Instance `bare-{i}` of `pre`, its `init` called.
pub fn bare_instance(engine: &Engine, pre: &InstancePre<Bare>, i: usize) -> (Store<Bare>, Agent) {
    let bare = Bare {
        name: format!("bare-{i}"),
        wasi: WasiCtx::builder().build(),
        table: ResourceTable::new(),
        outbox: Vec::new(),
    };
    let mut store = Store::new(engine, bare);
    store.set_fuel(u64::MAX / 2).unwrap();
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre.instantiate(&mut store).unwrap();
    let agent = Agent::new(&mut store, &instance).unwrap();
    agent.caxton_agent_guest().call_init(&mut store).unwrap().unwrap();
    (store, agent)
}

/// Probes instantiated on plain wasmtime, calling each other directly.
pub struct BareProbes {
    instances: Vec<(Store<Bare>, Agent)>,
}

impl BareProbes {
    /// `count` instances of `component` named `bare-0`, `bare-1`, … on `engine`.
    pub fn new(engine: &Engine, component: &Component, count: usize) -> BareProbes {
        let pre = bare_pre(engine, component);
        BareProbes { instances: (0..count).map(|i| bare_instance(engine, &pre, i)).collect() }
    }

    /// Instances held.
    pub fn len(&self) -> usize {
        self.instances.len()
    }

    /// Ask instance `i` to `ping` and take its `pong`.
    pub fn ping(&mut self, i: usize) {
        let mut ping: WitMessage =
            Message::new(Performative::Request, vec![format!("bare-{i}")], r#"{"action":"ping"}"#.into()).into();
        ping.sender = BENCH_CLIENT.to_string();
        // the conversation the host starts for a message that names none (same length as Caxton's ids)
        ping.conversation_id = Some(caxton::ids::fresh("conv"));
        let (store, agent) = &mut self.instances[i];
        agent.caxton_agent_guest().call_handle_message(&mut *store, &ping).unwrap().unwrap();
        let pong = store.data_mut().outbox.pop().expect("no pong");
        assert!(pong.content.contains("pong"), "{pong:?}");
    }

    /// Ask instance `i` for its `capabilities`.
    pub fn describe(&mut self, i: usize) {
        let (store, agent) = &mut self.instances[i];
        std::hint::black_box(agent.caxton_agent_guest().call_capabilities(&mut *store).unwrap());
    }

    /// Run one relay between instances `a` and `b` to its report.
    pub fn relay(&mut self, a: usize, b: usize) {
        let mut next: WitMessage = relay_request(&format!("bare-{a}"), &format!("bare-{b}")).into();
        next.sender = BENCH_CLIENT.to_string();
        loop {
            let receiver = &next.receivers[0];
            if receiver == BENCH_CLIENT {
                return;
            }
            let index: usize = receiver.strip_prefix("bare-").and_then(|n| n.parse().ok()).unwrap();
            let (store, agent) = &mut self.instances[index];
            agent.caxton_agent_guest().call_handle_message(&mut *store, &next).unwrap().unwrap();
            next = store.data_mut().outbox.pop().expect("the probe sent nothing");
            next.sender = format!("bare-{index}");
        }
    }
}

/// Microseconds per hop of `chains` relays between two bare instances.
pub fn bare_hops(probes: &mut BareProbes, chains: usize) -> Vec<f64> {
    (0..chains)
        .map(|_| {
            let started = Instant::now();
            probes.relay(0, 1);
            started.elapsed().as_secs_f64() * 1e6 / HOPS as f64
        })
        .collect()
}

/// Messages per second of `pairs` bare pairs split over `threads` threads,
/// each pair running `rounds` relays (counted like the platform arm).
pub fn bare_throughput(engine: &Engine, component: &Component, pairs: usize, rounds: usize, threads: usize) -> f64 {
    let per_thread = pairs / threads;
    let mut sets: Vec<BareProbes> = (0..threads).map(|_| BareProbes::new(engine, component, 2 * per_thread)).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for probes in &mut sets {
            scope.spawn(move || {
                for _ in 0..rounds {
                    for p in 0..per_thread {
                        probes.relay(2 * p, 2 * p + 1);
                    }
                }
            });
        }
    });
    (per_thread * threads * rounds) as f64 * (HOPS + 2) as f64 / started.elapsed().as_secs_f64()
}

/// The component the relays run.
pub fn probe_bytes() -> Vec<u8> {
    std::fs::read(root().join("components/bus_probe.wasm"))
        .unwrap_or_else(|e| panic!("components/bus_probe.wasm: {e} (run `just build-guests`)"))
}
