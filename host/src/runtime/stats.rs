//! Per-agent statistics: what an operator reads in `caxton agents --json` and
//! what `/metrics` exports.

use super::failure::FailureReason;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds of the handle-time histogram buckets, in microseconds: 1-2-5
/// steps from 10 µs to 1 s, then everything longer.
pub const HANDLE_BUCKETS_MICROS: [u64; 17] = [
    10,
    20,
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    u64::MAX,
];

/// Where an agent is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "kebab-case", tag = "state", content = "reason")]
pub enum Status {
    /// Handling messages.
    #[default]
    Running,
    /// Waiting out a restart backoff after a failure.
    Restarting,
    /// Failed too often: messages are refused until it is redeployed.
    Quarantined(String),
}

/// Counts of handle times in [`HANDLE_BUCKETS_MICROS`] buckets; serialized
/// with its estimated median and 99th percentile (`p50_micros`, `p99_micros`).
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// How many calls fell in each bucket of [`HANDLE_BUCKETS_MICROS`]
    /// (allocated at the first call: an agent that never handles one costs none).
    pub counts: Vec<u64>,
    /// Sum of all observed times, in microseconds.
    pub sum_micros: u64,
}

impl Histogram {
    /// Count one observation of `took`.
    pub fn observe(&mut self, took: Duration) {
        if self.counts.is_empty() {
            self.counts = vec![0; HANDLE_BUCKETS_MICROS.len()];
        }
        let micros = took.as_micros().min(u128::from(u64::MAX)) as u64;
        let bucket = HANDLE_BUCKETS_MICROS.iter().position(|b| micros <= *b).unwrap_or(HANDLE_BUCKETS_MICROS.len() - 1);
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
        }
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    /// The time under which a fraction `q` (0–1) of the calls took, in
    /// microseconds, interpolated within its bucket (`None` before any call).
    /// Past the last finite bound it answers that bound (1 s).
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let (mut below, mut lower) = (0u64, 0u64);
        for (count, upper) in self.counts.iter().zip(self.bounds_micros()) {
            if *upper == u64::MAX {
                return Some(lower);
            }
            if (below + count) as f64 >= rank {
                let within = (rank - below as f64) / (*count).max(1) as f64;
                return Some(lower + ((upper - lower) as f64 * within).round() as u64);
            }
            below += count;
            lower = *upper;
        }
        Some(lower)
    }

    /// The buckets' upper bounds in microseconds (the last is unbounded);
    /// none before the first call, as there are no counts yet.
    pub fn bounds_micros(&self) -> &'static [u64] {
        if self.counts.is_empty() {
            &[]
        } else {
            &HANDLE_BUCKETS_MICROS
        }
    }
}

impl Serialize for Histogram {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("Histogram", 5)?;
        out.serialize_field("bounds_micros", self.bounds_micros())?;
        out.serialize_field("counts", &self.counts)?;
        out.serialize_field("sum_micros", &self.sum_micros)?;
        out.serialize_field("p50_micros", &self.quantile_micros(0.5))?;
        out.serialize_field("p99_micros", &self.quantile_micros(0.99))?;
        out.end()
    }
}

/// Everything counted about one agent since it was deployed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentStats {
    /// Its state.
    pub status: Status,
    /// Messages handled (successfully or not).
    pub messages: u64,
    /// Timer callbacks handled.
    pub timers: u64,
    /// Failures by reason (`handler-error`, `deadline`, `memory-limit`, …).
    pub failures: BTreeMap<FailureReason, u64>,
    /// Fresh instances started after a failure.
    pub restarts: u64,
    /// Fuel consumed by all calls.
    pub fuel_used: u64,
    /// Largest total linear memory seen, in bytes.
    pub memory_high_water: u64,
    /// How long calls took.
    pub handle_time: Histogram,
    /// stdout/stderr lines dropped because the agent wrote too fast.
    pub log_lines_dropped: u64,
    /// When its last call ended (for passivating the least recently used instance first).
    #[serde(skip)]
    pub last_call: Option<std::time::Instant>,
}

impl AgentStats {
    /// Record one call that started at `started` and took `took`, burning
    /// `fuel`, with `memory` bytes of linear memory at its end.
    pub fn observe_call(&mut self, started: std::time::Instant, took: Duration, fuel: u64, memory: u64) {
        self.handle_time.observe(took);
        self.fuel_used = self.fuel_used.saturating_add(fuel);
        self.memory_high_water = self.memory_high_water.max(memory);
        self.last_call = Some(started + took);
    }

    /// Record a failure.
    pub fn failed(&mut self, reason: FailureReason) {
        *self.failures.entry(reason).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_puts_each_time_in_its_bucket() {
        let mut s = AgentStats::default();
        s.observe_call(std::time::Instant::now(), Duration::from_micros(5), 10, 100);
        s.observe_call(std::time::Instant::now(), Duration::from_micros(500), 20, 50);
        s.observe_call(std::time::Instant::now(), Duration::from_secs(5), 0, 0);
        assert_eq!(s.handle_time.counts, vec![1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(s.fuel_used, 30);
        assert_eq!(s.memory_high_water, 100);
        s.failed(FailureReason::Deadline);
        s.failed(FailureReason::Deadline);
        assert_eq!(s.failures.get(&FailureReason::Deadline), Some(&2));
        assert_eq!(serde_json::to_value(&s).unwrap()["failures"], serde_json::json!({ "deadline": 2 }));
    }

    #[test]
    fn percentiles_are_read_off_the_buckets_by_interpolation() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_micros(0.5), None);
        for _ in 0..98 {
            h.observe(Duration::from_micros(150)); // the 100–200 µs bucket
        }
        h.observe(Duration::from_micros(4_000)); // 2–5 ms
        h.observe(Duration::from_secs(3)); // beyond 1 s
        assert_eq!(h.quantile_micros(0.5), Some(151));
        assert_eq!(h.quantile_micros(0.99), Some(5_000));
        assert_eq!(h.quantile_micros(1.0), Some(1_000_000), "past the last bound: the bound");
        let json = serde_json::to_value(&h).unwrap();
        assert_eq!((json["p50_micros"].as_u64(), json["p99_micros"].as_u64()), (Some(151), Some(5_000)));
    }
}
