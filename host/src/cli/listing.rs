//! `caxton directory`, `caxton agents`, `caxton dead-letters` and `caxton
//! cluster`: read-only views of a running server, as aligned tables or JSON.

use super::client::{print_raw, Remote};
use super::deploy::encode;
use hyper::Method;
use serde_json::Value;
use std::process::ExitCode;

/// Widest a table cell is printed, in characters; longer ones end in `…`.
const MAX_CELL: usize = 120;

/// `text` as a table cell: control and bidirectional characters escaped (so a
/// name cannot move the cursor, forge a line of the table or reorder it), at
/// most [`MAX_CELL`] characters.
pub fn cell(text: &str) -> String {
    let escaped = crate::printable::neutralise(text);
    match escaped.char_indices().nth(MAX_CELL) {
        Some((end, _)) => format!("{}…", escaped.get(..end).unwrap_or_default()),
        None => escaped,
    }
}

/// Print `rows` under `headers` with columns aligned; every cell through [`cell`].
fn table(headers: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .chain([headers.get(i).map_or(0, |h| h.len())])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn joined(v: &Value, field: &str) -> String {
    v.as_array()
        .map(|a| a.iter().map(|x| text(if field.is_empty() { x } else { &x[field] })).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// Fetch `path` and print it as JSON, or as a table of the array under `key`.
fn show(
    remote: &Remote,
    path: &str,
    key: &str,
    headers: &[&str],
    row: impl Fn(&Value) -> Vec<String>,
) -> anyhow::Result<ExitCode> {
    if remote.json {
        print_raw(&remote.expect_raw(Method::GET, path, None)?);
    } else {
        let answer = remote.expect(Method::GET, path, None)?;
        let rows: Vec<Vec<String>> = answer.get(key).and_then(Value::as_array).into_iter().flatten().map(row).collect();
        table(headers, &rows);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn directory(remote: &Remote, filters: [(&str, Option<String>); 3]) -> anyhow::Result<ExitCode> {
    let query: Vec<String> =
        filters.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    let path =
        if query.is_empty() { "/v1/directory".to_string() } else { format!("/v1/directory?{}", query.join("&")) };
    show(remote, &path, "agents", &["AGENT", "SERVICES", "PROTOCOLS", "ONTOLOGIES"], |a| {
        let p = &a["profile"];
        vec![
            text(&a["name"]),
            joined(&p["services"], "name"),
            joined(&p["protocols"], ""),
            joined(&p["ontologies"], ""),
        ]
    })
}

pub fn agents(remote: &Remote) -> anyhow::Result<ExitCode> {
    show(remote, "/v1/agents", "agents", &["AGENT", "STATE", "MESSAGES", "FAILURES", "RESTARTS", "GRANTS"], |a| {
        let stats = &a["stats"];
        let status = stats.get("status").unwrap_or(&Value::Null);
        let state = match (text(&status["state"]), text(&status["reason"])) {
            (state, reason) if reason.is_empty() => state,
            (state, reason) => format!("{state} ({reason})"),
        };
        let failures: u64 = stats["failures"].as_object().map_or(0, |f| f.values().filter_map(Value::as_u64).sum());
        vec![
            text(&a["name"]),
            state,
            text(&stats["messages"]),
            failures.to_string(),
            text(&stats["restarts"]),
            joined(&a["grants"], ""),
        ]
    })
}

/// `caxton agents --type TYPE`: the instances of `agent_type` in memory.
pub fn instances(agent_type: &str, remote: &Remote) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/agents?type={}", encode(agent_type));
    show(remote, &path, "agents", &["INSTANCE", "STATE", "MAILBOX", "MESSAGES", "FAILURES", "RESTARTS"], |a| {
        let stats = &a["stats"];
        let failures: u64 = stats["failures"].as_object().map_or(0, |f| f.values().filter_map(Value::as_u64).sum());
        let counts = [&a["mailbox_depth"], &stats["messages"]].map(text);
        let [mailbox, messages] = counts;
        vec![text(&a["name"]), text(&a["state"]), mailbox, messages, failures.to_string(), text(&stats["restarts"])]
    })
}

/// `caxton agents types`: the deployed agent types.
pub fn agent_types(remote: &Remote) -> anyhow::Result<ExitCode> {
    let headers = ["TYPE", "ACTIVE", "MAX ACTIVE", "IDLE AFTER", "ACTIVATIONS", "PASSIVATIONS"];
    show(remote, "/v1/agent-types", "agent_types", &headers, |t| {
        vec![
            text(&t["name"]),
            text(&t["active"]),
            text(&t["max_active"]),
            format!("{} ms", text(&t["idle_after_ms"])),
            text(&t["activations"]),
            text(&t["passivations"]),
        ]
    })
}

/// `caxton conversations [--agent A] [--protocol P]`: the conversations kept, the most recent first.
pub fn conversations(remote: &Remote, filters: [(&str, Option<String>); 3]) -> anyhow::Result<ExitCode> {
    let query: Vec<String> =
        filters.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    let path = format!("/v1/conversations?{}", query.join("&"));
    let headers = ["CONVERSATION", "PROTOCOL", "INITIATOR", "PARTICIPANTS", "STATE", "MESSAGES"];
    show(remote, &path, "conversations", &headers, |c| {
        let protocol = if c["protocol"].is_null() { "-".to_string() } else { text(&c["protocol"]) };
        let (id, initiator) = (text(&c["id"]), text(&c["initiator"]));
        vec![id, protocol, initiator, joined(&c["participants"], ""), text(&c["state"]), text(&c["message_count"])]
    })
}

/// `caxton conversations ID`: one conversation: its protocol and state, each
/// participant's exchange, and its messages in order.
pub fn conversation(id: &str, remote: &Remote) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/conversations/{}", encode(id));
    if remote.json {
        print_raw(&remote.expect_raw(Method::GET, &path, None)?);
        return Ok(ExitCode::SUCCESS);
    }
    let c = &remote.expect(Method::GET, &path, None)?;
    let protocol = if c["protocol"].is_null() { "no protocol".to_string() } else { text(&c["protocol"]) };
    let (id, initiator) = (cell(&text(&c["id"])), cell(&text(&c["initiator"])));
    println!("conversation {id} ({}): {}, started by {initiator}", cell(&protocol), cell(&text(&c["state"])));
    if let Some(exchanges) = c["exchanges"].as_object() {
        let rows: Vec<Vec<String>> = exchanges
            .iter()
            .map(|(participant, e)| {
                let by = if e["reply_by"].is_null() { String::new() } else { text(&e["reply_by"]) };
                vec![participant.clone(), text(&e["step"]), by]
            })
            .collect();
        table(&["PARTICIPANT", "STEP", "REPLY-BY (MS SINCE EPOCH)"], &rows);
        println!();
    }
    let rows: Vec<Vec<String>> = c["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let reason = if m["reason"].is_null() { String::new() } else { text(&m["reason"]) };
            vec![text(&m["performative"]), text(&m["sender"]), joined(&m["receivers"], ""), text(&m["outcome"]), reason]
        })
        .collect();
    table(&["ACT", "FROM", "TO", "OUTCOME", "REASON"], &rows);
    Ok(ExitCode::SUCCESS)
}

pub fn dead_letters(remote: &Remote) -> anyhow::Result<ExitCode> {
    show(remote, "/v1/dead-letters", "dead_letters", &["ID", "REASON", "FROM", "TO", "ACT", "DETAIL"], |d| {
        let m = &d["message"];
        vec![
            text(&d["id"]),
            text(&d["reason"]),
            text(&m["sender"]),
            text(&d["receiver"]),
            text(&m["performative"]),
            text(&d["detail"]),
        ]
    })
}

pub fn cluster(remote: &Remote) -> anyhow::Result<ExitCode> {
    show(remote, "/v1/cluster", "hosts", &["HOST", "STATE", "AGENTS", "TYPES", "LAST HEARTBEAT"], |h| {
        let host = if h["host"].is_null() { "(alone)".to_string() } else { text(&h["host"]) };
        let heard = format!("{} ms ago", text(&h["last_heartbeat_ms_ago"]));
        vec![host, text(&h["state"]), joined(&h["agents"], ""), joined(&h["types"], ""), heard]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_escapes_control_characters_and_stops_at_its_width() {
        assert_eq!(cell("evil\u{1b}[2J\r\nFAKE"), "evil\\u{1b}[2J\\r\\nFAKE");
        let long = cell(&"x".repeat(70_000));
        assert_eq!((long.chars().count(), long.ends_with('…')), (MAX_CELL + 1, true));
    }
}
