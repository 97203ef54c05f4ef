//! `caxton new NAME` outside a Caxton checkout: a self-contained agent project
//! in `NAME/` — its source, the WIT it builds against and the SDK or helpers
//! it uses (written from the copies embedded in this binary, so they match the
//! host), a `caxton.toml` deployment file that `caxton build` and `caxton
//! deploy` read, and a README. Nothing in it points into a checkout.

use super::embedded;
use super::new::{fill, write_new, Lang, APP_JS, APP_PY, APP_TS, LIB_RS, WORLD};
use crate::interfaces::Capability;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
caxton-sdk = { path = "sdk" }

# a workspace of its own, wherever the project sits
[workspace]

[profile.release]
opt-level = "s"
lto = true
strip = true
codegen-units = 1
panic = "abort"
"#;

const SDK_CARGO_TOML: &str = r#"[package]
name = "caxton-sdk"
description = "Write Caxton agents in Rust: bindings to the caxton:agent world and message helpers"
version = "{version}"
edition = "2021"
publish = false

[dependencies]
wit-bindgen = { version = "0.61", default-features = false, features = ["macros", "realloc", "std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
"#;

const PACKAGE_JSON: &str = r#"{
  "name": "{name}",
  "private": true,
  "description": "A Caxton agent in JavaScript (a QuickJS component)",
  "devDependencies": {
    "componentize-qjs": "{qjs}"
  }
}
"#;

const AS_PACKAGE_JSON: &str = r#"{
  "name": "{name}",
  "private": true,
  "description": "A Caxton agent in AssemblyScript",
  "devDependencies": {
    "assemblyscript": "{assemblyscript}",
    "json-as": "{json_as}"
  }
}
"#;

const CAXTON_TOML: &str = r#"# Deployment of {name}: `caxton build` writes the component, `caxton deploy caxton.toml`
# applies this file to a running server. A capability not granted here is never linked.
[deployment]
name = "{name}"

[[agent]]
name = "{name}"
component = "target/{file}.wasm"
[agent.grants]
"#;

const README: &str = r#"# {name}

A Caxton agent in {language}: it answers every request with an `inform` that echoes its content.

```
caxton build                    # writes target/{file}.wasm (installing what the toolchain lacks)
caxton serve &                  # a server on 127.0.0.1:8080 (or use --server URL below)
caxton deploy caxton.toml       # deploys it with the grants in caxton.toml
caxton send {name} '{"hello":"world"}' --wait 5000
```

Edit `{source}` to make it do something. What it may call is granted in `caxton.toml`{world}.
"#;

const GITIGNORE: &str = "target/\nnode_modules/\n__pycache__/\ndata/\n";

/// Write the project of agent `name` in `lang` into `parent/name`.
pub fn create(lang: Lang, name: &str, parent: &Path, capabilities: &[Capability]) -> anyhow::Result<ExitCode> {
    let dir = parent.join(name);
    if dir.exists() {
        bail!("`{}` already exists; pick another name or remove it", dir.display());
    }
    let mut caxton_toml = fill(CAXTON_TOML, name);
    for capability in capabilities {
        caxton_toml.push_str(crate::policy::definition::default_grant(*capability));
        caxton_toml.push('\n');
    }
    let (source, world_note) = match lang {
        Lang::Rust => ("src/lib.rs", ""),
        Lang::Python => ("app.py", " (and, as imports, in `wit/world.wit`)"),
        Lang::Js => ("app.js", " (and, as imports, in `wit/world.wit`)"),
        Lang::AssemblyScript => ("app.ts", ""),
    };
    let readme = fill(README, name)
        .replace("{language}", lang.language())
        .replace("{source}", source)
        .replace("{world}", world_note);
    match lang {
        Lang::Rust => {
            write_new(&dir.join("Cargo.toml"), &fill(CARGO_TOML, name))?;
            write_new(&dir.join("src/lib.rs"), &fill(LIB_RS, name))?;
            write_sdk(&dir.join("sdk"))?;
        }
        Lang::Python => {
            let app = fill(APP_PY, name)
                .replace("`caxton_helpers` is in guests/python.", "`caxton_helpers.py` is beside it.");
            write_new(&dir.join("app.py"), &app.replace(&format!("policies/{name}.toml"), "caxton.toml"))?;
            write_new(&dir.join("caxton_helpers.py"), embedded::PYTHON_HELPERS)?;
            write_wit(&dir.join("wit"), name, capabilities)?;
        }
        Lang::Js => {
            let app = fill(APP_JS, name).replace("\"../caxton.js\"", "\"./caxton.js\"");
            write_new(&dir.join("app.js"), &app.replace(&format!("policies/{name}.toml"), "caxton.toml"))?;
            write_new(&dir.join("caxton.js"), embedded::JS_HELPERS)?;
            let package = fill(PACKAGE_JSON, name).replace("{qjs}", embedded::COMPONENTIZE_QJS);
            write_new(&dir.join("package.json"), &package)?;
            write_wit(&dir.join("wit"), name, capabilities)?;
        }
        Lang::AssemblyScript => {
            let app = fill(APP_TS, name).replace("\"../caxton", "\"./caxton").replace("../caxton", "./caxton");
            write_new(&dir.join("app.ts"), &app.replace(&format!("policies/{name}.toml"), "caxton.toml"))?;
            for (file, text) in embedded::ASSEMBLYSCRIPT_SDK {
                write_new(&dir.join("caxton").join(file), text)?;
            }
            let package = fill(AS_PACKAGE_JSON, name)
                .replace("{assemblyscript}", embedded::ASSEMBLYSCRIPT)
                .replace("{json_as}", embedded::JSON_AS);
            write_new(&dir.join("package.json"), &package)?;
        }
    }
    write_new(&dir.join("caxton.toml"), &caxton_toml)?;
    write_new(&dir.join("README.md"), &readme)?;
    write_new(&dir.join(".gitignore"), GITIGNORE)?;
    println!("created {} ({}): {source}, caxton.toml, README.md", dir.display(), lang.language());
    println!("next:");
    println!("  cd {}", dir.display());
    println!("  caxton build");
    println!("  caxton serve &                 # unless a server runs already");
    println!("  caxton deploy caxton.toml      # to the server at $CAXTON_SERVER (default http://127.0.0.1:8080)");
    println!("  caxton send {name} '{{\"hello\":\"world\"}}' --wait 5000");
    Ok(ExitCode::SUCCESS)
}

/// The agent's world (`world.wit`, importing `capabilities`) with the
/// `caxton:agent` package and its dependencies under `deps/`.
fn write_wit(wit: &Path, name: &str, capabilities: &[Capability]) -> anyhow::Result<()> {
    let imports: String = capabilities.iter().map(|c| format!("    import {};\n", c.import_name())).collect();
    let world = fill(WORLD, name).replace("{imports}", &imports).replace("{package}", &super::new::wit_package(name));
    write_new(&wit.join("world.wit"), &world)?;
    write_package(&wit.join("deps/caxton-agent"), &wit.join("deps"))
}

/// The `caxton:agent` package in `package`, its dependencies in `deps`.
fn write_package(package: &Path, deps: &Path) -> anyhow::Result<()> {
    for (file, text) in embedded::AGENT_WIT {
        write_new(&package.join(file), text)?;
    }
    for (file, text) in embedded::DEPS_WIT {
        write_new(&deps.join(file), text)?;
    }
    Ok(())
}

/// The Rust SDK as a crate of the project, with its WIT inside it.
fn write_sdk(sdk: &Path) -> anyhow::Result<()> {
    write_new(&sdk.join("Cargo.toml"), &SDK_CARGO_TOML.replace("{version}", env!("CARGO_PKG_VERSION")))?;
    for (file, text) in embedded::SDK_SOURCES {
        let text = if *file == "lib.rs" {
            if !text.contains(r#"path: "../../wit""#) {
                bail!("this caxton's SDK does not say where its WIT is; it cannot be written out");
            }
            text.replace(r#"path: "../../wit""#, r#"path: "wit""#)
        } else {
            text.to_string()
        };
        write_new(&sdk.join("src").join(file), &text)?;
    }
    write_package(&sdk.join("wit"), &sdk.join("wit/deps"))
}
