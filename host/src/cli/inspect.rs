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
pub fn policy_check(file: &Path, data: &Path, limit: usize) -> anyhow::Result<ExitCode> {
    let deployment = Deployment::load(file)?;
    let engine = crate::runtime::engine::new_engine(crate::runtime::engine::PoolSize { instances: 1 })
        .map_err(|e| anyhow::anyhow!("cannot start the compiler: {e:#}"))?;
    let compiler = Compiler::new(engine, Some(data.join("cache")));
    println!("deployment `{}` ({})", deployment.name, file.display());
    let types = deployment.types.iter().map(|t| (&t.agent, " (agent type)"));
    let mut failed = false;
    for (spec, kind) in deployment.agents.iter().map(|a| (a, "")).chain(types) {
        failed |= !check_one(&compiler, spec, kind, limit);
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
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
