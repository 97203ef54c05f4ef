//! The pre-flight check: a component's imports against its agent's grants.
//!
//! Run before compiling or linking, so a refused deploy costs nothing and the
//! error names the agent, the import, the capability and the deployment file.

use super::{AgentSpec, PolicyError};
use crate::component::ComponentInfo;
use crate::interfaces::{capability_of, classify_import, provided_instead, Capability, ImportKind};

/// What a component needs compared with what its agent is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantReport {
    /// Imports whose capability is not granted: `(import, capability, the part of a composition that needs it)`.
    pub not_granted: Vec<(String, Capability, Option<String>)>,
    /// Imports Caxton never provides.
    pub unsupported: Vec<String>,
    /// Granted capabilities the component does not import.
    pub unused: Vec<Capability>,
    /// Capabilities both imported and granted.
    pub used: Vec<Capability>,
}

impl GrantReport {
    /// Compare the component's imports with the grants of `spec`.
    pub fn new(spec: &AgentSpec, info: &ComponentInfo) -> GrantReport {
        let mut report = GrantReport::default();
        let mut imported = Vec::new();
        for import in &info.imports {
            match classify_import(import) {
                ImportKind::Types | ImportKind::Baseline => {}
                ImportKind::Unsupported => {
                    // at another version it is still that capability's import, so its grant is used
                    imported.extend(capability_of(import));
                    report.unsupported.push(import.clone());
                }
                ImportKind::Capability(c) => {
                    imported.push(c);
                    if !spec.grants.allows(c) {
                        let parts: Vec<String> = info.parts_importing(import).map(|(i, p)| p.describe(i)).collect();
                        let part = (!parts.is_empty() && info.parts.len() > 1).then(|| parts.join(" and "));
                        report.not_granted.push((import.clone(), c, part));
                    }
                }
            }
        }
        for c in spec.grants.granted() {
            if imported.contains(&c) {
                report.used.push(c);
            } else {
                report.unused.push(c);
            }
        }
        report
    }

    /// The first refusal as an error, or `Ok` when every import is provided.
    pub fn into_result(self, spec: &AgentSpec) -> Result<(), PolicyError> {
        if let Some(interface) = self.unsupported.into_iter().next() {
            let (agent, policy) = (spec.name.clone(), spec.policy.clone());
            return Err(match provided_instead(&interface) {
                Some(provided) => PolicyError::UnsupportedVersion { agent, interface, provided, policy },
                None => PolicyError::Unsupported { agent, interface, policy },
            });
        }
        let mut not_granted = self.not_granted.into_iter();
        if let Some((interface, capability, part)) = not_granted.next() {
            // every capability missing is named at once, so one edit of the file fixes the deploy
            let mut named = vec![capability];
            let mut also = Vec::new();
            for (import, other, _) in not_granted {
                if !named.contains(&other) {
                    named.push(other);
                    also.push(format!("`{other}`, needed by `{import}`"));
                }
            }
            return Err(PolicyError::NotGranted {
                agent: spec.name.clone(),
                interface,
                capability,
                part: part.map(|p| format!(" (for {p})")).unwrap_or_default(),
                also: if also.is_empty() {
                    "".into()
                } else {
                    format!(" (also not granted: {})", also.join("; ")).into()
                },
                policy: spec.policy.clone(),
            });
        }
        Ok(())
    }
}

/// Refuse `spec` when its component imports anything not granted or not provided.
pub fn preflight(spec: &AgentSpec, info: &ComponentInfo) -> Result<(), PolicyError> {
    GrantReport::new(spec, info).into_result(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Grants, KvStoreGrant, Limits, MessagingGrant};
    use std::path::PathBuf;

    fn spec(grants: Grants) -> AgentSpec {
        AgentSpec {
            name: "pricer".into(),
            component: PathBuf::from("pricer.wasm"),
            grants,
            limits: Limits::default(),
            policy: PathBuf::from("policies/prod.toml"),
        }
    }

    fn imports(names: &[&str]) -> ComponentInfo {
        ComponentInfo { imports: names.iter().map(|s| s.to_string()).collect(), ..ComponentInfo::default() }
    }

    #[test]
    fn names_every_capability_the_grants_leave_out_each_once() {
        let s = spec(Grants { messaging: Some(MessagingGrant::send_to_all()), ..Grants::default() });
        let imported = [
            "caxton:agent/types@0.1.0",
            "caxton:agent/kv-store@0.1.0",
            "caxton:agent/timers@0.1.0",
            "caxton:agent/logging@0.1.0",
            "caxton:agent/timers@0.1.0",
        ];
        let err = preflight(&s, &imports(&imported)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "agent `pricer` imports `caxton:agent/kv-store@0.1.0`, but `policies/prod.toml` does not grant `kv-store` \
             (also not granted: `timers`, needed by `caxton:agent/timers@0.1.0`; `logging`, needed by \
             `caxton:agent/logging@0.1.0`); add a `kv-store` entry under [agent.grants] or remove the import"
        );
    }

    #[test]
    fn refuses_an_ungranted_import_naming_agent_import_capability_and_file() {
        let s = spec(Grants { messaging: Some(MessagingGrant::send_to_all()), ..Grants::default() });
        let err = preflight(&s, &imports(&["caxton:agent/types@0.1.0", "caxton:agent/kv-store@0.1.0"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "agent `pricer` imports `caxton:agent/kv-store@0.1.0`, but `policies/prod.toml` does not grant `kv-store`; add a `kv-store` entry under [agent.grants] or remove the import"
        );
    }

    #[test]
    fn refuses_sockets_whatever_is_granted() {
        let err = preflight(&spec(Grants::default()), &imports(&["wasi:sockets/tcp@0.2.6"])).unwrap_err();
        assert!(matches!(err, PolicyError::Unsupported { ref interface, .. } if interface == "wasi:sockets/tcp@0.2.6"));
    }

    #[test]
    fn an_import_at_another_version_is_refused_naming_the_version_provided() {
        let s = spec(Grants { messaging: Some(MessagingGrant::send_to_all()), ..Grants::default() });
        let err = preflight(&s, &imports(&["caxton:agent/messaging@0.1.1"])).unwrap_err();
        assert!(
            matches!(err, PolicyError::UnsupportedVersion { ref provided, .. } if provided == "caxton:agent/messaging@0.1.0")
        );
        assert_eq!(
            err.to_string(),
            "agent `pricer` imports `caxton:agent/messaging@0.1.1`, but Caxton provides `caxton:agent/messaging@0.1.0` (deployment file `policies/prod.toml`); build the component against the WIT this host serves (`caxton:agent@0.1.0`, WASI 0.2)"
        );
    }

    #[test]
    fn a_capability_imported_at_another_version_is_refused_but_its_grant_is_not_called_unused() {
        let s = spec(Grants { timers: Some(crate::policy::TimersGrant { max_active: 1 }), ..Grants::default() });
        let report = GrantReport::new(&s, &imports(&["caxton:agent/timers@0.1.1"]));
        assert!(report.unused.is_empty(), "{report:?}");
        assert_eq!(report.unsupported, ["caxton:agent/timers@0.1.1"]);
    }

    #[test]
    fn reports_unused_grants_without_refusing() {
        let s = spec(Grants { kv_store: Some(KvStoreGrant::default()), ..Grants::default() });
        let report = GrantReport::new(&s, &imports(&["wasi:io/streams@0.2.6"]));
        assert_eq!(report.unused, vec![Capability::KvStore]);
        assert!(report.into_result(&s).is_ok());
    }
}
