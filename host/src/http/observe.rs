//! Read-only views: health, the directory, dead letters, and Prometheus metrics.

use super::reply::{json_reply, query_param, typed_reply, Reply};
use super::ApiState;
use crate::acl::json::WireMessage;
use crate::bus::directory::Query;
use crate::runtime::stats::HANDLE_BUCKETS_MICROS;
use hyper::StatusCode;
use serde_json::{json, Value};
use std::fmt::Write;

/// Healthy while the epoch ticker advances: without it, deadlines are not enforced.
pub fn health(state: &ApiState) -> Reply {
    let runtime = &state.platform.runtime;
    let agents = runtime.agents().len();
    if runtime.healthy() {
        json_reply(StatusCode::OK, &json!({ "status": "ok", "agents": agents }))
    } else {
        let reason = "the epoch ticker has stalled: per-message deadlines are not being enforced";
        json_reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "status": "degraded", "reason": reason, "agents": agents }),
        )
    }
}

/// `GET /v1/directory?service=…&ontology=…&protocol=…`.
pub fn directory(state: &ApiState, query: Option<&str>) -> Reply {
    let q = Query {
        service: query_param(query, "service"),
        ontology: query_param(query, "ontology"),
        protocol: query_param(query, "protocol"),
    };
    let agents: Vec<Value> = state
        .platform
        .runtime
        .bus()
        .directory(&q)
        .into_iter()
        .map(|(name, profile)| json!({ "name": name, "profile": profile }))
        .collect();
    json_reply(StatusCode::OK, &json!({ "agents": agents }))
}

/// One entry of `GET /v1/dead-letters`.
#[derive(serde::Serialize)]
struct LetterView {
    id: u64,
    at_ms: u64,
    reason: &'static str,
    receiver: String,
    detail: String,
    message: WireMessage,
}

/// `GET /v1/dead-letters` (written straight to text: messages keep their content's digits).
pub fn dead_letters(state: &ApiState) -> Reply {
    let letters: Vec<LetterView> = state
        .platform
        .runtime
        .bus()
        .dead_letters()
        .into_iter()
        .map(|d| LetterView {
            id: d.id,
            at_ms: d.at_ms,
            reason: d.reason.as_str(),
            receiver: d.receiver,
            detail: d.detail,
            message: WireMessage::from(d.message),
        })
        .collect();
    #[derive(serde::Serialize)]
    struct Letters {
        dead_letters: Vec<LetterView>,
    }
    match serde_json::to_string(&Letters { dead_letters: letters }) {
        Ok(body) => typed_reply(StatusCode::OK, "application/json", body),
        Err(e) => super::reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal", &e.to_string()).into_reply(),
    }
}

/// A label value with `\\`, `"` and newlines escaped (Prometheus text format).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /v1/cluster`: the hosts of the cluster this server joined (see
/// [`crate::cluster::ClusterSummary`]); a server that runs alone lists itself.
pub fn cluster(state: &ApiState) -> Reply {
    let summary = match &state.cluster {
        Some(cluster) => serde_json::to_value(cluster.summary()).unwrap_or_default(),
        None => {
            let bus = state.platform.runtime.bus();
            let (agents, types) = (bus.local_agent_names(), bus.local_types());
            serde_json::json!({
                "cluster": null, "host": null, "connected": false, "dropped": {},
                "hosts": [{
                    "host": null, "state": "this host", "agents": agents, "types": types, "last_heartbeat_ms_ago": 0,
                }],
            })
        }
    };
    json_reply(StatusCode::OK, &summary)
}

/// `GET /metrics`: the Prometheus text exposition format, version 0.0.4.
pub fn metrics(state: &ApiState) -> Reply {
    let runtime = &state.platform.runtime;
    let agents = runtime.agents();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, lines: Vec<String>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
    };
    family("caxton_agents", "gauge", "Deployed agents.", vec![format!("caxton_agents {}", agents.len())]);
    let per_agent = |metric: &str, f: &dyn Fn(&crate::runtime::AgentSummary) -> u64| -> Vec<String> {
        agents.iter().map(|a| format!("{metric}{{agent=\"{}\"}} {}", label(&a.name), f(a))).collect()
    };
    type Per = fn(&crate::runtime::AgentSummary) -> u64;
    let per_agent_families: [(&str, &str, &str, Per); 7] = [
        ("caxton_agent_messages_total", "counter", "Messages handled.", |a| a.stats.messages),
        ("caxton_agent_timers_total", "counter", "Timer callbacks handled.", |a| a.stats.timers),
        ("caxton_agent_restarts_total", "counter", "Fresh instances after a failure.", |a| a.stats.restarts),
        ("caxton_agent_fuel_used_total", "counter", "Fuel consumed.", |a| a.stats.fuel_used),
        ("caxton_agent_memory_bytes", "gauge", "Largest total linear memory seen.", |a| a.stats.memory_high_water),
        ("caxton_agent_mailbox_depth", "gauge", "Messages waiting in the mailbox.", |a| a.mailbox_depth as u64),
        ("caxton_agent_log_lines_dropped_total", "counter", "Output lines dropped over the budget.", |a| {
            a.stats.log_lines_dropped
        }),
    ];
    for (name, kind, help, value) in per_agent_families {
        family(name, kind, help, per_agent(name, &value));
    }
    let failures = agents
        .iter()
        .flat_map(|a| {
            a.stats.failures.iter().map(move |(reason, n)| {
                format!(
                    "caxton_agent_failures_total{{agent=\"{}\",reason=\"{}\"}} {n}",
                    label(&a.name),
                    reason.as_str()
                )
            })
        })
        .collect();
    family("caxton_agent_failures_total", "counter", "Failed calls by reason.", failures);
    let histogram = agents
        .iter()
        .flat_map(|a| {
            histogram_lines(
                "caxton_agent_handle_seconds",
                &format!("agent=\"{}\"", label(&a.name)),
                &a.stats.handle_time,
            )
        })
        .collect();
    family("caxton_agent_handle_seconds", "histogram", "Time spent in the agent's exports.", histogram);
    let dead = runtime.bus().dead_letter_total();
    family(
        "caxton_dead_letters_total",
        "counter",
        "Messages dead-lettered (the count continues across restarts).",
        vec![format!("caxton_dead_letters_total {dead}")],
    );
    let by_reason = runtime
        .bus()
        .dead_letter_counts()
        .into_iter()
        .map(|(reason, n)| format!("caxton_dead_letters_by_reason_total{{reason=\"{}\"}} {n}", reason.as_str()));
    family(
        "caxton_dead_letters_by_reason_total",
        "counter",
        "Messages dead-lettered since the server started, by reason.",
        by_reason.collect(),
    );
    if let Some(types) = runtime.agent_types() {
        for (name, kind, help, lines) in agent_type_families(&types.summaries()) {
            family(name, kind, help, lines);
        }
    }
    if let Some(cluster) = &state.cluster {
        family(
            "caxton_cluster_hosts",
            "gauge",
            "Hosts of the cluster heard from, this one included.",
            vec![format!("caxton_cluster_hosts {}", cluster.other_hosts() + 1)],
        );
        let dropped = cluster
            .dropped()
            .into_iter()
            .map(|(why, n)| format!("caxton_cluster_envelopes_dropped_total{{reason=\"{}\"}} {n}", why.as_str()));
        family(
            "caxton_cluster_envelopes_dropped_total",
            "counter",
            "Envelopes from NATS dropped unread (unsigned, forged, replayed, …), by reason.",
            dropped.collect(),
        );
    }
    typed_reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", out)
}

/// The lines of histogram `metric` (labels `labels`) in Prometheus's form: cumulative buckets in seconds, sum, count.
fn histogram_lines(metric: &str, labels: &str, h: &crate::runtime::stats::Histogram) -> Vec<String> {
    let mut lines = Vec::with_capacity(HANDLE_BUCKETS_MICROS.len() + 2);
    let mut cumulative = 0;
    for (i, bound) in HANDLE_BUCKETS_MICROS.iter().enumerate() {
        cumulative += h.counts.get(i).copied().unwrap_or(0);
        let le = if *bound == u64::MAX { "+Inf".to_string() } else { format!("{}", *bound as f64 / 1e6) };
        lines.push(format!("{metric}_bucket{{{labels},le=\"{le}\"}} {cumulative}"));
    }
    lines.push(format!("{metric}_sum{{{labels}}} {}", h.sum_micros as f64 / 1e6));
    lines.push(format!("{metric}_count{{{labels}}} {cumulative}"));
    lines
}

/// One metric family: name, kind, help and its lines.
type Family = (&'static str, &'static str, &'static str, Vec<String>);

/// The families of the agent types: instances in memory, activations, passivations, activation time.
fn agent_type_families(types: &[crate::runtime::agent_types::TypeSummary]) -> Vec<Family> {
    let per_type = |metric: &str, f: fn(&crate::runtime::agent_types::TypeSummary) -> u64| -> Vec<String> {
        types.iter().map(|t| format!("{metric}{{agent_type=\"{}\"}} {}", label(&t.name), f(t))).collect()
    };
    let activation_time = types
        .iter()
        .flat_map(|t| {
            let labels = format!("agent_type=\"{}\"", label(&t.name));
            histogram_lines("caxton_agent_type_activation_seconds", &labels, &t.activation_time)
        })
        .collect();
    vec![
        (
            "caxton_agent_type_active",
            "gauge",
            "Instances in memory (or starting).",
            per_type("caxton_agent_type_active", |t| t.active as u64),
        ),
        (
            "caxton_agent_type_activations_total",
            "counter",
            "Instances started.",
            per_type("caxton_agent_type_activations_total", |t| t.activations),
        ),
        (
            "caxton_agent_type_passivations_total",
            "counter",
            "Instances passivated.",
            per_type("caxton_agent_type_passivations_total", |t| t.passivations),
        ),
        (
            "caxton_agent_type_activation_seconds",
            "histogram",
            "Time from activation to the instance released.",
            activation_time,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("x\ny"), "x\\ny");
    }
}
