//! An ordinary Rust std guest gets an inert WASI: no files, no environment.

use crate::support::*;
use caxton::acl::Performative;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_std_guest_cannot_read_files_or_see_the_environment() {
    // SAFETY of the test: the host process has variables; the guest must not see them.
    assert!(std::env::vars().count() > 0);
    let rt = runtime_with(vec![spec("wasi-probe", "wasi_probe", all_grants())]).await;
    let reply = ask(&rt, "wasi-probe", json!({})).await;
    assert_eq!(reply.performative, Performative::Inform);
    let report = &content(&reply)["result"];
    assert!(report["passwd"]["error"].is_string(), "reading /etc/passwd must fail: {report}");
    assert!(report["root_dir"]["error"].is_string(), "listing / must fail: {report}");
    assert_eq!(report["env"], json!([]));
    assert_eq!(report["args"], json!([]));
}
