//! The four capabilities an agent can be granted, and the one function that links them.
//!
//! Each capability is a WIT interface of `caxton:agent` with a module here named
//! after it. [`link_granted`] is the only place imports are added to an agent's
//! linker: it links the inert WASI [`baseline`], the function-free `types`
//! interface, and each capability whose grant is present — nothing else.

pub mod baseline;
pub mod keyvalue;
pub mod kv_store;
pub mod logging;
pub mod messaging;
pub mod timers;

use crate::policy::Grants;
use std::fmt;
use wasmtime::component::{HasData, Linker};

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
    if baseline::INTERFACES.contains(&path) && baseline::supports_version(version) {
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
    baseline::INTERFACES.contains(&path).then(|| format!("{path}@0.2.x"))
}

/// The per-agent state every capability needs to reach from the store.
pub trait AgentHost: wasmtime_wasi::WasiView + 'static {
    /// State of the `messaging` capability.
    fn messaging(&mut self) -> &mut messaging::MessagingCtx;
    /// State of the `timers` capability.
    fn timers(&mut self) -> &mut timers::TimersCtx;
    /// State of the `kv-store` capability.
    fn kv_store(&mut self) -> &mut kv_store::KvStoreCtx;
    /// State of the `logging` capability.
    fn logging(&mut self) -> &mut logging::LoggingCtx;
    /// The `kv-store` capability with the resource table, for `wasi:keyvalue`.
    fn keyvalue(&mut self) -> keyvalue::KeyValue<'_>;
    /// `wasi:io/poll` bounded by the current message's deadline.
    fn deadline_poll(&mut self) -> baseline::DeadlinePoll<'_>;
}

/// Marker for capability contexts borrowed straight out of the store.
struct Borrowed<C: 'static>(std::marker::PhantomData<C>);

impl<C: 'static> HasData for Borrowed<C> {
    type Data<'a> = &'a mut C;
}

/// Marker for the `wasi:keyvalue` view (kv-store plus resource table).
struct KeyValueData;

impl HasData for KeyValueData {
    type Data<'a> = keyvalue::KeyValue<'a>;
}

/// Link the baseline, `types`, and every granted capability — and nothing else.
pub fn link_granted<T: AgentHost>(linker: &mut Linker<T>, grants: &Grants) -> wasmtime::Result<()> {
    use crate::bindings::caxton::agent as wit;
    baseline::add_to_linker(linker)?;
    linker.instance(&format!("{PACKAGE}/types@{VERSION}"))?;
    for capability in grants.granted() {
        match capability {
            Capability::Messaging => {
                wit::messaging::add_to_linker::<T, Borrowed<messaging::MessagingCtx>>(linker, T::messaging)?
            }
            Capability::Timers => wit::timers::add_to_linker::<T, Borrowed<timers::TimersCtx>>(linker, T::timers)?,
            Capability::KvStore => {
                use crate::bindings::standard::wasi::keyvalue as std_kv;
                wit::kv_store::add_to_linker::<T, Borrowed<kv_store::KvStoreCtx>>(linker, T::kv_store)?;
                std_kv::store::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
                std_kv::atomics::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
                std_kv::batch::add_to_linker::<T, KeyValueData>(linker, T::keyvalue)?;
            }
            Capability::Logging => {
                wit::logging::add_to_linker::<T, Borrowed<logging::LoggingCtx>>(linker, T::logging)?;
                crate::bindings::standard::wasi::logging::logging::add_to_linker::<T, Borrowed<logging::LoggingCtx>>(
                    linker,
                    T::logging,
                )?;
            }
        }
    }
    Ok(())
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
    fn every_capability_round_trips_through_its_import_name() {
        for c in Capability::ALL {
            assert_eq!(classify_import(&c.import_name()), ImportKind::Capability(c));
        }
    }
}
