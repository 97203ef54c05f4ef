//! Each agent's recent log lines, kept in a bounded ring per agent
//! (`GET /v1/agents/{name}/logs?since=`, `caxton logs`).
//!
//! A line arrives already escaped, cut and rate-limited by the capability that
//! took it (`logging`, or the agent's stdout/stderr). A ring keeps an agent's
//! last [`LINES_PER_AGENT`] lines; at most [`MAX_RINGS`] agents have one, and
//! the ring written least recently goes first beyond that (so a million virtual
//! instances cannot hold a million rings). Lines are numbered in one sequence
//! for the host, so `since` resumes a tail where it left off.

use crate::acl::now_ms;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Lines kept per agent.
pub const LINES_PER_AGENT: usize = 256;
/// Agents whose lines are kept at once.
pub const MAX_RINGS: usize = 4096;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The `logging` capability (`caxton:agent/logging` or `wasi:logging`).
    Logging,
    /// The agent's stdout.
    Stdout,
    /// The agent's stderr.
    Stderr,
}

impl Source {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Logging => "logging",
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

/// One kept line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// Its place in this host's sequence of log lines, from 1.
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The agent that wrote it.
    pub agent: String,
    /// Where it came from.
    pub source: Source,
    /// `trace`, `debug`, `info`, `warn`, `error` or `critical` (stdout and stderr: `info`).
    pub level: &'static str,
    /// The logging call's context (empty for stdout and stderr).
    pub context: String,
    /// The line, control characters escaped.
    pub text: String,
}

/// A line as a capability hands it over.
#[derive(Debug, Clone, Copy)]
pub struct NewLine<'a> {
    /// The agent.
    pub agent: &'a str,
    /// Where it came from.
    pub source: Source,
    /// Its level's name.
    pub level: &'static str,
    /// The logging call's context.
    pub context: &'a str,
    /// The (escaped) text.
    pub text: &'a str,
}

struct Ring {
    lines: VecDeque<Arc<LogLine>>,
    /// The sequence number of its latest line: the least recent ring goes first.
    latest: u64,
}

/// The rings of every agent that logged.
#[derive(Default)]
pub struct AgentLogs {
    rings: Mutex<HashMap<String, Ring>>,
    seq: AtomicU64,
}

impl AgentLogs {
    /// Keep `line` in its agent's ring.
    pub fn push(&self, line: NewLine<'_>) -> Arc<LogLine> {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        // numbered under the lock, so each ring's lines are in sequence order
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let kept = Arc::new(LogLine {
            seq,
            at_ms: now_ms(),
            agent: line.agent.to_string(),
            source: line.source,
            level: line.level,
            context: line.context.to_string(),
            text: line.text.to_string(),
        });
        if !rings.contains_key(line.agent) && rings.len() >= MAX_RINGS {
            if let Some(oldest) = rings.iter().min_by_key(|(_, r)| r.latest).map(|(name, _)| name.clone()) {
                rings.remove(&oldest);
            }
        }
        let ring = rings.entry(line.agent.to_string()).or_insert_with(|| Ring { lines: VecDeque::new(), latest: 0 });
        if ring.lines.len() >= LINES_PER_AGENT {
            ring.lines.pop_front();
        }
        ring.lines.push_back(kept.clone());
        ring.latest = seq;
        kept
    }

    /// `agent`'s kept lines numbered after `since`, oldest first, at most
    /// `limit` of them; and whether more follow those (read on from the last one's `seq`).
    pub fn since(&self, agent: &str, since: u64, limit: usize) -> (Vec<Arc<LogLine>>, bool) {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ring) = rings.get(agent) else { return (Vec::new(), false) };
        let mut newer = ring.lines.iter().filter(|l| l.seq > since);
        let lines: Vec<Arc<LogLine>> = newer.by_ref().take(limit).cloned().collect();
        (lines, newer.next().is_some())
    }

    /// The latest line number handed out on this host (0 before any).
    pub fn latest(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// How many agents have a ring.
    pub fn rings(&self) -> usize {
        self.rings.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
