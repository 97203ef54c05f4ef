//! Standard WASI interfaces behind Caxton grants: a guest written against
//! `wasi:logging` runs when `logging` is granted and is refused otherwise.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::policy::{Grants, LogLevel, LoggingGrant, PolicyError};
use caxton::runtime::RuntimeError;

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_logging_guest_runs_under_the_logging_grant() {
    let grants = Grants { logging: Some(LoggingGrant { max_level: LogLevel::Info }), ..Grants::default() };
    let rt = runtime_with(vec![spec("std-logger", "std_logger", grants)]).await;
    deliver(&rt, "std-logger", Performative::Inform, serde_json::json!("hello")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_logging_guest_is_refused_without_the_grant() {
    let err = runtime().deploy(spec("std-logger", "std_logger", Grants::default())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::NotGranted { interface, .. }) if interface == "wasi:logging/logging@0.1.0-draft"),
        "{err}"
    );
    assert!(err.to_string().contains("`logging`"), "{err}");
}

fn kv_and_logging(buckets: &[&str]) -> Grants {
    Grants {
        kv_store: Some(caxton::policy::KvStoreGrant {
            buckets: buckets.iter().map(|b| b.to_string()).collect(),
            ..caxton::policy::KvStoreGrant::default()
        }),
        logging: Some(LoggingGrant { max_level: LogLevel::Info }),
        ..Grants::default()
    }
}

/// Deliver `content` to `agent` as `performative` and wait until it has been
/// handled without a failure.
async fn deliver(rt: &caxton::runtime::Runtime, agent: &str, performative: Performative, content: serde_json::Value) {
    let calls =
        || rt.agents().into_iter().find(|a| a.name == agent).unwrap().stats.handle_time.counts.iter().sum::<u64>();
    let before = calls();
    rt.bus().send("tester", Message::new(performative, vec![agent.into()], content.to_string())).unwrap();
    for _ in 0..3000 {
        if calls() > before {
            let stats = rt.agents().into_iter().find(|a| a.name == agent).unwrap().stats;
            assert!(stats.failures.is_empty(), "{:?}", stats.failures);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{agent} never handled the message");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_keyvalue_guest_stores_in_its_own_granted_buckets() {
    use caxton::store::KvBackend;
    let store = std::sync::Arc::new(caxton::store::memory::MemoryStore::new());
    let rt = runtime_on(store.clone());
    deploy_all(&rt, vec![spec("std-kv", "std_kv", kv_and_logging(&["default", "cache-*"]))]).await;
    for bucket in ["default", "cache-eu", "default"] {
        deliver(
            &rt,
            "std-kv",
            Performative::Request,
            serde_json::json!({ "bucket": bucket, "key": "k", "value": bucket }),
        )
        .await;
    }
    deliver(&rt, "std-kv", Performative::Request, serde_json::json!({ "bucket": "secret", "key": "k", "value": "v" }))
        .await;
    let default = "std-kv\u{1}default";
    assert_eq!(store.get(default, "k").unwrap(), Some(b"default".to_vec()));
    assert_eq!(store.get(default, "hits").unwrap(), Some(2i64.to_le_bytes().to_vec()), "atomic increments");
    assert_eq!(store.get(default, "swapped").unwrap(), Some(b"xx".to_vec()), "two compare-and-swaps");
    assert_eq!(store.get(default, "batch-b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("std-kv\u{1}cache-eu", "k").unwrap(), Some(b"cache-eu".to_vec()));
    assert_eq!(store.get(default, "denied-secret").unwrap(), Some(b"1".to_vec()), "`secret` was access-denied");
    assert_eq!(store.get("std-kv\u{1}secret", "k").unwrap(), None);
    assert_eq!(store.get("std-kv", "k").unwrap(), None, "buckets are apart from the agent's own kv-store keys");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_keyvalue_guest_is_refused_without_the_kv_store_grant() {
    let grants = Grants { logging: Some(LoggingGrant { max_level: LogLevel::Info }), ..Grants::default() };
    let err = runtime().deploy(spec("std-kv", "std_kv", grants)).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::NotGranted { interface, .. }) if interface.starts_with("wasi:keyvalue/")),
        "{err}"
    );
    assert!(err.to_string().contains("`kv-store`"), "{err}");
}
