//! A capability that is not granted is never linked.

use crate::support::*;
use caxton::policy::{Deployment, Grants, PolicyError};
use caxton::runtime::{prepare, RuntimeError};
use wasmtime::component::Component;

#[tokio::test(flavor = "multi_thread")]
async fn refuses_an_agent_importing_kv_store_without_the_grant() {
    let rt = runtime();
    let err = rt.deploy(spec("counter", "counter", messaging_only())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::NotGranted { interface, .. }) if interface == "caxton:agent/kv-store@0.1.0"),
        "{err}"
    );
    let text = err.to_string();
    for needle in ["`counter`", "caxton:agent/kv-store@0.1.0", "`kv-store`", "policies/test.toml"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(rt.agents().is_empty(), "nothing is registered after a refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refusal_names_the_deployment_file_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-kv.toml");
    let text = format!(
        "[deployment]\nname = 'no-kv'\n[[agent]]\nname = 'counter'\ncomponent = '{}'\n[agent.grants]\nmessaging = {{}}\n",
        component("counter").display()
    );
    std::fs::write(&file, text).unwrap();
    let spec = Deployment::load(&file).unwrap().agents.remove(0);
    let err = runtime().deploy(spec).await.unwrap_err().to_string();
    assert!(err.contains(&file.display().to_string()) && err.contains("kv-store"), "{err}");
}

#[test]
fn without_the_preflight_wasmtime_itself_cannot_link_the_missing_interface() {
    let rt = runtime();
    let bytes = std::fs::read(component("counter")).unwrap();
    let compiled = Component::new(rt.engine(), bytes).unwrap();
    let err = prepare(rt.engine(), &compiled, &messaging_only()).err().expect("linking must fail");
    assert!(format!("{err:#}").contains("kv-store"), "{err:#}");
    // the same component links once kv-store is granted: the interface was absent, nothing else
    assert!(prepare(rt.engine(), &compiled, &all_grants()).is_ok());
}

#[test]
fn with_no_grants_even_messaging_is_absent() {
    let rt = runtime();
    let bytes = std::fs::read(component("text_processor")).unwrap();
    let compiled = Component::new(rt.engine(), bytes).unwrap();
    let err = prepare(rt.engine(), &compiled, &Grants::default()).err().expect("linking must fail");
    assert!(format!("{err:#}").contains("messaging"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_sockets_and_http_whatever_the_grants() {
    for import in ["wasi:sockets/tcp@0.2.6", "wasi:http/outgoing-handler@0.2.6"] {
        let bytes = wat::parse_str(format!(r#"(component (import "{import}" (instance)))"#)).unwrap();
        let err = runtime().deploy_bytes(spec("net", "counter", all_grants()), bytes).await.unwrap_err();
        assert!(
            matches!(&err, RuntimeError::Policy(PolicyError::Unsupported { interface, .. }) if interface == import),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grant_the_component_does_not_use_is_harmless() {
    let rt = runtime_with(vec![spec("text-processor", "text_processor", all_grants())]).await;
    assert_eq!(rt.agents().len(), 1);
}
