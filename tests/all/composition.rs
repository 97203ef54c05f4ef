//! Composed components (`just compose`, `caxton compose`): an agent plugged together with a
//! library component runs, and the grants apply to what the composition imports.

use crate::support::*;
use caxton::acl::Performative;
use caxton::policy::PolicyError;
use caxton::runtime::RuntimeError;
use caxton::store::KvBackend;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_composed_agent_answers_a_request_end_to_end() {
    let rt = runtime_with(vec![spec("composed", "composed_text_full", messaging_only())]).await;
    let reply = ask(&rt, "composed", json!({ "operation": "uppercase", "text": "composed" })).await;
    assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
    assert_eq!(content(&reply)["result"], "COMPOSED");
    let reply = ask(&rt, "composed", json!({ "operation": "shout", "text": "x" })).await;
    assert_eq!(reply.performative, Performative::Failure, "the library's error comes back");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inner_part_needing_an_ungranted_capability_is_refused_naming_the_part() {
    let err = runtime().deploy(spec("composed", "composed_text_counting", messaging_only())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::NotGranted { interface, .. }) if interface == "caxton:agent/kv-store@0.1.0"),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("for the inner component that exports `caxton:textops/ops@0.1.0`"), "{text}");

    // granted, the library counts its calls in the composed agent's own kv-store
    let store = std::sync::Arc::new(caxton::store::memory::MemoryStore::new());
    let rt = runtime_on(store.clone());
    deploy_all(&rt, vec![spec("composed", "composed_text_counting", all_grants())]).await;
    for _ in 0..2 {
        let reply = ask(&rt, "composed", json!({ "operation": "reverse", "text": "abc" })).await;
        assert_eq!(content(&reply)["result"], "cba");
    }
    assert_eq!(store.get("composed", "textops-calls").unwrap(), Some(2i64.to_le_bytes().to_vec()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uncomposed_agent_is_refused_with_a_hint_to_compose_it() {
    let err = runtime().deploy(spec("raw", "composed_text", all_grants())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::Unsupported { interface, .. }) if interface == "caxton:textops/ops@0.1.0"),
        "{err}"
    );
    assert!(err.to_string().contains("compose the component"), "{err}");
}

#[test]
fn inspect_and_policy_check_say_which_part_needs_what() {
    let bin = crate::support::process::bin();
    let out = std::process::Command::new(bin)
        .args(["inspect", "components/composed_text_counting.wasm"])
        .current_dir(root())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("parts (composed):"), "{text}");
    assert!(text.contains("the inner component that exports `caxton:textops/ops@0.1.0`: needs `kv-store`"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("composed.toml");
    let component = component("composed_text_counting");
    std::fs::write(
        &policy,
        format!(
            "[deployment]\nname='c'\n[[agent]]\nname='c'\ncomponent='{}'\n[agent.grants]\nmessaging={{}}\n",
            component.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["policy", "check"])
        .arg(&policy)
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("kv-store") && text.contains("for the inner component that exports"), "{text}");
}

#[test]
fn caxton_compose_plugs_a_library_in_without_an_external_tool() {
    use crate::support::process::caxton;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("composed.wasm");
    let (agent, library) = (component("composed_text"), component("textops"));
    let args = ["compose", agent.to_str().unwrap(), "--plug", library.to_str().unwrap(), "-o", out.to_str().unwrap()];
    let composed = caxton(&args);
    assert!(composed.status.success(), "{}", String::from_utf8_lossy(&composed.stderr));
    let info = caxton::component::inspect(&std::fs::read(&out).unwrap()).unwrap();
    assert!(!info.imports.iter().any(|i| i.starts_with("caxton:textops/")), "the library fills it: {:?}", info.imports);
    assert!(info.imports.iter().any(|i| i.starts_with("caxton:agent/messaging")), "{:?}", info.imports);
    // a component that exports nothing the agent imports plugs nothing in
    let counter = component("counter");
    let args = ["compose", agent.to_str().unwrap(), "--plug", counter.to_str().unwrap(), "-o", out.to_str().unwrap()];
    let refused = caxton(&args);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && said.contains("export nothing the agent imports"), "{said}");
}
