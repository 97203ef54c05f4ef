//! `caxton inspect` and `caxton policy check`: offline looks at components and
//! deployment files; `policy check` runs the same checks as a deploy.

use crate::component::{self, Compiler};
use crate::interfaces::{classify_import, provided_instead, ImportKind};
use crate::policy::check::GrantReport;
use crate::policy::Deployment;
use anyhow::Context;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

fn describe(kind: ImportKind) -> String {
    match kind {
        ImportKind::Types => "types (always provided)".into(),
        ImportKind::Capability(c) => format!("capability `{c}` (needs a grant)"),
        ImportKind::Baseline => "inert WASI baseline (always provided)".into(),
        ImportKind::Unsupported => "NOT PROVIDED by Caxton: deploy will be refused".into(),
    }
}

pub fn inspect(file: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let bytes = component::read(file, component::MAX_COMPONENT_BYTES)?;
    let info = component::inspect(&bytes).with_context(|| format!("cannot inspect `{}`", file.display()))?;
    if as_json {
        let imports: Vec<_> = info
            .imports
            .iter()
            .map(|i| {
                let kind = classify_import(i);
                let capability = match kind {
                    ImportKind::Capability(c) => Some(c.name()),
                    _ => None,
                };
                json!({ "name": i, "capability": capability, "provided": describe(kind) })
            })
            .collect();
        let out = json!({ "file": file, "bytes": bytes.len(), "imports": imports, "exports": info.exports });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{} ({} bytes)", file.display(), bytes.len());
    println!("imports:");
    let width = info.imports.iter().map(String::len).max().unwrap_or(0);
    for import in &info.imports {
        println!("  {import:<width$}  {}", describe(classify_import(import)));
    }
    println!("exports:");
    for export in &info.exports {
        println!("  {export}");
    }
    // for a composition: what each part needs (interfaces only, not the parts' internal wiring)
    let needs: Vec<(String, Vec<String>)> = info
        .parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let needs = part
                .imports
                .iter()
                .filter_map(|imp| match classify_import(imp) {
                    ImportKind::Capability(c) => Some(format!("`{c}`")),
                    ImportKind::Unsupported if imp.contains(':') => Some(format!("`{imp}` (from another part)")),
                    _ => None,
                })
                .collect();
            (part.describe(i), needs)
        })
        .filter(|(_, needs): &(String, Vec<String>)| !needs.is_empty())
        .collect();
    if info.parts.len() > 1 && !needs.is_empty() {
        println!("parts (composed):");
        for (part, needs) in needs {
            println!("  {part}: needs {}", needs.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The refusals of the grant comparison, as sentences without the agent's name.
fn grant_errors(report: &GrantReport) -> Vec<String> {
    let not_granted = report.not_granted.iter().map(|(import, capability, part)| {
        let part = part.as_ref().map(|p| format!(" (for {p})")).unwrap_or_default();
        format!("imports `{import}`{part}, but `{capability}` is not granted; add `{capability}` under [agent.grants]")
    });
    let unsupported = report.unsupported.iter().map(|import| match provided_instead(import) {
        Some(provided) => {
            format!("imports `{import}`, but Caxton provides `{provided}`; build against this host's WIT")
        }
        None => format!("imports `{import}`, which Caxton does not provide"),
    });
    not_granted.chain(unsupported).collect()
}

/// `caxton policy check FILE`: every check a deploy makes, for every agent
/// and agent type of the file, offline; compiled components are kept in
/// `DATA/cache` for `serve`.
/// `caxton policy check FILE…`: every deploy check of each file's agents,
/// offline; fails when any agent of any file would be refused.
pub fn policy_check(files: &[std::path::PathBuf], data: &Path, limit: usize) -> anyhow::Result<ExitCode> {
    let engine = crate::runtime::engine::new_engine(crate::runtime::engine::PoolSize { instances: 1 })
        .map_err(|e| anyhow::anyhow!("cannot start the compiler: {e:#}"))?;
    let compiler = Compiler::new(engine, Some(data.join("cache")));
    let mut failed = false;
    for file in files {
        failed |= !check_file(&compiler, file, data, limit)?;
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Check one deployment file; whether every agent of it would deploy.
fn check_file(compiler: &Compiler, file: &Path, data: &Path, limit: usize) -> anyhow::Result<bool> {
    let deployment = Deployment::load(file)?;
    println!("deployment `{}` ({})", deployment.name, file.display());
    let types = deployment.types.iter().map(|t| (&t.agent, " (agent type)"));
    let mut failed = false;
    for (spec, kind) in deployment.agents.iter().map(|a| (a, "")).chain(types) {
        let ok = check_one(compiler, spec, kind, limit);
        if ok {
            act_report(spec, data);
        }
        failed |= !ok;
    }
    Ok(!failed)
}

/// Check one agent (or agent type, as `kind` says) and print the outcome; whether it would deploy.
fn check_one(compiler: &Compiler, spec: &crate::policy::AgentSpec, kind: &str, limit: usize) -> bool {
    let bytes = component::read(&spec.component, limit);
    let loaded = bytes.and_then(|bytes| component::inspect(&bytes).map(|info| (bytes, info)));
    let (bytes, info) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            println!("  {}{kind}: error: {e} ({})", spec.name, spec.component.display());
            return false;
        }
    };
    let report = GrantReport::new(spec, &info);
    let mut errors = grant_errors(&report);
    if errors.is_empty() {
        if compiler.cache_path(&Compiler::digest(&bytes)).is_some_and(|p| !p.exists()) {
            eprintln!("  {}: compiling {} ({} bytes)…", spec.name, spec.component.display(), bytes.len());
        }
        if let Err(e) = crate::runtime::verify(compiler, spec, &bytes, limit) {
            errors.push(e.to_string());
        }
    }
    let names = report.used.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    println!("  {}{kind}: {}; uses [{names}]", spec.name, if errors.is_empty() { "ok" } else { "REFUSED" });
    for error in &errors {
        println!("    error: {error}");
    }
    for capability in &report.unused {
        println!("    warning: `{capability}` is granted but not imported; the grant can be removed");
    }
    errors.is_empty()
}

/// Print `spec`'s `acts` rules, and warn about each protocol it lists in its
/// `capabilities` whose acts the rules forbid it on either side (see [`acts::protocol_gap`]).
/// The protocols come from a trial start (its `init` runs) in a throwaway
/// runtime with an in-memory store; nothing is printed without rules.
fn act_report(spec: &crate::policy::AgentSpec, data: &Path) {
    use crate::policy::acts;
    let Some(rules) = spec.grants.messaging.as_ref().and_then(|m| m.acts.as_ref()) else { return };
    println!("    acts: {}", acts::describe(rules));
    let protocols = match registered_protocols(spec, data) {
        Ok(protocols) => protocols,
        Err(e) => {
            println!("    warning: cannot start it to read the protocols it takes part in: {e:#}");
            return;
        }
    };
    let names = |acts: Vec<crate::acl::Performative>| acts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ");
    for protocol in protocols.iter().filter_map(|p| crate::protocol::Protocol::from_name(p)) {
        if let Some((initiator, participant)) = acts::protocol_gap(rules, protocol) {
            println!(
                "    warning: takes part in {}, but its `acts` allow it to send neither what an initiator sends \
                 (missing {}) nor what a participant sends (missing {})",
                protocol.name(),
                names(initiator),
                names(participant)
            );
        }
    }
}

/// The protocols `spec`'s component lists in its `capabilities`, from a trial start.
fn registered_protocols(spec: &crate::policy::AgentSpec, data: &Path) -> anyhow::Result<Vec<String>> {
    use crate::runtime::{engine::PoolSize, Runtime, RuntimeConfig};
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    tokio.block_on(async {
        let mut config = RuntimeConfig::new(std::sync::Arc::new(crate::store::memory::MemoryStore::new()));
        config.cache_dir = Some(data.join("cache"));
        config.pool = PoolSize { instances: 1 };
        let rt = Runtime::new(config)?;
        rt.deploy(spec.clone()).await?;
        let entries = rt.bus().local_directory();
        rt.shutdown(std::time::Duration::from_secs(1)).await;
        Ok(entries.into_iter().find(|(name, _)| *name == spec.name).map(|(_, p)| p.protocols).unwrap_or_default())
    })
}
