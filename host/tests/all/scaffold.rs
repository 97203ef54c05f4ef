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
    // (one test agent and one library too: the guests workspace lists `test-agents/*` and `libs/*`)
    for dir in ["wit", "guests/sdk", "guests/.cargo", "guests/test-agents/wasi-probe", "guests/libs/textops"] {
        copy_dir(&repo.join(dir), &checkout.path().join(dir));
    }
    for file in ["rust-toolchain.toml", "guests/Cargo.toml", "guests/Cargo.lock"] {
        std::fs::copy(repo.join(file), checkout.path().join(file)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_caxton"))
        .args(["new", "--lang", "rust", "price-watcher", "--dir"])
        .arg(checkout.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = Command::new(env!("CARGO_BIN_EXE_caxton"))
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

#[tokio::test(flavor = "multi_thread")]
async fn a_new_python_agent_builds_and_answers_without_edits() {
    let checkout = tempfile::tempdir().unwrap();
    let repo = root();
    copy_dir(&repo.join("wit"), &checkout.path().join("wit"));
    std::fs::create_dir_all(checkout.path().join("guests")).unwrap();
    std::fs::copy(repo.join("guests/Cargo.toml"), checkout.path().join("guests/Cargo.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caxton"))
        .args(["new", "--lang", "python", "greeter", "--dir"])
        .arg(checkout.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // build it the way `just build-guests` does (componentize-py is installed by it)
    std::fs::create_dir_all(checkout.path().join("components")).unwrap();
    // where pip puts commands, as `just build-guests` looks for it
    let scripts = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let path = format!("{scripts}:{}", std::env::var("PATH").unwrap_or_default());
    let built = Command::new("componentize-py")
        .env("PATH", path)
        .args(["-d", "wit", "-w", "agent", "componentize", "--stub-wasi", "-p", "guests/python/greeter", "app", "-o"])
        .arg("components/greeter_py.wasm")
        .current_dir(checkout.path())
        .output()
        .expect("componentize-py is on PATH (`just build-guests` installs it)");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deployment = Deployment::load(&checkout.path().join("policies/greeter.toml")).unwrap();
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;
    let reply = ask(&rt, "greeter", json!({ "hello": "world" })).await;
    assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
    assert_eq!(content(&reply)["result"], json!({ "agent": "greeter", "echo": { "hello": "world" } }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_javascript_agent_builds_and_answers_without_edits() {
    let checkout = tempfile::tempdir().unwrap();
    let repo = root();
    copy_dir(&repo.join("wit"), &checkout.path().join("wit"));
    std::fs::create_dir_all(checkout.path().join("guests")).unwrap();
    std::fs::copy(repo.join("guests/Cargo.toml"), checkout.path().join("guests/Cargo.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_caxton"))
        .args(["new", "--lang", "js", "js-greeter", "--dir"])
        .arg(checkout.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // build it the way `just build-guests` does, with the toolchain it installed in the repository
    std::fs::create_dir_all(checkout.path().join("components")).unwrap();
    let qjs = repo.join("guests/js/node_modules/.bin/componentize-qjs");
    let built = Command::new(&qjs)
        .args([
            "--wit",
            "wit",
            "--js",
            "guests/js/js-greeter/app.js",
            "-n",
            "agent",
            "--sync",
            "--stub-wasi",
            "--opt-size",
            "-o",
        ])
        .arg("components/js_greeter_js.wasm")
        .current_dir(checkout.path())
        .output()
        .unwrap_or_else(|e| panic!("{} (run `just build-guests` first): {e}", qjs.display()));
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deployment = Deployment::load(&checkout.path().join("policies/js-greeter.toml")).unwrap();
    let rt = runtime();
    deploy_all(&rt, deployment.agents).await;
    let reply = ask(&rt, "js-greeter", json!({ "hello": "world" })).await;
    assert_eq!(reply.performative, Performative::Inform, "{}", reply.content);
    assert_eq!(content(&reply)["result"], json!({ "agent": "js-greeter", "echo": { "hello": "world" } }));
}
