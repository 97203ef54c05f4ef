//! The filesystem grant: one directory, confined with cap-std; nothing outside
//! it is reachable by `..`, absolute paths or symlinks, and nothing at all
//! without the grant.

use crate::support::*;
use caxton::policy::{Deployment, FilesystemGrant, Grants, MessagingGrant};
use serde_json::{json, Value};
use std::path::Path;

fn fs_probe(dir: Option<&Path>, read_only: bool) -> caxton::policy::AgentSpec {
    let grants = Grants {
        messaging: Some(MessagingGrant::send_to_all()),
        filesystem: dir.map(|d| FilesystemGrant { host_dir: d.to_path_buf(), guest_path: "/data".into(), read_only }),
        ..Grants::default()
    };
    spec("files", "fs_probe", grants)
}

async fn run(rt: &caxton::runtime::Runtime, action: &str, path: &str) -> Value {
    content(&ask(rt, "files", json!({ "action": action, "path": path, "text": "written by the agent" })).await)
        ["result"]
        .clone()
}

/// A granted directory with a file, next to a secret outside it, and symlinks pointing out.
fn sandbox() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("secret.txt"), "outside").unwrap();
    let granted = root.path().join("granted");
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("hello.txt"), "inside").unwrap();
    std::os::unix::fs::symlink(root.path().join("secret.txt"), granted.join("absolute-link")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", granted.join("relative-link")).unwrap();
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_directory_is_usable_and_nothing_outside_it_is() {
    let root = sandbox();
    let granted = root.path().join("granted");
    let rt = runtime_with(vec![fs_probe(Some(&granted), false)]).await;
    assert_eq!(run(&rt, "read", "/data/hello.txt").await, json!({ "ok": "inside" }));
    assert_eq!(run(&rt, "write", "/data/new.txt").await, json!({ "ok": "written" }));
    assert_eq!(std::fs::read_to_string(granted.join("new.txt")).unwrap(), "written by the agent");
    for escape in [
        "/data/../secret.txt",
        "/data/../../etc/passwd",
        "/etc/passwd",
        "../secret.txt",
        "/data/absolute-link",
        "/data/relative-link",
    ] {
        let got = run(&rt, "read", escape).await;
        assert!(got["error"].is_string(), "{escape} must not be readable: {got}");
    }
    let written = run(&rt, "write", "/data/../escaped.txt").await;
    assert!(written["error"].is_string(), "{written}");
    assert!(!root.path().join("escaped.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_grant_refuses_writes() {
    let root = sandbox();
    let rt = runtime_with(vec![fs_probe(Some(&root.path().join("granted")), true)]).await;
    assert_eq!(run(&rt, "read", "/data/hello.txt").await, json!({ "ok": "inside" }));
    assert!(run(&rt, "write", "/data/new.txt").await["error"].is_string());
    assert!(!root.path().join("granted/new.txt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_grant_there_is_no_filesystem() {
    let rt = runtime_with(vec![fs_probe(None, false)]).await;
    assert!(run(&rt, "read", "/data/hello.txt").await["error"].is_string());
    assert!(run(&rt, "list", "/").await["error"].is_string());
}

#[test]
fn the_grant_is_read_from_deployment_files_and_checked() {
    let text = "[deployment]\nname='d'\n[[agent]]\nname='a'\ncomponent='a.wasm'\n[agent.grants]\nfilesystem = { dir = 'files', mode = 'read-write' }\n";
    let d = Deployment::parse(text, Path::new("policies/x.toml")).unwrap();
    let fs = d.agents[0].grants.filesystem.clone().unwrap();
    assert_eq!(
        (fs.host_dir.as_path(), fs.guest_path.as_str(), fs.read_only),
        (Path::new("policies/files"), "/data", false)
    );
    for bad in ["mode = 'everything'", "guest-path = 'data'", "guest-path = '/a/../b'"] {
        let text = format!("[deployment]\nname='d'\n[[agent]]\nname='a'\ncomponent='a.wasm'\n[agent.grants]\nfilesystem = {{ dir = 'x', {bad} }}\n");
        assert!(Deployment::parse(&text, Path::new("p.toml")).is_err(), "{bad}");
    }
}
