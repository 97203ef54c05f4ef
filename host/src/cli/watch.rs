//! `caxton watch` (the event stream, live) and `caxton logs [-f] NAME` (an
//! agent's kept log lines, then new ones as they come).
//!
//! Every field a guest or client chose is printed through [`cell`], so nothing
//! in an event can move the cursor or forge a line.

use super::client::{print_raw, refusal, Remote};
use super::deploy::encode;
use super::listing::cell;
use futures_util::StreamExt;
use hyper::Method;
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `caxton watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Only events this agent takes part in (sends, receives, or is about).
    #[arg(long)]
    pub agent: Option<String>,
    /// Only messages of this conversation.
    #[arg(long)]
    pub conversation: Option<String>,
    /// Only these kinds: message, lifecycle, failure, log (comma-separated).
    #[arg(long, value_name = "KIND,…")]
    pub kind: Option<String>,
    /// Where the server is and how to print (`--json`: one event per line, as sent).
    #[command(flatten)]
    pub remote: Remote,
}

/// `/v1/events` with the given filters.
fn events_path(filters: &[(&str, Option<&str>)]) -> String {
    let query: Vec<String> =
        filters.iter().filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v)))).collect::<Vec<_>>();
    if query.is_empty() {
        "/v1/events".to_string()
    } else {
        format!("/v1/events?{}", query.join("&"))
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// `caxton watch`: print events as they happen, until the server stops or the reader goes.
pub fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let path = events_path(&[
        ("agent", args.agent.as_deref()),
        ("conversation", args.conversation.as_deref()),
        ("kind", args.kind.as_deref()),
    ]);
    let remote = &args.remote;
    runtime()?.block_on(async {
        let mut events = std::pin::pin!(remote.events(&path).await?);
        while let Some(event) = events.next().await {
            let event = event.map_err(|e| anyhow::anyhow!("the event stream broke off: {e}"))?;
            match event.event.as_str() {
                "ready" => eprintln!("watching {} (Ctrl-C to stop)", remote.server),
                "missed" => eprintln!("… {} events missed: this client fell behind", missed(&event.data)),
                _ if remote.json => println!("{}", event.data),
                _ => println!("{}", describe(&serde_json::from_str(&event.data).unwrap_or(Value::Null))),
            }
        }
        eprintln!("the server closed the event stream");
        Ok(ExitCode::SUCCESS)
    })
}

fn missed(data: &str) -> u64 {
    serde_json::from_str::<Value>(data).ok().and_then(|v| v.get("missed").and_then(Value::as_u64)).unwrap_or(0)
}

/// `HH:MM:SS.mmm` (UTC) of a time in milliseconds since the Unix epoch.
fn clock(at_ms: u64) -> String {
    let (ms, secs) = (at_ms % 1000, at_ms / 1000);
    format!("{:02}:{:02}:{:02}.{ms:03}", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_default()
}

/// One event as a line.
fn describe(e: &Value) -> String {
    let at = clock(e["at_ms"].as_u64().unwrap_or(0));
    match text(e, "kind") {
        "message" => {
            let m = &e["message"];
            let to: Vec<&str> = e["receivers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let mut line = format!(
                "{at}  {:<13} {:<16} {} → {}  conversation {}",
                text(e, "outcome"),
                text(m, "performative"),
                cell(text(m, "sender")),
                cell(&to.join(", ")),
                cell(text(m, "conversation_id")),
            );
            if let Some(reason) = e["reason"].as_str() {
                line.push_str(&format!("  ({reason}: {})", cell(text(e, "detail"))));
            }
            line
        }
        "lifecycle" => {
            let detail = e["detail"].as_str().map(|d| format!(": {}", cell(d))).unwrap_or_default();
            format!("{at}  {:<13} {}{detail}", text(e, "change"), cell(text(e, "agent")))
        }
        "failure" => format!(
            "{at}  {:<13} {}  {}: {}",
            "failure",
            cell(text(e, "agent")),
            text(e, "reason"),
            cell(text(e, "detail"))
        ),
        "log" => format!("{at}  {:<13} {}  {}", "log", cell(text(&e["line"], "agent")), log_text(&e["line"])),
        other => format!("{at}  {}", cell(other)),
    }
}

/// A log line's level, source and text.
fn log_text(line: &Value) -> String {
    let context = text(line, "context");
    let context = if context.is_empty() { String::new() } else { format!("{}: ", cell(context)) };
    format!("{:<8} [{}] {context}{}", text(line, "level"), text(line, "source"), cell(text(line, "text")))
}

/// `caxton logs [-f] NAME`: the agent's kept log lines; with `follow`, then
/// each new one as it is written, until the server stops.
pub fn logs(name: &str, follow: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let tail = format!("/v1/agents/{}/logs", encode(name).replace("%2F", "/"));
    runtime()?.block_on(async {
        // watch first, so no line written between the tail and the stream is lost
        let mut events = match follow {
            true => Some(Box::pin(remote.events(&events_path(&[("agent", Some(name)), ("kind", Some("log"))])).await?)),
            false => None,
        };
        if let Some(stream) = &mut events {
            while let Some(Ok(event)) = stream.next().await {
                if event.event == "ready" {
                    break;
                }
            }
        }
        let (status, body) = remote.request(Method::GET, &tail, None).await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(refusal(status, &answer));
        }
        let mut last = 0;
        for line in answer.get("lines").and_then(Value::as_array).into_iter().flatten() {
            last = line["seq"].as_u64().unwrap_or(last);
            print_line(line, remote.json);
        }
        let Some(mut stream) = events else { return Ok(ExitCode::SUCCESS) };
        while let Some(event) = stream.next().await {
            let event = event.map_err(|e| anyhow::anyhow!("the event stream broke off: {e}"))?;
            if event.event == "missed" {
                eprintln!("… log lines may be missing: {} events missed", missed(&event.data));
                continue;
            }
            let event: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
            let line = event.get("line").unwrap_or(&Value::Null);
            if line["seq"].as_u64().is_some_and(|seq| seq > last) {
                print_line(line, remote.json);
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn print_line(line: &Value, json: bool) {
    if json {
        print_raw(line.to_string().as_bytes());
    } else {
        println!("{}  {}", clock(line["at_ms"].as_u64().unwrap_or(0)), log_text(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_reads_utc_hours_minutes_seconds_and_milliseconds() {
        assert_eq!(clock(0), "00:00:00.000");
        assert_eq!(clock(1_700_000_000_123), "22:13:20.123");
    }

    #[test]
    fn a_message_event_reads_as_one_line_with_escaped_names() {
        let event = serde_json::json!({
            "kind": "message", "at_ms": 0, "outcome": "dead-lettered", "reason": "mailbox-full",
            "detail": "full\nforged line", "receivers": ["b"],
            "message": { "performative": "request", "sender": "a\u{1b}[2J", "conversation_id": "c1" },
        });
        let line = describe(&event);
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line}");
        assert!(line.contains("dead-lettered") && line.contains("→ b") && line.contains("mailbox-full"), "{line}");
    }
}
