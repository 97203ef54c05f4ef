//! `caxton new` produces an agent that builds and answers a request without edits.

use crate::support::*;
use caxton::acl::Performative;
use caxton::policy::Deployment;
use serde_json::json;
use std::path::Path;
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_rust_agent_builds_and_answers_without_edits() {
    // a checkout with the SDK and the WIT, but none of the other agents
    let checkout = tempfile::tempdir().unwrap();
    let repo = root();
    // (one test agent, library and bench peer too: the guests workspace lists
    // `test-agents/*`, `libs/*` and `peers/*`)
    let guests = ["guests/test-agents/wasi-probe", "guests/libs/textops", "guests/peers/http-upper"];
    for dir in ["wit", "guests/sdk", "guests/.cargo"].into_iter().chain(guests) {
        copy_dir(&repo.join(dir), &checkout.path().join(dir));
    }
    for file in ["rust-toolchain.toml", "guests/Cargo.toml", "guests/Cargo.lock"] {
        std::fs::copy(repo.join(file), checkout.path().join(file)).unwrap();
    }
    let out = Command::new(crate::support::process::bin())
        .args(["new", "--lang", "rust", "price-watcher", "--dir"])
        .arg(checkout.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = Command::new(crate::support::process::bin())
        .args(["new", "price-watcher", "--dir"])
        .arg(checkout.path())
        .output()
        .unwrap();
    assert!(!again.status.success(), "an existing agent is never overwritten");

    // build it the way `just build-guests` does, sharing the repository's target directory
    let built = Command::new("cargo")
        .args(["build", "--release", "--quiet", "--offline", "-p", "price-watcher"])
        .current_dir(checkout.path().join("guests"))
        .env("CARGO_TARGET_DIR", repo.join("target"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let wasm = repo.join("target/wasm32-wasip2/release/price_watcher.wasm");
    std::fs::create_dir_all(checkout.path().join("components")).unwrap();
    std::fs::copy(&wasm, checkout.path().join("components/price_watcher.wasm")).unwrap();

    let deployment = Deployment::load(&checkout.path().join("policies/price-watcher.toml")).unwrap();
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;
    let reply = ask(&rt, "price-watcher", json!({ "hello": "world" })).await;
    assert_eq!(reply.performative, Performative::Inform);
    assert_eq!(content(&reply)["result"], json!({ "agent": "price-watcher", "echo": { "hello": "world" } }));
}

/// A checkout with the WIT and the guests workspace file, where `caxton new --lang LANG NAME [extra]` ran.
fn scaffolded(lang: &str, name: &str, extra: &[&str]) -> tempfile::TempDir {
    let checkout = tempfile::tempdir().unwrap();
    let repo = root();
    copy_dir(&repo.join("wit"), &checkout.path().join("wit"));
    for dir in ["components", "guests"] {
        std::fs::create_dir_all(checkout.path().join(dir)).unwrap();
    }
    copy_dir(&repo.join("guests/assemblyscript/caxton"), &checkout.path().join("guests/assemblyscript/caxton"));
    for file in [
        "guests/Cargo.toml",
        "guests/python/caxton_helpers.py",
        "guests/js/caxton.js",
        "guests/assemblyscript/package.json",
    ] {
        std::fs::create_dir_all(checkout.path().join(file).parent().unwrap()).unwrap();
        std::fs::copy(repo.join(file), checkout.path().join(file)).unwrap();
    }
    let out = Command::new(crate::support::process::bin())
        .args(["new", "--lang", lang, name, "--dir"])
        .arg(checkout.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    checkout
}

/// `just build-agent DIR` of this repository's justfile, run in `checkout`.
fn build_agent(checkout: &Path, dir: &str) -> Command {
    let mut build = Command::new("just");
    build.arg("--justfile").arg(root().join("justfile")).arg("--working-directory").arg(checkout);
    build.args(["build-agent", dir]).env("CAXTON", crate::support::process::bin());
    build
}

/// The capabilities a built component imports and those its scaffolded deployment grants.
fn imported_and_granted(checkout: &Path, name: &str, component: &str) -> (Vec<String>, Vec<String>) {
    let bytes = std::fs::read(checkout.join("components").join(component)).unwrap();
    let info = caxton::component::inspect(&bytes).unwrap();
    let imported = info.imports.iter().filter_map(|i| caxton::interfaces::capability_of(i)).map(|c| c.to_string());
    let deployment = Deployment::load(&checkout.join(format!("policies/{name}.toml"))).unwrap();
    let granted = deployment.agents[0].grants.granted().into_iter().map(|c| c.to_string());
    (imported.collect(), granted.collect())
}

/// Build with `command` in `checkout`, deploy `policies/NAME.toml` and check the echo reply.
async fn builds_and_answers(checkout: &Path, name: &str, mut command: Command) {
    let built = command.current_dir(checkout).output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deployment = Deployment::load(&checkout.join(format!("policies/{name}.toml"))).unwrap();
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;
    let reply = ask(&rt, name, json!({ "hello": "world" })).await;
    assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
    assert_eq!(content(&reply)["result"], json!({ "agent": name, "echo": { "hello": "world" } }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_python_agent_builds_and_answers_without_edits_importing_only_its_capabilities() {
    let checkout = scaffolded("python", "greeter", &["--capability", "kv-store,logging"]);
    let world = std::fs::read_to_string(checkout.path().join("guests/python/greeter/world.wit")).unwrap();
    assert!(world.contains("import caxton:agent/kv-store@0.1.0;") && !world.contains("timers"), "{world}");
    builds_and_answers(checkout.path(), "greeter", build_agent(checkout.path(), "guests/python/greeter")).await;
    let (imported, granted) = imported_and_granted(checkout.path(), "greeter", "greeter_py.wasm");
    assert_eq!(imported, ["messaging", "kv-store", "logging"]);
    assert_eq!(granted, imported, "the deployment grants exactly what the agent imports");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_javascript_agent_builds_and_answers_without_edits_importing_only_messaging() {
    let checkout = scaffolded("js", "js-greeter", &[]);
    builds_and_answers(checkout.path(), "js-greeter", build_agent(checkout.path(), "guests/js/js-greeter")).await;
    let (imported, granted) = imported_and_granted(checkout.path(), "js-greeter", "js_greeter_js.wasm");
    assert_eq!(
        (imported.as_slice(), granted.as_slice()),
        (["messaging".to_string()].as_slice(), ["messaging".to_string()].as_slice())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_assemblyscript_agent_builds_and_answers_without_edits_importing_only_messaging() {
    let checkout = scaffolded("assemblyscript", "as-greeter", &[]);
    let dir = "guests/assemblyscript/as-greeter";
    builds_and_answers(checkout.path(), "as-greeter", build_agent(checkout.path(), dir)).await;
    let (imported, granted) = imported_and_granted(checkout.path(), "as-greeter", "as_greeter_as.wasm");
    assert_eq!(
        (imported.as_slice(), granted.as_slice()),
        (["messaging".to_string()].as_slice(), ["messaging".to_string()].as_slice())
    );
}

#[test]
fn an_unknown_capability_is_refused_with_the_ones_there_are() {
    let out = Command::new(crate::support::process::bin())
        .args(["new", "--lang", "python", "x", "--capability", "messaging,files"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("`files` is not a capability; use messaging, timers, kv-store, logging"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exception_a_python_agent_lets_out_reaches_the_sender_as_a_failure_naming_it() {
    let checkout = scaffolded("python", "raiser", &[]);
    let app = "from caxton_helpers import Agent\n\n\nclass Guest(Agent):\n    def handle_message(self, msg):\n        return {}[msg.content]\n";
    std::fs::write(checkout.path().join("guests/python/raiser/app.py"), app).unwrap();
    let built = build_agent(checkout.path(), "guests/python/raiser").output().unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deployment = Deployment::load(&checkout.path().join("policies/raiser.toml")).unwrap();
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;
    let reply = ask(&rt, "raiser", json!("the key")).await;
    assert_eq!(reply.performative, Performative::Failure, "{}", reply.content);
    let said = content(&reply);
    assert_eq!(said["reason"], "handler-error", "an error the agent returned, not a trap: {said}");
    let error = said["error"].as_str().unwrap();
    assert!(error.contains("KeyError") && error.contains("the key") && error.contains("app.py"), "{error}");
}
