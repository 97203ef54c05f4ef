//! Which interfaces Caxton serves, and what each import of a component means.
//!
//! It owns the `caxton:agent` package name and version, the four
//! [`Capability`]s a deployment file can grant, the standard WASI interfaces
//! served behind them, the interfaces of the inert WASI baseline, and
//! [`classify_import`], which sorts an import into one of those (or none).
//!
//! A leaf module (it uses nothing else in the crate): `policy` checks a
//! component's imports against its grants with it, `capability` links what it
//! names, and the CLI and the HTTP API describe imports with it.

use std::fmt;

/// WIT package and version of Caxton's own interfaces.
pub const PACKAGE: &str = "caxton:agent";
/// Version of the `caxton:agent` package this host implements.
pub const VERSION: &str = "0.1.0";

/// A capability a deployment file can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// `caxton:agent/messaging`.
    Messaging,
    /// `caxton:agent/timers`.
    Timers,
    /// `caxton:agent/kv-store`.
    KvStore,
    /// `caxton:agent/logging`.
    Logging,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 4] = [Self::Messaging, Self::Timers, Self::KvStore, Self::Logging];

    /// The WIT interface name, which is also the grant's key in a deployment file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Messaging => "messaging",
            Self::Timers => "timers",
            Self::KvStore => "kv-store",
            Self::Logging => "logging",
        }
    }

    /// The fully qualified import name, e.g. `caxton:agent/kv-store@0.1.0`.
    pub fn import_name(self) -> String {
        format!("{PACKAGE}/{}@{VERSION}", self.name())
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an import of a component means to Caxton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// `caxton:agent/types`: declares types only and is always provided.
    Types,
    /// A capability that must be granted.
    Capability(Capability),
    /// Part of the inert WASI baseline every agent gets.
    Baseline,
    /// Something Caxton never provides.
    Unsupported,
}

/// Interfaces of `caxton:agent` that agents export rather than import.
pub const EXPORTED: &[&str] = &["guest"];

/// Standard WASI interfaces served behind a Caxton capability's grant.
pub const STANDARD: &[(&str, Capability)] = &[
    ("wasi:logging/logging@0.1.0-draft", Capability::Logging),
    ("wasi:keyvalue/store@0.2.0-draft2", Capability::KvStore),
    ("wasi:keyvalue/atomics@0.2.0-draft2", Capability::KvStore),
    ("wasi:keyvalue/batch@0.2.0-draft2", Capability::KvStore),
];

/// Classify an import name such as `caxton:agent/kv-store@0.1.0` or `wasi:io/streams@0.2.6`.
pub fn classify_import(import: &str) -> ImportKind {
    if let Some((_, capability)) = STANDARD.iter().find(|(name, _)| *name == import) {
        return ImportKind::Capability(*capability);
    }
    let (path, version) = import.split_once('@').unwrap_or((import, ""));
    if let Some(iface) = path.strip_prefix("caxton:agent/") {
        if version != VERSION {
            return ImportKind::Unsupported;
        }
        if iface == "types" {
            return ImportKind::Types;
        }
        return Capability::ALL
            .into_iter()
            .find(|c| c.name() == iface)
            .map_or(ImportKind::Unsupported, ImportKind::Capability);
    }
    if BASELINE.contains(&path) && baseline_supports_version(version) {
        return ImportKind::Baseline;
    }
    ImportKind::Unsupported
}

/// The capability an import's interface belongs to, whatever version it names
/// (`caxton:agent/timers@0.1.1` is `timers`, though not at a version Caxton serves).
pub fn capability_of(import: &str) -> Option<Capability> {
    let (path, _) = import.split_once('@').unwrap_or((import, ""));
    if let Some(iface) = path.strip_prefix("caxton:agent/") {
        return Capability::ALL.into_iter().find(|c| c.name() == iface);
    }
    STANDARD.iter().find(|(name, _)| name.split('@').next() == Some(path)).map(|(_, c)| *c)
}

/// For an import Caxton does not provide at the version imported, the
/// version of that interface it does provide: `caxton:agent/messaging@0.1.0`
/// for an import of `caxton:agent/messaging@0.1.1`, `wasi:io/streams@0.2.x`
/// (any WASI 0.2 release, checked function by function when linking) for one
/// of `wasi:io/streams@0.3.0`. `None` when Caxton provides the interface at
/// no version, or provides it at the one imported.
pub fn provided_instead(import: &str) -> Option<String> {
    if classify_import(import) != ImportKind::Unsupported {
        return None;
    }
    let (path, _) = import.split_once('@').unwrap_or((import, ""));
    if let Some(iface) = path.strip_prefix("caxton:agent/") {
        let known = iface == "types" || Capability::ALL.iter().any(|c| c.name() == iface);
        return known.then(|| format!("{path}@{VERSION}"));
    }
    if let Some((name, _)) = STANDARD.iter().find(|(name, _)| name.split('@').next() == Some(path)) {
        return Some((*name).to_string());
    }
    BASELINE.contains(&path).then(|| format!("{path}@0.2.x"))
}

/// The WASI interfaces of the inert baseline every agent gets, served by
/// `capability::baseline` (without versions; any `0.2.x` is accepted).
pub const BASELINE: &[&str] = &[
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
];

/// Whether the baseline serves its interfaces at this WASI version.
pub fn baseline_supports_version(version: &str) -> bool {
    version.strip_prefix("0.2.").is_some_and(|minor| minor.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_caxton_wasi_and_foreign_imports() {
        assert_eq!(classify_import("caxton:agent/types@0.1.0"), ImportKind::Types);
        assert_eq!(classify_import("caxton:agent/kv-store@0.1.0"), ImportKind::Capability(Capability::KvStore));
        assert_eq!(classify_import("caxton:agent/kv-store@0.2.0"), ImportKind::Unsupported);
        assert_eq!(classify_import("caxton:agent/sockets@0.1.0"), ImportKind::Unsupported);
        assert_eq!(classify_import("wasi:io/streams@0.2.6"), ImportKind::Baseline);
        assert_eq!(classify_import("wasi:io/streams@0.2.0"), ImportKind::Baseline);
        assert_eq!(classify_import("wasi:io/streams@0.3.0"), ImportKind::Unsupported);
        assert_eq!(classify_import("wasi:sockets/tcp@0.2.6"), ImportKind::Unsupported);
        assert_eq!(classify_import("wasi:http/outgoing-handler@0.2.6"), ImportKind::Unsupported);
        assert_eq!(classify_import("wasi:logging/logging@0.1.0-draft"), ImportKind::Capability(Capability::Logging));
    }

    #[test]
    fn an_interface_at_another_version_names_the_version_caxton_provides() {
        let instead = |i: &str| provided_instead(i);
        assert_eq!(instead("caxton:agent/messaging@0.1.1").as_deref(), Some("caxton:agent/messaging@0.1.0"));
        assert_eq!(instead("caxton:agent/types@0.2.0").as_deref(), Some("caxton:agent/types@0.1.0"));
        assert_eq!(instead("wasi:io/streams@0.3.0").as_deref(), Some("wasi:io/streams@0.2.x"));
        assert_eq!(instead("wasi:keyvalue/store@0.2.0-draft").as_deref(), Some("wasi:keyvalue/store@0.2.0-draft2"));
        assert_eq!(instead("caxton:agent/messaging@0.1.0"), None, "provided as imported");
        assert_eq!(instead("caxton:agent/sockets@0.1.0"), None, "never provided");
        assert_eq!(instead("wasi:sockets/tcp@0.2.6"), None);
    }

    #[test]
    fn accepts_only_wasi_0_2_versions() {
        assert!(baseline_supports_version("0.2.0") && baseline_supports_version("0.2.6"));
        assert!(
            !baseline_supports_version("0.3.0")
                && !baseline_supports_version("")
                && !baseline_supports_version("0.2.x")
        );
    }

    #[test]
    fn every_capability_round_trips_through_its_import_name() {
        for c in Capability::ALL {
            assert_eq!(classify_import(&c.import_name()), ImportKind::Capability(c));
        }
    }
}
