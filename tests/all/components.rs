//! Bad binaries are refused with clear errors; good ones are compiled once.

use crate::support::*;
use caxton::component::{ComponentError, MAX_COMPONENT_BYTES};
use caxton::runtime::{Runtime, RuntimeConfig, RuntimeError};
use caxton::store::memory::MemoryStore;
use std::sync::Arc;

async fn deploy_bytes(bytes: Vec<u8>) -> RuntimeError {
    runtime().deploy_bytes(spec("bad", "counter", all_grants()), bytes).await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_bytes_are_not_webassembly() {
    let err = deploy_bytes(b"definitely not wasm".to_vec()).await;
    assert!(matches!(err, RuntimeError::Component { source: ComponentError::NotWasm, .. }), "{err}");
    let err = deploy_bytes(b"\0asm\x0d\0\x01\0garbage".to_vec()).await;
    assert!(matches!(err, RuntimeError::Component { source: ComponentError::Invalid(_), .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_not_a_component() {
    let err = deploy_bytes(wat::parse_str("(module (func (export \"handle_message\")))").unwrap()).await;
    assert!(matches!(err, RuntimeError::Component { source: ComponentError::CoreModule, .. }), "{err}");
    assert!(err.to_string().contains("expected a component"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.wasm");
    std::fs::File::create(&path).unwrap().set_len(MAX_COMPONENT_BYTES as u64 + 1).unwrap();
    let mut s = spec("huge", "counter", all_grants());
    s.component = path;
    let err = runtime().deploy(s).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Component { source: ComponentError::TooLarge { .. }, .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_without_the_agent_exports_is_refused_naming_the_export() {
    let err = deploy_bytes(wat::parse_str("(component)").unwrap()).await;
    assert!(matches!(err, RuntimeError::MissingExports { ref missing, .. } if missing.len() == 1), "{err}");
    assert!(err.to_string().contains("`caxton:agent/guest@0.1.0`"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_components_are_cached_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let cached = || std::fs::read_dir(dir.path()).map(|d| d.count()).unwrap_or(0);
    for _ in 0..2 {
        let rt = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..RuntimeConfig::new(Arc::new(MemoryStore::new()))
        })
        .unwrap();
        rt.deploy(spec("counter", "counter", all_grants())).await.unwrap();
        assert_eq!(cached(), 1);
        let reply = ask(&rt, "counter", serde_json::json!({ "action": "increment" })).await;
        assert_eq!(content(&reply)["result"]["count"], 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compiled_component_leaves_memory_with_the_last_agent_that_runs_it() {
    let rt = runtime();
    deploy_all(&rt, vec![probe("first"), probe("second")]).await;
    assert_eq!(rt.components_in_memory(), 1, "two agents of one component share it");
    rt.remove("first", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    assert_eq!(rt.components_in_memory(), 1, "`second` still runs it");
    rt.remove("second", caxton::runtime::StateOnRemove::Delete).await.unwrap();
    assert_eq!(rt.components_in_memory(), 0);

    // a redeploy with another component lets the old one go too
    rt.deploy(spec("shifting", "counter", all_grants())).await.unwrap();
    let other = std::fs::read(component("text_processor")).unwrap();
    rt.redeploy_bytes(spec("shifting", "text_processor", all_grants()), other).await.unwrap();
    assert_eq!(rt.components_in_memory(), 1);
    let reply = ask(&rt, "shifting", serde_json::json!({ "action": "get_status" })).await;
    assert_eq!(reply.performative, caxton::acl::Performative::Inform, "{}", reply.content);
}
