//! `caxton deploy FILE.toml` applies a deployment file to a running server
//! (deploy the new, redeploy the changed, leave the rest, `--prune`,
//! `--dry-run`); `caxton deploy FILE.wasm` deploys one component without a
//! file. The real binary against a real server.

use crate::support::process::{caxton, http, spawn_server, Killed};
use crate::support::{component, root};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `caxton ARGS --server http://ADDR`: whether it succeeded and what it printed.
fn cli(addr: &str, args: &[&str]) -> (bool, String) {
    let server = format!("http://{addr}");
    let out = caxton(&[args, &["--server", &server]].concat());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// The demo's deployment file, copied to `dir` with its components' paths made absolute.
fn demo_copy(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("policies/demo.toml")).unwrap();
    let components = format!("\"{}/components/", root().display());
    let file = dir.join("demo.toml");
    std::fs::write(&file, text.replace("\"../components/", &components)).unwrap();
    file
}

/// Whether the plan `said` has a line for `agent` saying `action` (and `why`).
fn planned(said: &str, action: &str, agent: &str, why: &str) -> bool {
    said.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        words.first() == Some(&action) && words.get(1) == Some(&agent) && l.contains(why)
    })
}

/// The server's agents: name → `deployed`.
fn agents(addr: &str) -> Vec<(String, Value)> {
    let (status, listed) = http(addr, "GET", "/v1/agents", "").unwrap();
    assert_eq!(status, 200, "{listed}");
    let agents = listed["agents"].as_array().unwrap();
    agents.iter().map(|a| (a["name"].as_str().unwrap().to_string(), a["deployed"].clone())).collect()
}

fn names(addr: &str) -> Vec<String> {
    agents(addr).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn applying_a_deployment_file_deploys_redeploys_leaves_and_prunes_as_it_says() {
    for name in ["text_processor", "counter", "ticker"] {
        component(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, addr) = spawn_server(&["--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    let file = demo_copy(dir.path());
    let file_arg = file.to_str().unwrap();

    let (ok, said) = cli(&addr, &["deploy", file_arg, "--dry-run"]);
    assert!(ok, "{said}");
    assert!(planned(&said, "deploy", "text-processor", "new") && said.contains("dry run: nothing changed"), "{said}");
    assert!(names(&addr).is_empty(), "a dry run changes nothing");

    let (ok, said) = cli(&addr, &["deploy", file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("applied: 3 deployed, 0 redeployed, 0 unchanged, 0 removed"), "{said}");
    assert_eq!(names(&addr), ["counter", "text-processor", "ticker"]);

    let (ok, said) = cli(&addr, &["deploy", file_arg]);
    assert!(ok, "{said}");
    assert!(said.contains("applied: 0 deployed, 0 redeployed, 3 unchanged, 0 removed"), "{said}");

    // a changed grant redeploys that agent alone
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("quota-bytes = 1_048_576", "quota-bytes = 2_097_152")).unwrap();
    let (ok, said) = cli(&addr, &["deploy", file_arg]);
    assert!(ok, "{said}");
    assert!(planned(&said, "redeploy", "counter", "grants changed"), "{said}");
    assert!(said.contains("applied: 0 deployed, 1 redeployed, 2 unchanged, 0 removed"), "{said}");
    let counter = agents(&addr).into_iter().find(|(n, _)| n == "counter").unwrap().1;
    assert_eq!(counter["grants"]["kv-store"]["quota-bytes"], 2_097_152, "{counter}");

    // an agent the file no longer lists stays unless --prune
    let text = std::fs::read_to_string(&file).unwrap();
    let (kept, _) = text.split_once("[[agent]]\nname = \"ticker\"").unwrap();
    std::fs::write(&file, kept).unwrap();
    let (ok, said) = cli(&addr, &["deploy", file_arg]);
    assert!(ok && planned(&said, "keep", "ticker", "--prune removes it"), "{said}");
    let (ok, said) = cli(&addr, &["deploy", file_arg, "--prune", "--dry-run"]);
    assert!(ok && planned(&said, "remove", "ticker", ""), "{said}");
    assert!(names(&addr).contains(&"ticker".to_string()), "a dry run changes nothing");
    // an agent another deployment put there is not this file's to prune
    let (ok, said) = cli(&addr, &["deploy", component("relay").to_str().unwrap(), "--name", "bystander"]);
    assert!(ok, "{said}");
    let (ok, said) = cli(&addr, &["deploy", file_arg, "--prune"]);
    assert!(ok, "{said}");
    assert!(said.contains("applied: 0 deployed, 0 redeployed, 2 unchanged, 1 removed"), "{said}");
    assert!(!said.contains("bystander"), "{said}");
    assert_eq!(names(&addr), ["bystander", "counter", "text-processor"]);
}

#[test]
fn a_file_is_checked_whole_before_anything_is_applied_and_its_paths_mean_what_they_say_there() {
    for name in ["counter", "fs_probe"] {
        component(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // the server runs elsewhere than the file: a relative directory is the file's, not the server's
    let (server, addr) = spawn_server(&["--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    std::fs::create_dir(dir.path().join("files")).unwrap();
    let components = root().join("components");
    let file = dir.path().join("mixed.toml");
    let write = |counter_grants: &str| {
        let text = format!(
            "[deployment]\nname = \"mixed\"\n\
             [[agent]]\nname = \"files\"\ncomponent = \"{c}/fs_probe.wasm\"\n[agent.grants]\nmessaging = {{}}\n\
             filesystem = {{ dir = \"files\", guest-path = \"/d\" }}\n\
             [[agent]]\nname = \"counter\"\ncomponent = \"{c}/counter.wasm\"\n[agent.grants]\n{counter_grants}\n",
            c = components.display()
        );
        std::fs::write(&file, text).unwrap();
    };
    // the counter imports the kv-store: without the grant, nothing is applied, not even `files`
    write("messaging = {}");
    let (ok, said) = cli(&addr, &["deploy", file.to_str().unwrap()]);
    assert!(!ok && said.contains("nothing applied") && said.contains("does not grant `kv-store`"), "{said}");
    assert!(names(&addr).is_empty(), "{said}");
    write("messaging = {}\nkv-store = {}");
    let (ok, said) = cli(&addr, &["deploy", file.to_str().unwrap()]);
    assert!(ok, "{said}");
    let files = agents(&addr).into_iter().find(|(n, _)| n == "files").unwrap().1;
    let granted = dir.path().canonicalize().unwrap().join("files");
    assert_eq!(files["grants"]["filesystem"]["dir"], granted.display().to_string(), "{files}");
    let (ok, said) = cli(&addr, &["deploy", file.to_str().unwrap()]);
    assert!(ok && said.contains("2 unchanged"), "{said}");
    let (ok, said) = cli(&addr, &["agents"]);
    assert!(ok && said.lines().any(|l| l.contains("files") && l.contains("filesystem")), "{said}");
}

#[test]
fn what_serve_deployed_from_a_file_is_unchanged_by_applying_that_file() {
    for name in ["text_processor", "counter", "ticker"] {
        component(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = demo_copy(dir.path());
    let data = dir.path().join("data");
    let (server, addr) = spawn_server(&["--deployment", file.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    let (ok, said) = cli(&addr, &["deploy", file.to_str().unwrap(), "--json"]);
    assert!(ok, "{said}");
    let report: Value = serde_json::from_str(&said).unwrap();
    let actions: Vec<&str> = report["plan"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["unchanged", "unchanged", "unchanged"], "{report}");
    assert_eq!(report["applied"]["unchanged"], 3, "{report}");
    // a file of agent types only applies nothing: it says so, and how to deploy them
    let (ok, said) = cli(&addr, &["deploy", "policies/accounts.toml"]);
    assert!(!ok && said.contains("has only agent types") && said.contains("serve --deployment"), "{said}");
}

#[test]
fn a_component_deploys_without_a_deployment_file_granted_what_it_imports() {
    component("text_processor_py");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, addr) = spawn_server(&["--data", data.to_str().unwrap()]);
    let _server = Killed(server);
    // an 18 MB Python component, through HTTP
    let (ok, said) = cli(&addr, &["deploy", "components/text_processor_py.wasm"]);
    assert!(ok, "{said}");
    let deployed = agents(&addr).into_iter().find(|(n, _)| n == "text-processor-py").map(|(_, d)| d);
    let deployed = deployed.unwrap_or_else(|| panic!("deployed under its file's name: {said}"));
    assert_eq!(deployed["grants"], json!({ "messaging": { "send-to": ["*"] }, "timers": { "max-active": 16 } }));
    let ask = json!({ "performative": "request", "receiver": "text-processor-py",
                      "content": { "action": "process_data", "data": { "operation": "uppercase", "data": "py" } } });
    let (status, reply) = http(&addr, "POST", "/v1/messages?wait_ms=20000", &ask.to_string()).unwrap();
    assert_eq!((status, reply["content"]["result"]["result"].as_str()), (200, Some("PY")), "{reply}");

    // granted less than it imports: refused, naming what is missing
    let (ok, said) = cli(&addr, &["deploy", "components/counter_py.wasm", "--name", "c", "--grant", "messaging"]);
    assert!(!ok && said.contains("does not grant `kv-store`"), "{said}");
    // a grant spelled out as in a deployment file
    let (ok, said) = cli(
        &addr,
        &[
            "deploy",
            "components/counter_py.wasm",
            "--name",
            "c",
            "--grant",
            "messaging",
            "--grant",
            "kv-store = { max-keys = 5 }",
        ],
    );
    assert!(ok, "{said}");
    let (ok, said) = cli(&addr, &["deploy", "components/counter_py.wasm", "--grant", "files"]);
    assert!(!ok && said.contains("`files` is not a capability"), "{said}");
    let (ok, said) = cli(&addr, &["deploy", "policies/demo.toml", "--name", "x"]);
    assert!(!ok && said.contains("go with a component"), "{said}");
}
