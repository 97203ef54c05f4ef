//! `caxton compose`: plug library components into an agent — each import of
//! the agent that a library exports is filled by it — with wac's composition
//! graph (`wac-graph`, a library: no external tool). Either one composition
//! from the command line, or every composition of a recipe file:
//!
//! ```toml
//! # paths are relative to this file
//! [[composition]]
//! agent = "composed_text.wasm"
//! plugs = ["textops.wasm"]
//! output = "composed_text_full.wasm"
//! ```

use anyhow::{bail, Context};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions, PlugError};

/// A recipe file: the compositions to make.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Recipe {
    composition: Vec<Composition>,
}

/// One composition of a recipe.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Composition {
    /// The agent whose imports are filled.
    agent: PathBuf,
    /// The libraries that fill them, in order.
    plugs: Vec<PathBuf>,
    /// Where the composed agent goes.
    output: PathBuf,
}

/// `caxton compose FILE [--plug LIB]… [-o OUT]`: FILE is a recipe (`.toml`),
/// or an agent to plug `plugs` into, written to `output`.
pub fn compose(file: &Path, plugs: &[PathBuf], output: Option<&Path>) -> anyhow::Result<ExitCode> {
    if file.extension().is_some_and(|e| e == "toml") {
        if !plugs.is_empty() || output.is_some() {
            bail!("a recipe names its plugs and outputs; `--plug` and `-o` go with an agent's .wasm");
        }
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read `{}`", file.display()))?;
        let recipe: Recipe = toml::from_str(&text).with_context(|| format!("`{}` is not a recipe", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for c in &recipe.composition {
            let plugs: Vec<PathBuf> = c.plugs.iter().map(|p| base.join(p)).collect();
            make(&base.join(&c.agent), &plugs, &base.join(&c.output))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(output) = output else { bail!("where does the composed agent go? give `-o OUT.wasm`") };
    if plugs.is_empty() {
        bail!("nothing to plug in: give each library with `--plug LIB.wasm`");
    }
    make(file, plugs, output)?;
    Ok(ExitCode::SUCCESS)
}

/// Compose one agent and write it; say what it still imports.
fn make(agent: &Path, plugs: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    let what = || format!("cannot plug into `{}`", agent.display());
    let bytes = plug_into(agent, plugs).with_context(what)?;
    let info = crate::component::inspect(&bytes).with_context(what)?;
    std::fs::write(output, &bytes).with_context(|| format!("cannot write `{}`", output.display()))?;
    let caxton = info.imports.iter().filter(|i| i.starts_with("caxton:agent/")).count();
    println!("  {:<44} {:>8} bytes (composed; {caxton} caxton imports left)", output.display(), bytes.len());
    Ok(())
}

/// The agent at `agent` with the exports of the components at `plugs` filling its imports.
fn plug_into(agent: &Path, plugs: &[PathBuf]) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let socket = Package::from_file("caxton:agent", None, agent, graph.types_mut())?;
    let socket = graph.register_package(socket)?;
    let mut ids = Vec::new();
    for (i, plug) in plugs.iter().enumerate() {
        let package = Package::from_file(&format!("caxton:plug{i}"), None, plug, graph.types_mut())?;
        ids.push(graph.register_package(package)?);
    }
    match wac_graph::plug(&mut graph, ids, socket) {
        Ok(()) => {}
        Err(PlugError::NoPlugHappened) => {
            let names: Vec<String> = plugs.iter().map(|p| format!("`{}`", p.display())).collect();
            bail!("{} export nothing the agent imports", names.join(", "))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(graph.encode(EncodeOptions::default())?)
}
