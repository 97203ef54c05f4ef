//! Least privilege in every language: each agent `just build-guests` makes
//! imports only the capabilities its code calls (Python and JavaScript agents
//! through the world in their `world.wit`), so its deployment grants only those.

use crate::support::process::caxton;
use crate::support::*;
use serde_json::Value;

/// Every twin, in every language, with the capabilities its code calls.
const TWINS: &[(&str, &[&str])] = &[
    ("text_processor", &["messaging"]),
    // the Python and JavaScript twins read the time through `timers` (their WASI is stubbed)
    ("text_processor_py", &["messaging", "timers"]),
    ("text_processor_js", &["messaging", "timers"]),
    ("counter", &["messaging", "kv-store"]),
    ("counter_py", &["messaging", "kv-store"]),
    ("counter_js", &["messaging", "kv-store"]),
    // the Rust ticker also logs each tick
    ("ticker", &["messaging", "timers", "logging"]),
    ("ticker_py", &["messaging", "timers"]),
    ("ticker_js", &["messaging", "timers"]),
];

#[test]
fn caxton_inspect_lists_exactly_the_capabilities_each_twin_calls() {
    for (twin, calls) in TWINS {
        let file = component(twin);
        let out = caxton(&["inspect", "--json", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let imported: Vec<&str> =
            report["imports"].as_array().unwrap().iter().filter_map(|i| i["capability"].as_str()).collect();
        assert_eq!(&imported, calls, "{twin}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twin_without_a_kv_store_grant_deploys_unless_it_uses_the_kv_store() {
    use caxton::policy::PolicyError;
    use caxton::runtime::RuntimeError;
    let rt = runtime();
    for twin in ["text_processor", "text_processor_py", "text_processor_js"] {
        let mut grants = grants_for(twin);
        assert!(grants.kv_store.is_none(), "{twin} is granted no kv-store");
        grants.timers = all_grants().timers.filter(|_| twin != "text_processor");
        rt.deploy(spec(&format!("tp-{twin}"), twin, grants)).await.unwrap_or_else(|e| panic!("{twin}: {e}"));
    }
    for twin in ["counter", "counter_py", "counter_js"] {
        let refused = rt.deploy(spec(&format!("c-{twin}"), twin, messaging_only())).await;
        match refused {
            Err(RuntimeError::Policy(e @ PolicyError::NotGranted { .. })) => {
                assert!(e.to_string().contains("does not grant `kv-store`"), "{twin}: {e}")
            }
            other => panic!("{twin} imports the kv-store and has no grant for it: {other:?}"),
        }
    }
}

#[test]
fn policy_check_finds_no_unused_grant_in_any_deployment_file() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("policies"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    // all at once, as `caxton policy check policies/*.toml`
    let data = tempfile::tempdir().unwrap();
    let mut args = vec!["policy".to_string(), "check".into(), "--data".into(), data.path().display().to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let out = caxton(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    assert_eq!(said.matches("deployment `").count(), files.len(), "{said}");
    assert!(!said.contains("granted but not imported"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_twin_that_only_reads_the_clock_needs_no_timers_of_its_own() {
    use caxton::acl::Performative;
    use caxton::policy::TimersGrant;
    for twin in ["text_processor_py", "text_processor_js"] {
        let mut grants = grants_for(twin);
        grants.timers = Some(TimersGrant { max_active: 0 });
        let rt = runtime_with(vec![spec("text-processor", twin, grants)]).await;
        let reply = ask(&rt, "text-processor", process_data("uppercase", "data", "tick")).await;
        assert_eq!(reply.performative, Performative::Inform, "{twin}: {}", reply.content);
        assert!(content(&reply)["result"]["timestamp"].as_u64().unwrap() > 1_600_000_000_000, "{twin}");
    }
    let mut ticker = grants_for("ticker_py");
    ticker.timers = Some(TimersGrant { max_active: 0 });
    let rt = runtime_with(vec![spec("ticker", "ticker_py", ticker)]).await;
    let reply = ask(&rt, "ticker", serde_json::json!({ "action": "schedule", "delay_ms": 20 })).await;
    assert_ne!(reply.performative, Performative::Inform, "no timer may be set: {}", reply.content);
}
