//! Making a component of a core module that speaks the canonical ABI of the
//! `caxton:agent` world but cannot name its exports the way the component
//! model does: AssemblyScript's exports must be identifiers, so its agents
//! export `caxton_handle_message`, `caxton_post_return`, … (see
//! `guests/assemblyscript/caxton/exports.ts`). The exports are renamed to
//! their canonical names, the world (from the WIT embedded in this binary, so
//! it matches the host) is embedded, and `wit-component` — the library behind
//! `wasm-tools component new` — makes the component. Imports the module does
//! not call are left out of the component, so it imports only what it calls.

use super::embedded;
use anyhow::{bail, Context};
use std::path::Path;
use wasm_encoder::{ExportKind, ExportSection, Module, RawSection};
use wasmparser::{ExternalKind, Parser, Payload};

/// The lifecycle functions of `caxton:agent/guest`: (core export name, WIT function).
const GUEST_EXPORTS: &[(&str, &str)] = &[
    ("caxton_init", "init"),
    ("caxton_handle_message", "handle-message"),
    ("caxton_handle_timer", "handle-timer"),
    ("caxton_shutdown", "shutdown"),
    ("caxton_capabilities", "capabilities"),
];

/// The functions whose results hold memory the guest frees after the host has read them.
const POST_RETURN: &str = "caxton_post_return";
const WITH_RESULTS_IN_MEMORY: &[&str] = &["init", "handle-message", "handle-timer", "capabilities"];
const GUEST_INTERFACE: &str = "caxton:agent/guest@0.1.0";

/// The component of agent world `agent` made from `core` (a core module exporting the
/// `caxton_*` functions, `cabi_realloc` and `memory`).
///
/// Errors: `core` is not a valid module, lacks an export of the guest interface, or imports
/// or exports something the world has not (wit-component's words, naming the item).
pub fn agent_component(core: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut module = with_canonical_exports(core)?;
    let mut resolve = wit_parser::Resolve::new();
    let package = push_agent_package(&mut resolve)?;
    let world = resolve.select_world(&[package], Some("agent")).context("the embedded WIT has no world `agent`")?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, wit_component::StringEncoding::UTF8)
        .context("cannot embed the `caxton:agent` world in the module")?;
    wit_component::ComponentEncoder::default()
        .module(&module)
        .context("the module does not fit the `caxton:agent` world")?
        .validate(true)
        .encode()
        .context("cannot make a component of the module")
}

/// The `caxton:agent` package, its dependencies first, from the WIT embedded in this binary.
fn push_agent_package(resolve: &mut wit_parser::Resolve) -> anyhow::Result<wit_parser::PackageId> {
    for (file, text) in embedded::DEPS_WIT {
        resolve.push_source(&format!("wit/deps/{file}"), text).with_context(|| format!("embedded WIT {file}"))?;
    }
    let mut files = wit_parser::SourceMap::new();
    for (file, text) in embedded::AGENT_WIT {
        files.push(Path::new("wit").join(file).as_path(), *text);
    }
    let group = files.parse().map_err(|(files, e)| anyhow::anyhow!("embedded WIT: {}", e.render(&files)))?;
    Ok(resolve.push_group(group)?)
}

/// `core` with the guest exports under their canonical names (`GUEST_INTERFACE#init`, …)
/// and its post-return function exported as `cabi_post_…` of each that needs one; refused
/// when it imports anything but the `caxton:agent` interfaces.
fn with_canonical_exports(core: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut module = Module::new();
    let (mut found, mut foreign) = (Vec::new(), Vec::new());
    for payload in Parser::new(0).parse_all(core) {
        let payload = payload.context("not a WebAssembly module")?;
        match payload {
            Payload::Version { encoding: wasmparser::Encoding::Component, .. } => {
                bail!("this is a component already, not a core module")
            }
            Payload::ExportSection(reader) => {
                let mut exports = ExportSection::new();
                for export in reader {
                    let export = export.context("a broken export section")?;
                    let kind = export_kind(export.kind)?;
                    if export.name == POST_RETURN {
                        for function in WITH_RESULTS_IN_MEMORY {
                            exports.export(&format!("cabi_post_{GUEST_INTERFACE}#{function}"), kind, export.index);
                        }
                    } else if let Some((_, wit)) = GUEST_EXPORTS.iter().find(|(name, _)| *name == export.name) {
                        found.push(*wit);
                        exports.export(&format!("{GUEST_INTERFACE}#{wit}"), kind, export.index);
                    } else {
                        exports.export(export.name, kind, export.index);
                    }
                }
                module.section(&exports);
            }
            other => {
                if let Payload::ImportSection(reader) = &other {
                    for import in reader.clone().into_imports() {
                        let import = import.context("a broken import section")?;
                        if !import.module.starts_with("caxton:agent/") {
                            foreign.push(format!("{}.{}", import.module, import.name));
                        }
                    }
                }
                if let Some((id, range)) = other.as_section() {
                    let data = core.get(range).context("a section past the module's end")?;
                    module.section(&RawSection { id, data });
                }
            }
        }
    }
    if !foreign.is_empty() {
        return Err(host_imports(&foreign));
    }
    let missing: Vec<&str> =
        GUEST_EXPORTS.iter().filter(|(_, wit)| !found.contains(wit)).map(|(name, _)| *name).collect();
    if !missing.is_empty() {
        bail!(
            "the module does not export {}: does the agent's module re-export the guest interface \
             (`export * from \"./caxton/exports\"`)?",
            missing.join(", ")
        );
    }
    Ok(module.finish())
}

/// Why a module that imports `foreign` (from `env`: what AssemblyScript asks of a JavaScript
/// host) cannot be an agent, naming what to use instead.
fn host_imports(foreign: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "the agent calls what only a JavaScript host has: {}. An agent runs on Caxton's capabilities \
         alone: log with `log(Level.Info, …)` (not console.log or trace), read the clock with `nowMs()` \
         (not Date.now), and there is no Math.random (no random seed is imported)",
        foreign.join(", ")
    )
}

fn export_kind(kind: ExternalKind) -> anyhow::Result<ExportKind> {
    Ok(match kind {
        ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
        ExternalKind::Table => ExportKind::Table,
        ExternalKind::Memory => ExportKind::Memory,
        ExternalKind::Global => ExportKind::Global,
        ExternalKind::Tag => ExportKind::Tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_the_guest_exports_is_refused_with_what_to_do() {
        let core = wat::parse_str(
            r#"(module (memory (export "memory") 1) (func (export "caxton_init") (result i32) i32.const 0))"#,
        )
        .unwrap();
        let error = agent_component(&core).unwrap_err().to_string();
        assert!(error.contains("caxton_handle_message") && error.contains("caxton/exports"), "{error}");
    }

    #[test]
    fn a_component_is_not_taken_for_a_module() {
        let error = agent_component(b"\0asm\x0d\0\x01\0").unwrap_err().to_string();
        assert!(error.contains("component already"), "{error}");
    }
}
