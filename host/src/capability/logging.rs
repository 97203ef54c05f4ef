//! `caxton:agent/logging`: guest log records into the host's `tracing` log,
//! tagged with the agent's name, filtered by the grant's level, with control
//! characters escaped and long records cut.

use super::baseline::{neutralise, MAX_LINE};
use crate::bindings::caxton::agent::logging::{Host, Level};
use crate::policy::LogLevel;

/// Per-agent state of the `logging` capability.
pub struct LoggingCtx {
    agent: String,
    max_level: LogLevel,
}

impl LoggingCtx {
    /// Logging for `agent`, dropping records below `max_level`.
    pub fn new(agent: &str, max_level: LogLevel) -> Self {
        LoggingCtx { agent: agent.to_string(), max_level }
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
        let l = LoggingCtx::new("a", LogLevel::Warn);
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
