//! Deploys and removals of one name take turns: a removal's clean-up never
//! lands on the agent deployed after it under the same name.

use crate::support::*;
use caxton::acl::Performative;
use caxton::runtime::StateOnRemove;
use serde_json::json;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_during_a_removal_waits_and_keeps_what_it_stores() {
    let rt = Arc::new(runtime());
    let mut slow = spec("slow", "misbehaver", all_grants());
    slow.limits.deadline_micros = 2_000_000;
    deploy_all(&rt, vec![slow]).await;
    let mut sleeping = caxton::acl::Message::new(
        caxton::acl::Performative::Request,
        vec!["slow".into()],
        json!({ "action": "sleep" }).to_string(),
    );
    sleeping.reply_with = Some("zz".into());
    rt.bus().send("tester", sleeping).unwrap();
    while rt.agents().first().is_none_or(|a| a.stats.messages == 0) {
        tokio::task::yield_now().await;
    }
    // the removal waits for the message in hand (until its deadline), then clears the state
    let removal = tokio::spawn({
        let rt = rt.clone();
        async move { rt.remove("slow", StateOnRemove::Delete).await }
    });
    while rt.bus().is_agent("slow") {
        tokio::task::yield_now().await;
    }
    rt.deploy(spec("slow", "bus_probe", all_grants())).await.unwrap();
    let stored = ask(&rt, "slow", json!({ "action": "put", "key": "important", "value": "new" })).await;
    assert_eq!(content(&stored)["result"], "stored");
    removal.await.unwrap().unwrap();
    let kept = ask(&rt, "slow", json!({ "action": "get", "key": "important" })).await;
    assert_eq!(content(&kept)["result"], "new", "the removal of the old agent left the new one's data alone");
}

/// A redeploy's grants bound the very next call, also for the timers that carry over: a
/// `max-active` raised from 0 lets the new version set timers, lowered again it refuses them.
#[tokio::test(flavor = "multi_thread")]
async fn a_redeploy_changes_the_timer_limit_for_the_next_set_timer() {
    let ticker = |max_active| {
        let mut grants = grants_for("ticker");
        grants.timers = Some(caxton::policy::TimersGrant { max_active });
        spec("ticker", "ticker", grants)
    };
    let bytes = std::fs::read(component("ticker")).unwrap();
    let rt = runtime_with(vec![ticker(0)]).await;
    let schedule = json!({ "action": "schedule", "delay_ms": 5 });
    let refused = ask(&rt, "ticker", schedule.clone()).await;
    assert_eq!(refused.performative, Performative::Failure, "{}", refused.content);
    assert!(refused.content.contains("0"), "{}", refused.content);

    rt.redeploy_bytes(ticker(2), bytes.clone()).await.unwrap();
    let fired = ask(&rt, "ticker", schedule.clone()).await;
    assert_eq!(fired.performative, Performative::Inform, "the raised limit holds: {}", fired.content);

    rt.redeploy_bytes(ticker(0), bytes).await.unwrap();
    let refused = ask(&rt, "ticker", schedule).await;
    assert_eq!(refused.performative, Performative::Failure, "the lowered limit holds: {}", refused.content);
}
