//! `caxton:agent/logging`: guest log records into the host's `tracing` log
//! and the agent's log ring ([`crate::events::logs`]), tagged with the agent's
//! name, filtered by the grant's level, with control characters escaped and
//! long records cut.

use super::baseline::{neutralise, MAX_LINE};
use crate::bindings::caxton::agent::logging::{Host, Level};
use crate::events::logs::{NewLine, Source};
use crate::events::Events;
use crate::policy::LogLevel;
use std::sync::Arc;

/// Per-agent state of the `logging` capability.
pub struct LoggingCtx {
    agent: String,
    max_level: LogLevel,
    events: Arc<Events>,
}

impl LoggingCtx {
    /// Logging for `agent`, dropping records below `max_level`; kept records go to `events` too.
    pub fn new(agent: &str, max_level: LogLevel, events: Arc<Events>) -> Self {
        LoggingCtx { agent: agent.to_string(), max_level, events }
    }

    /// Whether a record at `level` is written.
    pub fn enabled(&self, level: Level) -> bool {
        to_policy(level) >= self.max_level
    }
}

fn to_policy(level: Level) -> LogLevel {
    match level {
        Level::Trace => LogLevel::Trace,
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
        Level::Critical => LogLevel::Critical,
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
        Level::Critical => "critical",
    }
}

fn clip(text: &str) -> String {
    let mut end = text.len().min(MAX_LINE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    neutralise(text.get(..end).unwrap_or_default())
}

impl Host for LoggingCtx {
    fn log(&mut self, level: Level, context: String, message: String) -> wasmtime::Result<()> {
        if !self.enabled(level) {
            return Ok(());
        }
        let (agent, context, message) = (&self.agent, clip(&context), clip(&message));
        match level {
            Level::Trace => tracing::trace!(agent, context, "{message}"),
            Level::Debug => tracing::debug!(agent, context, "{message}"),
            Level::Info => tracing::info!(agent, context, "{message}"),
            Level::Warn => tracing::warn!(agent, context, "{message}"),
            Level::Error | Level::Critical => {
                tracing::error!(agent, context, critical = matches!(level, Level::Critical), "{message}")
            }
        }
        let source = Source::Logging;
        self.events.log(NewLine { agent, source, level: level_name(level), context: &context, text: &message });
        Ok(())
    }
}

/// `wasi:logging/logging`: the standard interface, with the same behaviour.
impl crate::bindings::standard::wasi::logging::logging::Host for LoggingCtx {
    fn log(
        &mut self,
        level: crate::bindings::standard::wasi::logging::logging::Level,
        context: String,
        message: String,
    ) -> wasmtime::Result<()> {
        use crate::bindings::standard::wasi::logging::logging::Level as W;
        let level = match level {
            W::Trace => Level::Trace,
            W::Debug => Level::Debug,
            W::Info => Level::Info,
            W::Warn => Level::Warn,
            W::Error => Level::Error,
            W::Critical => Level::Critical,
        };
        Host::log(self, level, context, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_records_below_the_granted_level() {
        let l = LoggingCtx::new("a", LogLevel::Warn, Arc::default());
        assert!(!l.enabled(Level::Info));
        assert!(l.enabled(Level::Warn) && l.enabled(Level::Critical));
    }

    #[test]
    fn clips_long_records_on_a_character_boundary() {
        let long = "é".repeat(MAX_LINE);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_LINE);
        assert!(clipped.chars().all(|c| c == 'é'));
    }
}
