//! `caxton policy check` refuses what a deploy refuses, offline, and every
//! refusal names the import or export and the function.

use crate::support::hostile_wat::WatAgent;
use crate::support::*;
use caxton::policy::PolicyError;
use caxton::runtime::RuntimeError;

/// A hostile variant of the minimal WAT agent, and what its refusal must name.
struct Case {
    name: &'static str,
    wat: String,
    names: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let agent = WatAgent::default().wat();
    let with_import = |import: &str| agent.replacen("(component", &format!("(component\n  {import}"), 1);
    vec![
        Case {
            name: "guest-at-another-version",
            wat: agent.replace("\"caxton:agent/guest@0.1.0\"", "\"caxton:agent/guest@0.2.0\""),
            names: &["`caxton:agent/guest@0.1.0`", "it exports `caxton:agent/guest@0.2.0`"],
        },
        Case {
            name: "timer-takes-u32",
            wat: agent
                .replace("(param \"id\" u64)", "(param \"id\" u32)")
                .replace("(func (export \"handle-timer\") (param i64)", "(func (export \"handle-timer\") (param i32)"),
            names: &["`caxton:agent/guest@0.1.0`", "`handle-timer`", "wrong type", "u64", "u32"],
        },
        Case {
            name: "no-shutdown",
            wat: agent.replace("    (export \"shutdown\" (func $shutdown))\n", ""),
            names: &["`caxton:agent/guest@0.1.0`", "`shutdown`", "is missing"],
        },
        Case {
            name: "baseline-with-unknown-function",
            wat: with_import(
                r#"(import "wasi:cli/environment@0.2.99" (instance (export "get-magic" (func (result u32)))))"#,
            ),
            names: &["wasi:cli/environment@0.2.99", "get-magic"],
        },
        Case {
            name: "messaging-at-another-version",
            wat: with_import(r#"(import "caxton:agent/messaging@0.1.1" (instance))"#),
            names: &["`caxton:agent/messaging@0.1.1`", "provides `caxton:agent/messaging@0.1.0`"],
        },
    ]
}

fn assert_names(text: &str, case: &Case) {
    for needle in case.names {
        assert!(text.contains(needle), "{}: `{needle}` missing from: {text}", case.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_refuses_each_fault_naming_the_interface_and_the_function() {
    for case in cases() {
        let bytes = wat::parse_str(&case.wat).unwrap();
        let err = runtime().deploy_bytes(spec(case.name, "counter", all_grants()), bytes).await.unwrap_err();
        assert_names(&err.to_string(), &case);
        if case.name == "messaging-at-another-version" {
            assert!(matches!(err, RuntimeError::Policy(PolicyError::UnsupportedVersion { .. })), "{err}");
        }
    }
}

#[test]
fn policy_check_refuses_what_a_deploy_refuses_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for case in cases() {
        let component = dir.path().join(format!("{}.wasm", case.name));
        std::fs::write(&component, wat::parse_str(&case.wat).unwrap()).unwrap();
        let file = dir.path().join(format!("{}.toml", case.name));
        let text = format!(
            "[deployment]\nname = 'x'\n[[agent]]\nname = '{}'\ncomponent = '{}'\n[agent.grants]\nmessaging = {{}}\n",
            case.name,
            component.display()
        );
        std::fs::write(&file, text).unwrap();
        let out = std::process::Command::new(crate::support::process::bin())
            .args(["policy", "check"])
            .arg(&file)
            .arg("--data")
            .arg(&data)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{}: {said}", case.name);
        assert!(said.contains("REFUSED"), "{said}");
        assert_names(&said, &case);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_built_guest_passes_the_export_check() {
    // the check holds the bindings' types, so a real agent of each language passes it
    for name in ["text_processor", "text_processor_py", "text_processor_js", "bus_probe", "composed_text_full"] {
        let rt = runtime();
        rt.deploy(spec(name, name, all_grants())).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn over_http_an_import_caxton_cannot_serve_is_an_unsupported_import_not_a_missing_grant() {
    let api = crate::support::api::Api::start();
    let imports = ["messaging-at-another-version", "baseline-with-unknown-function"];
    for case in cases().into_iter().filter(|c| imports.contains(&c.name)) {
        let bytes = wat::parse_str(&case.wat).unwrap();
        let token = Some(crate::support::api::TOKEN);
        let (status, uploaded) = api.call("POST", "/v1/components", token, "application/wasm", &bytes);
        assert_eq!(status, 201, "{uploaded}");
        let request =
            serde_json::json!({ "name": "old-sdk", "component": uploaded["component"], "grants": { "messaging": {} } });
        let (status, refused) = api.admin("POST", "/v1/agents", &request);
        assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("unsupported-import")), "{refused}");
        assert_names(refused["error"]["message"].as_str().unwrap(), &case);
    }
}
