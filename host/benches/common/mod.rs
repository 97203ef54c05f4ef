//! What the bench binaries share: the checkout root, medians, and the table
//! rows BENCHMARKS.md is made of.

use std::path::{Path, PathBuf};

/// The checkout root (where `components/` and `BENCHMARKS.md` live).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The median of the rounds measured.
pub fn median(xs: Vec<f64>) -> f64 {
    percentile(xs, 50.0)
}

/// The `p`th percentile (nearest rank) of the samples.
pub fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * xs.len() as f64).ceil() as usize;
    xs.get(rank.saturating_sub(1).min(xs.len().saturating_sub(1))).copied().unwrap_or(0.0)
}

/// One measure next to its peer, measured in the same run.
pub struct Row {
    pub what: &'static str,
    pub ours: f64,
    pub peer_name: &'static str,
    pub peer: f64,
    pub unit: &'static str,
}

/// A markdown table of `rows` (figures with `decimals` places), also printed
/// to stdout as the bench runs.
pub fn table(rows: &[Row], decimals: usize) -> String {
    let mut md =
        String::from("| measure | Caxton | peer | peer figure | ratio |\n| --- | ---: | --- | ---: | ---: |\n");
    for r in rows {
        let ratio = if r.peer > 0.0 { r.ours / r.peer } else { 0.0 };
        md.push_str(&format!(
            "| {} | {:.decimals$} {} | {} | {:.decimals$} {} | {ratio:.2}× |\n",
            r.what, r.ours, r.unit, r.peer_name, r.peer, r.unit
        ));
        println!(
            "{:<56} {:>10.decimals$} {:<7} vs {:<42} {:>10.decimals$}  ({ratio:.2}×)",
            r.what, r.ours, r.unit, r.peer_name, r.peer
        );
    }
    md
}
