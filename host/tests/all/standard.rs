//! Standard WASI interfaces behind Caxton grants: a guest written against
//! `wasi:logging` runs when `logging` is granted and is refused otherwise.

use crate::support::*;
use caxton::acl::{Message, Performative};
use caxton::policy::{Grants, LogLevel, LoggingGrant, PolicyError};
use caxton::runtime::RuntimeError;

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_logging_guest_runs_under_the_logging_grant() {
    let grants = Grants { logging: Some(LoggingGrant { max_level: LogLevel::Info }), ..Grants::default() };
    let rt = runtime_with(vec![spec("std-logger", "std_logger", grants)]).await;
    let msg = Message::new(Performative::Inform, vec!["std-logger".into()], "\"hello\"".into());
    rt.bus().send("tester", msg).unwrap();
    for _ in 0..3000 {
        let stats = rt.agents().into_iter().find(|a| a.name == "std-logger").unwrap().stats;
        if stats.handle_time.counts.iter().sum::<u64>() >= 3 {
            assert!(stats.failures.is_empty(), "{:?}", stats.failures);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the message was never handled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasi_logging_guest_is_refused_without_the_grant() {
    let err = runtime().deploy(spec("std-logger", "std_logger", Grants::default())).await.unwrap_err();
    assert!(
        matches!(&err, RuntimeError::Policy(PolicyError::NotGranted { interface, .. }) if interface == "wasi:logging/logging@0.1.0-draft"),
        "{err}"
    );
    assert!(err.to_string().contains("`logging`"), "{err}");
}
