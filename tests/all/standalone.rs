//! Agents outside this repository: in an empty directory elsewhere, `caxton new
//! NAME && cd NAME && caxton build && caxton deploy caxton.toml` gives an agent
//! that answers — no edits, no path into the checkout. The real binary, the
//! real toolchains, a real server.

use crate::support::process::{bin, spawn_server, Killed};
use crate::support::root;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `caxton ARGS` in `dir`: whether it succeeded and what it printed.
fn caxton_in(dir: &Path, args: &[&str]) -> (bool, String) {
    // a Rust project's build goes where the next run finds it again
    let target = root().join("target/standalone");
    let out = Command::new(bin()).args(args).current_dir(dir).env("CARGO_TARGET_DIR", target).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// Every file under `dir`, as text where it is text.
fn texts(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("target") && !path.ends_with("node_modules") {
                texts(&path, out);
            }
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path.display().to_string(), text));
        }
    }
}

/// Scaffold `name` in `lang` in a fresh directory outside the checkout, build it, deploy it to
/// a fresh server and check it answers.
fn a_project_builds_deploys_and_answers(lang: &str, name: &str) {
    let elsewhere = tempfile::tempdir().unwrap();
    assert!(!elsewhere.path().starts_with(root()), "the project is outside the checkout");
    let (ok, said) = caxton_in(elsewhere.path(), &["new", "--lang", lang, name]);
    assert!(ok, "{said}");
    let project = elsewhere.path().join(name);
    let mut files = Vec::new();
    texts(&project, &mut files);
    let checkout = root().canonicalize().unwrap().display().to_string();
    for (file, text) in &files {
        assert!(!text.contains(&checkout) && !text.contains("../../"), "{file} points into the checkout");
    }
    let (ok, said) = caxton_in(&project, &["build"]);
    assert!(ok, "{said}");
    // built again with nothing changed: the same component, so a deploy sees nothing to do
    let component = || std::fs::read(project.join(format!("target/{}.wasm", name.replace('-', "_")))).unwrap();
    let first = component();
    let (ok, said) = caxton_in(&project, &["build"]);
    assert!(ok && said.contains("up to date"), "{said}");
    assert!(component() == first, "the component is kept");
    let data = elsewhere.path().join("data");
    let (server, addr) = spawn_server(&["--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    let url = format!("http://{addr}");
    let (ok, said) = caxton_in(&project, &["deploy", "caxton.toml", "--server", &url]);
    assert!(ok && said.contains("applied: 1 deployed"), "{said}");
    let (ok, said) = caxton_in(&project, &["deploy", "caxton.toml", "--server", &url]);
    assert!(ok && said.contains("applied: 0 deployed, 0 redeployed, 1 unchanged"), "{said}");
    let (ok, said) =
        caxton_in(&project, &["send", name, r#"{"hello":"world"}"#, "--wait", "20000", "--server", &url, "--json"]);
    assert!(ok, "{said}");
    let reply: Value = serde_json::from_str(&said).unwrap_or_else(|e| panic!("{e}: {said}"));
    assert_eq!(reply["performative"], "inform", "{reply}");
    assert_eq!(reply["content"]["result"], serde_json::json!({ "agent": name, "echo": { "hello": "world" } }));
}

#[test]
fn a_python_agent_outside_the_checkout_builds_deploys_and_answers() {
    a_project_builds_deploys_and_answers("python", "py-hello");
}

#[test]
fn a_javascript_agent_outside_the_checkout_builds_deploys_and_answers() {
    a_project_builds_deploys_and_answers("js", "js-hello");
}

#[test]
fn a_rust_agent_outside_the_checkout_builds_deploys_and_answers() {
    a_project_builds_deploys_and_answers("rust", "rust-hello");
}

#[test]
fn building_where_there_is_no_project_says_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    let (ok, said) = caxton_in(empty.path(), &["build"]);
    assert!(!ok && said.contains("has no caxton.toml") && said.contains("caxton new NAME"), "{said}");
}

#[test]
fn an_assemblyscript_agent_outside_the_checkout_builds_deploys_and_answers() {
    a_project_builds_deploys_and_answers("assemblyscript", "as-hello");
}
