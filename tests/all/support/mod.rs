//! Helpers shared by the integration tests, and only those: the workspace's
//! paths and built components, an in-process runtime with agents deployed and
//! requests answered, the real binary as a process ([`process`]) and as an
//! API with a token ([`api`]), and hand-written WAT agents ([`hostile_wat`]).
//! Helpers one test file uses stay in that file.

pub mod api;
pub mod hostile_wat;
pub mod nats;
pub mod otlp;
pub mod process;

use caxton::acl::{Message, Performative};
use caxton::policy::{AgentSpec, Grants, KvStoreGrant, Limits, LoggingGrant, MessagingGrant, TimersGrant};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A built guest component; fails with instructions when it has not been built.
pub fn component(name: &str) -> PathBuf {
    let path = root().join("components").join(format!("{name}.wasm"));
    assert!(path.exists(), "{} is missing: run `just build-guests` (or `just test`) first", path.display());
    path
}

/// Every capability granted, generously.
pub fn all_grants() -> Grants {
    Grants {
        messaging: Some(MessagingGrant::send_to_all()),
        kv_store: Some(KvStoreGrant::default()),
        timers: Some(TimersGrant { max_active: 16 }),
        logging: Some(LoggingGrant { max_level: caxton::policy::LogLevel::Info }),
        filesystem: None,
    }
}

/// The capabilities `components/{component_name}.wasm` imports, as `caxton inspect` reads them.
pub fn imported_capabilities(component_name: &str) -> Vec<caxton::interfaces::Capability> {
    let bytes = std::fs::read(component(component_name)).unwrap();
    let info = caxton::component::inspect(&bytes).unwrap();
    let imported: Vec<_> = info.imports.iter().filter_map(|i| caxton::interfaces::capability_of(i)).collect();
    caxton::interfaces::Capability::ALL.into_iter().filter(|c| imported.contains(c)).collect()
}

/// Exactly the capabilities `components/{component_name}.wasm` imports granted, generously.
pub fn grants_for(component_name: &str) -> Grants {
    use caxton::interfaces::Capability;
    let all = all_grants();
    let imported = imported_capabilities(component_name);
    let granted = |c: Capability| imported.contains(&c);
    Grants {
        messaging: all.messaging.filter(|_| granted(Capability::Messaging)),
        kv_store: all.kv_store.filter(|_| granted(Capability::KvStore)),
        timers: all.timers.filter(|_| granted(Capability::Timers)),
        logging: all.logging.filter(|_| granted(Capability::Logging)),
        filesystem: None,
    }
}

/// Only `messaging` granted, to any receiver.
pub fn messaging_only() -> Grants {
    Grants { messaging: Some(MessagingGrant::send_to_all()), ..Grants::default() }
}

/// An agent spec for a built component.
pub fn spec(name: &str, component_name: &str, grants: Grants) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        component: component(component_name),
        grants,
        limits: Limits::default(),
        policy: PathBuf::from("policies/test.toml"),
    }
}

/// A runtime with an in-memory store and no compile cache.
pub fn runtime() -> Runtime {
    runtime_on(Arc::new(MemoryStore::new()))
}

/// A runtime on the given kv-store backend.
pub fn runtime_on(kv: Arc<dyn caxton::store::KvBackend>) -> Runtime {
    Runtime::new(RuntimeConfig::new(kv)).unwrap()
}

/// A runtime with the given agents deployed.
pub async fn runtime_with(specs: Vec<AgentSpec>) -> Runtime {
    let rt = runtime();
    deploy_all(&rt, specs).await;
    rt
}

/// Deploy every spec, failing the test on the first error.
pub async fn deploy_all(rt: &Runtime, specs: Vec<AgentSpec>) {
    for s in specs {
        let name = s.name.clone();
        rt.deploy(s).await.unwrap_or_else(|e| panic!("cannot deploy {name}: {e}"));
    }
}

/// A `bus-probe` test agent named `name` with every capability granted.
pub fn probe(name: &str) -> AgentSpec {
    spec(name, "bus_probe", all_grants())
}

/// Send `content` to `to` as a request from `tester` and wait for the reply.
pub async fn ask(rt: &Runtime, to: &str, content: Value) -> Message {
    ask_as(rt, "tester", to, Performative::Request, content).await
}

/// Send a message and wait for its reply (30 s safety net, not a timing assertion).
pub async fn ask_as(rt: &Runtime, from: &str, to: &str, performative: Performative, content: Value) -> Message {
    let bus = rt.bus();
    let reply_with = bus.fresh_id("test");
    let mut msg = Message::new(performative, vec![to.into()], content.to_string());
    msg.reply_with = Some(reply_with.clone());
    let waiter = bus.expect_reply(from, &mut msg);
    bus.send(from, msg).unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(30), waiter.recv()).await;
    let reply = reply.unwrap_or_else(|_| panic!("{to} did not answer {reply_with}")).expect("reply channel closed");
    assert_eq!(reply.in_reply_to.as_deref(), Some(reply_with.as_str()));
    reply
}

/// The reply's content as JSON.
pub fn content(msg: &Message) -> Value {
    serde_json::from_str(&msg.content).unwrap()
}

/// The list an agent answers to `{"action": "dump"}` (what a `bus-probe` has heard).
pub async fn dump(rt: &Runtime, agent: &str) -> Vec<Value> {
    content(&ask(rt, agent, serde_json::json!({ "action": "dump" })).await)["result"].as_array().unwrap().clone()
}

/// A text-processor request: `operation` applied to `text`, given as `field`.
pub fn process_data(operation: &str, field: &str, text: &str) -> Value {
    serde_json::json!({ "action": "process_data", "data": { "operation": operation, field: text } })
}

/// Poll until `check` answers (not a timing assertion: the 30 s bound only stops a broken test).
pub async fn eventually<T>(mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 30 s");
}
