//! `caxton build [DIR]`: build an agent project (see [`super::standalone`])
//! into the component its `caxton.toml` names, with the language's toolchain:
//! cargo for Rust (`wasm32-wasip2`, added with rustup when missing),
//! componentize-py for Python (installed with pip when missing) and
//! componentize-qjs for JavaScript and asc for AssemblyScript (both installed
//! with npm from the project's `package.json` when missing; an AssemblyScript
//! core module is then made a component by [`super::componentize`]). Each step
//! is announced; the tools' own output shows their progress.
//!
//! A build whose sources are those of the last build keeps the component it
//! made: componentize-py and componentize-qjs do not make the same bytes twice,
//! and a new digest would make `caxton deploy` redeploy an unchanged agent.

use super::new::Lang;
use crate::policy::Deployment;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Build the project in `dir` (or its `caxton.toml`, or a folder inside the project) into
/// the component its caxton.toml names, or into `output` when given (then `dir` is the
/// agent's own folder and needs no caxton.toml: how `just build-agent` builds the
/// AssemblyScript agents of a checkout).
pub fn build(dir: &Path, output: Option<&Path>) -> anyhow::Result<ExitCode> {
    // absolute, so paths mean the same to the tools, which run in the project
    let given = &dir.canonicalize().with_context(|| format!("cannot open the project `{}`", dir.display()))?;
    let start = if given.is_file() { given.parent().unwrap_or(given) } else { given };
    let (dir, name, out, file) = match output {
        Some(out) => {
            let name = start.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let out = std::env::current_dir().map(|cwd| cwd.join(out)).unwrap_or_else(|_| out.to_path_buf());
            (start, name, out, None)
        }
        None => {
            let Some(dir) = start.ancestors().find(|d| d.join("caxton.toml").is_file()) else {
                bail!(
                    "`{}` has no caxton.toml (nor has any folder above it): give the directory of a project \
                     `caxton new NAME` made, or say where the component goes with --output (in a Caxton \
                     checkout, `just build-guests` builds the agents under guests/)",
                    given.display()
                );
            };
            let file = dir.join("caxton.toml");
            let deployment = Deployment::load(&file)?;
            let Some(agent) = deployment.agents.into_iter().next() else {
                bail!("`{}` deploys no [[agent]] to build", file.display())
            };
            (dir, agent.name, agent.component, Some(file))
        }
    };
    let lang = language(dir)?;
    let out = &out;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    // an AssemblyScript agent in a folder of agents shares its SDK with them: digest them all
    let tree = if lang == Lang::AssemblyScript { assemblyscript_root(dir)? } else { dir.to_path_buf() };
    let sources = sources_digest(&tree)?;
    let stamp = out.with_extension("wasm.sources");
    if out.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s == sources) {
        println!("{} is up to date: the sources have not changed since it was built", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!("building `{name}` ({}) into {}", lang.language(), out.display());
    match lang {
        Lang::Rust => rust(dir, out)?,
        Lang::Python => python(dir, out)?,
        Lang::Js => javascript(dir, out)?,
        Lang::AssemblyScript => assemblyscript(dir, &tree, out)?,
    }
    // taken again: a first build writes lock files (Cargo.lock, package-lock.json) beside the sources
    let sources = sources_digest(&tree)?;
    std::fs::write(&stamp, &sources).with_context(|| format!("cannot write `{}`", stamp.display()))?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    let size = if bytes < 1_000_000 {
        format!("{} KB", bytes.div_ceil(1000))
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    };
    match file {
        Some(file) => println!("built {} ({size}); next: caxton deploy {}", out.display(), file.display()),
        None => println!("built {} ({size})", out.display()),
    }
    Ok(ExitCode::SUCCESS)
}

/// SHA-256 (hex) of the project's sources: every file's path and bytes, but
/// for what builds and runs make (`target/`, `node_modules/`, `data/`, …).
fn sources_digest(dir: &Path) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    const SKIPPED: &[&str] = &["target", "node_modules", "data", "__pycache__", ".git"];
    fn walk(dir: &Path, root: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let skipped = path.file_name().is_some_and(|n| SKIPPED.iter().any(|s| n == *s));
            if path.is_dir() && !skipped {
                walk(&path, root, files)?;
            } else if path.is_file() {
                files.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files).with_context(|| format!("cannot read the project `{}`", dir.display()))?;
    files.sort();
    let mut digest = Sha256::new();
    for file in files {
        let bytes = std::fs::read(dir.join(&file)).with_context(|| format!("cannot read `{}`", file.display()))?;
        digest.update(file.to_string_lossy().as_bytes());
        digest.update((bytes.len() as u64).to_le_bytes());
        digest.update(&bytes);
    }
    Ok(digest.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The project's language, from the files it has.
fn language(dir: &Path) -> anyhow::Result<Lang> {
    let has = |file: &str| dir.join(file).exists();
    Ok(match (has("Cargo.toml"), has("app.py"), has("app.js"), has("app.ts")) {
        (true, ..) => Lang::Rust,
        (_, true, ..) => Lang::Python,
        (_, _, true, _) => Lang::Js,
        (.., true) => Lang::AssemblyScript,
        _ => bail!("`{}` has no Cargo.toml, app.py, app.js or app.ts: which language is it in?", dir.display()),
    })
}

/// Run `command` in `dir`, its output going to ours; an error naming it when it fails.
fn run(dir: &Path, command: &mut Command) -> anyhow::Result<()> {
    let args = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>();
    let what = format!("`{} {}`", command.get_program().to_string_lossy(), args.join(" "));
    let status = command.current_dir(dir).status().with_context(|| format!("cannot run {what}: is it installed?"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    Ok(())
}

fn rust(dir: &Path, out: &Path) -> anyhow::Result<()> {
    const TARGET: &str = "wasm32-wasip2";
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).current_dir(dir).output();
    if let Ok(listed) = installed {
        if listed.status.success() && !String::from_utf8_lossy(&listed.stdout).lines().any(|t| t.trim() == TARGET) {
            println!("adding the {TARGET} target with rustup…");
            run(dir, Command::new("rustup").args(["target", "add", TARGET]))?;
        }
    }
    run(dir, Command::new("cargo").args(["build", "--release", "--target", TARGET]))?;
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).context("cannot read Cargo.toml")?;
    let manifest: toml::Table = toml::from_str(&manifest).context("Cargo.toml is not TOML")?;
    let crate_name = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .context("Cargo.toml has no package name")?
        .replace('-', "_");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| dir.join("target"), PathBuf::from);
    copy(&target_dir.join(TARGET).join("release").join(format!("{crate_name}.wasm")), out)
}

/// Where pip puts commands (pyenv shims appear only after a rehash), ahead of `PATH`.
fn path_with_python_scripts() -> std::ffi::OsString {
    let scripts = Command::new("python3")
        .args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let mut paths = vec![PathBuf::from(scripts)];
    paths.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(paths).unwrap_or_default()
}

fn python(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let path = path_with_python_scripts();
    let found = Command::new("componentize-py").arg("--version").env("PATH", &path).output();
    if !found.is_ok_and(|o| o.status.success()) {
        println!("installing componentize-py with pip…");
        run(dir, Command::new("python3").args(["-m", "pip", "install", "--quiet", "componentize-py"]))?;
    }
    println!("componentize-py: a CPython component (about 18 MB, ~10 s)…");
    run(
        dir,
        Command::new("componentize-py")
            .env("PATH", &path)
            .env("RUST_BACKTRACE", "0")
            .args(["-d", "wit", "-w", "agent", "componentize", "--stub-wasi", "-p", ".", "app", "-o"])
            .arg(out),
    )
    .context(IMPORT_HINT)
}

fn javascript(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let tool = dir.join("node_modules/.bin/componentize-qjs");
    if !tool.exists() {
        println!("installing componentize-qjs with npm (package.json)…");
        run(dir, Command::new("npm").args(["install", "--no-audit", "--no-fund", "--loglevel=error"]))?;
    }
    run(
        dir,
        Command::new(&tool)
            .args(["--wit", "wit", "--js", "app.js", "--module-root", ".", "-n", "agent"])
            .args(["--sync", "--stub-wasi", "--opt-size", "-o"])
            .arg(out),
    )
    .context(IMPORT_HINT)
}

/// The folder whose `package.json` pins the AssemblyScript toolchain of the agent in `dir`
/// (`dir` itself in a project `caxton new` made; `guests/assemblyscript` in a checkout),
/// with the SDK in its `caxton/`.
fn assemblyscript_root(dir: &Path) -> anyhow::Result<PathBuf> {
    let pins =
        |d: &Path| std::fs::read_to_string(d.join("package.json")).is_ok_and(|t| t.contains("\"assemblyscript\""));
    dir.ancestors().find(|d| pins(d)).map(Path::to_path_buf).with_context(|| {
        format!(
            "no package.json naming `assemblyscript` in `{}` or above it: `caxton new --lang assemblyscript` writes one",
            dir.display()
        )
    })
}

fn assemblyscript(dir: &Path, root: &Path, out: &Path) -> anyhow::Result<()> {
    let asc = root.join("node_modules/.bin/asc");
    if !asc.exists() {
        println!("installing assemblyscript and json-as with npm (package.json)…");
        run(root, Command::new("npm").args(["install", "--no-audit", "--no-fund", "--loglevel=error"]))?;
    }
    let entry = dir.join("app.ts");
    let entry = entry.strip_prefix(root).unwrap_or(&entry);
    // the core module goes beside the component, never to a shared temporary folder
    let core = out.with_extension("core.wasm");
    println!("asc: compiling {} (optimised, the json-as transform)…", entry.display());
    let compiled = run(
        root,
        Command::new(&asc)
            .arg(entry)
            .args(["--transform", "json-as", "--use", "abort=caxton/abi/abort"])
            // AS201 (casts that a 64-bit build would need) fills json-as's build with noise
            .args(["--optimizeLevel", "3", "--shrinkLevel", "1", "--disableWarning", "201", "--outFile"])
            .arg(&core),
    );
    let module = compiled.and_then(|()| std::fs::read(&core).context("asc wrote no module"));
    let _ = std::fs::remove_file(&core);
    let module = module?;
    println!("making a component of the caxton:agent world (it imports only what it calls)…");
    let component = super::componentize::agent_component(&module)?;
    std::fs::write(out, component).with_context(|| format!("cannot write `{}`", out.display()))
}

/// What a Python or JavaScript build failure most often means.
const IMPORT_HINT: &str = "the build failed (above, the tool's own words); if it cannot import a capability \
     (`kv_store`, `caxton:agent/kv-store@0.1.0`…), import it in wit/world.wit and grant it in caxton.toml";
