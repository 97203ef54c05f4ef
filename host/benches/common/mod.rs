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

/// This machine, as BENCHMARKS.md describes it.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|v| v.split(':').nth(1)))
        .map_or("an unknown CPU".to_string(), |m| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores of {model}, {:.0} GiB of memory, Linux", kib as f64 / 1024.0 / 1024.0)
}

/// Put `section` (starting with its `## ` heading) into BENCHMARKS.md in
/// place of the section of that heading, or after the others; the sections
/// of the other bench binaries stay. The introduction is rewritten each time.
pub fn write_section(heading: &str, section: &str) {
    let path = root().join("BENCHMARKS.md");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let mut sections: Vec<String> = existing.split("\n## ").skip(1).map(|s| format!("## {}", s.trim_end())).collect();
    match sections.iter_mut().find(|s| s.lines().next() == Some(heading)) {
        Some(old) => *old = section.trim_end().to_string(),
        None => sections.push(section.trim_end().to_string()),
    }
    let intro = format!(
        "# Benchmarks\n\nWritten by `just bench` on {}. Every row puts Caxton next to a peer measured in the \
         same run; each figure is the median of several alternating rounds (the method under each table). The \
         machine is shared and noisy, so absolute figures vary by up to ±50% between runs: only the ratios \
         mean much.",
        machine()
    );
    let text = format!("{intro}\n\n{}\n", sections.join("\n\n"));
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("cannot write {}: {e}", path.display());
    }
}
