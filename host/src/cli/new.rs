//! `caxton new`: scaffold an agent that builds and answers a request without
//! edits — in a Caxton checkout under `guests/` (built by `just build-guests`),
//! elsewhere as a project of its own (see [`super::standalone`]).

use crate::interfaces::Capability;
use anyhow::{bail, Context};
use std::path::Path;
use std::process::ExitCode;

/// Languages `caxton new` can scaffold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate using the Caxton SDK (in a checkout: `guests/agents/NAME`).
    Rust,
    /// A Python module built with componentize-py (in a checkout: `guests/python/NAME`).
    Python,
    /// A JavaScript module built with componentize-qjs (in a checkout: `guests/js/NAME`).
    Js,
    /// An AssemblyScript module built with asc (in a checkout: `guests/assemblyscript/NAME`).
    #[value(name = "assemblyscript")]
    AssemblyScript,
}

impl Lang {
    /// The language's name, for people.
    pub fn language(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
            Lang::AssemblyScript => "AssemblyScript",
        }
    }
}

pub(super) const CARGO_TOML: &str = r#"[package]
name = "{name}"
version.workspace = true
edition.workspace = true
license.workspace = true
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
caxton-sdk.workspace = true
"#;

pub(super) const LIB_RS: &str = r#"//! {name}: answers every request with an `inform` that echoes its content.
//! Edit `handle_message` to make it do something; `caxton_sdk` has the rest
//! (kv, timers, logging, search, publish/subscribe).
use caxton_sdk::{json, Agent, Message, Performative};

struct {type_name};

impl Agent for {type_name} {
    fn handle_message(msg: Message) -> Result<(), String> {
        let reply = match msg.performative {
            Performative::Request => msg.inform(json!({ "agent": "{name}", "echo": msg.json_value() })),
            // never answered: two agents could answer each other for ever
            Performative::NotUnderstood | Performative::Failure => return Ok(()),
            _ => msg.not_understood("{name} answers requests"),
        };
        caxton_sdk::send(reply)
    }
}

caxton_sdk::agent!({type_name});
"#;

pub(super) const APP_PY: &str = r#""""{name}: answers every request with an `inform` that echoes its content.
Edit `handle_message` to make it do something. It can call the capabilities its
world.wit imports (as `wit_world.imports.kv_store`, `timers`, `logging`); to use
another, import it there and grant it in policies/{name}.toml.
`caxton_helpers` is in guests/python."""
from caxton_helpers import Agent, json_content, reply
from wit_world.imports import messaging, types


class Guest(Agent):
    def handle_message(self, msg):
        if msg.performative == types.Performative.REQUEST:
            out = reply(msg, types.Performative.INFORM, {"result": {"agent": "{name}", "echo": json_content(msg)}})
        elif msg.performative in (types.Performative.NOT_UNDERSTOOD, types.Performative.FAILURE):
            return  # never answered: two agents could answer each other for ever
        else:
            out = reply(msg, types.Performative.NOT_UNDERSTOOD, {"error": "{name} answers requests"})
        messaging.send(out)
"#;

pub(super) const APP_JS: &str = r#"// {name}: answers every request with an `inform` that echoes its content.
// Edit `handleMessage` to make it do something. It can call the capabilities
// its world.wit imports, imported the same way ("caxton:agent/kv-store@0.1.0",
// timers, logging); to use another, import it there and grant it in
// policies/{name}.toml.
import { send } from "caxton:agent/messaging@0.1.0";
import { json, profile, reply } from "../caxton.js";

export const guest = {
  init() {},
  handleMessage(msg) {
    // a not-understood or failure is never answered: two agents could answer each other for ever
    if (msg.performative === "not-understood" || msg.performative === "failure") return;
    send(msg.performative === "request"
      ? reply(msg, "inform", { result: { agent: "{name}", echo: json(msg) } })
      : reply(msg, "not-understood", { error: "{name} answers requests" }));
  },
  handleTimer(_id) {},
  shutdown() {},
  capabilities: profile,
};
"#;

pub(super) const APP_TS: &str = r#"// {name}: answers every request with an `inform` that echoes its content.
// Edit `handleMessage` to make it do something; the SDK in ../caxton has the
// rest (kvGet/kvSet/kvIncrement, setTimer, log, selfId). What it may call is
// granted in policies/{name}.toml.
import { JSON } from "json-as";
import { Agent, Message, Performative, register, send } from "../caxton";
export * from "../caxton/exports"; // the guest interface the host calls

class {type_name} extends Agent {
  handleMessage(msg: Message): string | null {
    // a not-understood or failure is never answered: two agents could answer each other for ever
    if (msg.performative == Performative.NotUnderstood || msg.performative == Performative.Failure) return null;
    let answer: Message;
    if (msg.performative == Performative.Request) {
      const result = new JSON.Obj();
      result.set("agent", "{name}");
      const echo = msg.json();
      result.set("echo", echo === null ? JSON.Value.empty() : echo);
      const content = new JSON.Obj();
      content.set("result", result);
      answer = msg.reply(Performative.Inform, JSON.stringify(content));
    } else {
      answer = msg.reply(Performative.NotUnderstood, '{"error":"{name} answers requests"}');
    }
    const failed = send(answer);
    return failed === null ? null : failed.toString();
  }
}

register(new {type_name}());
"#;

/// The world of a Python or JavaScript agent: the tools that build them import
/// every interface of the world, so it holds only what the agent calls.
pub(super) const WORLD: &str = r#"// The world {name} is built against: the capabilities it may call, and so
// the only ones its deployment needs to grant. Import another here to use it.
package caxton-agents:{package};

world agent {
{imports}    export caxton:agent/guest@0.1.0;
}
"#;

/// `--capability` values: a capability's name (`messaging`, `timers`, `kv-store`, `logging`).
pub fn parse_capability(name: &str) -> Result<Capability, String> {
    Capability::ALL.into_iter().find(|c| c.name() == name.trim()).ok_or_else(|| {
        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.name()).collect();
        format!("`{name}` is not a capability; use {}", names.join(", "))
    })
}

const POLICY: &str = r#"# Deployment of {name}: `caxton serve --deployment policies/{name}.toml`
[deployment]
name = "{name}"

[[agent]]
name = "{name}"
component = "../components/{component}.wasm"
[agent.grants]
"#;

pub(super) fn fill(template: &str, name: &str) -> String {
    let type_name: String = name
        .split(['-', '_', '.'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut chars = p.chars();
            chars.next().map_or_else(String::new, |c| c.to_ascii_uppercase().to_string() + chars.as_str())
        })
        .collect();
    let type_name =
        if type_name.starts_with(|c: char| c.is_ascii_digit()) { format!("Agent{type_name}") } else { type_name };
    // the templates import these names from the SDK: an agent called `message` is a `MessageAgent`
    let type_name = if ["Agent", "Message", "Performative", "JSON"].contains(&type_name.as_str()) {
        format!("{type_name}Agent")
    } else {
        type_name
    };
    template.replace("{name}", name).replace("{type_name}", &type_name).replace("{file}", &name.replace('-', "_"))
}

/// The WIT package name of agent `name`'s world: the name when it is a WIT
/// identifier (lower-case words of letters and digits, each starting with a
/// letter, joined by `-`; `_` read as `-`), else `agent` (each agent's WIT is
/// assembled on its own, so the name need not be unique).
pub(super) fn wit_package(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "as",
        "bool",
        "borrow",
        "char",
        "constructor",
        "enum",
        "export",
        "f32",
        "f64",
        "flags",
        "from",
        "func",
        "future",
        "import",
        "include",
        "interface",
        "list",
        "option",
        "own",
        "package",
        "record",
        "resource",
        "result",
        "s8",
        "s16",
        "s32",
        "s64",
        "static",
        "stream",
        "string",
        "tuple",
        "type",
        "u8",
        "u16",
        "u32",
        "u64",
        "use",
        "variant",
        "with",
        "world",
    ];
    let kebab = name.replace('_', "-").to_ascii_lowercase();
    let words_ok = kebab.split('-').all(|w| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if words_ok && !KEYWORDS.contains(&kebab.as_str()) {
        kebab
    } else {
        "agent".to_string()
    }
}

pub(super) fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Scaffold agent `name` in `lang` under the checkout at `root`, importing and
/// granted `capabilities` (`messaging` always: the scaffold answers requests).
pub fn new(lang: Lang, name: &str, root: &Path, capabilities: &[Capability]) -> anyhow::Result<ExitCode> {
    // no `.`: a name becomes a crate, module and file name
    if let Some(problem) = crate::policy::agent_name_problem(name, "agent") {
        bail!("{problem}");
    }
    if name.contains('.') {
        bail!("`{name}` is not a usable name for a new agent: `caxton new` takes 1 to 64 characters from a-z, 0-9, `-` and `_` (no `.`: the name becomes file and module names), starting with a letter or digit");
    }
    let capabilities: Vec<Capability> =
        Capability::ALL.into_iter().filter(|c| *c == Capability::Messaging || capabilities.contains(c)).collect();
    if !root.join("guests/Cargo.toml").exists() {
        // not a Caxton checkout: a project of its own
        return super::standalone::create(lang, name, root, &capabilities);
    }
    let (dir, component) = match lang {
        Lang::Rust => (root.join("guests/agents").join(name), name.replace('-', "_")),
        Lang::Python => (root.join("guests/python").join(name), format!("{}_py", name.replace('-', "_"))),
        Lang::Js => (root.join("guests/js").join(name), format!("{}_js", name.replace('-', "_"))),
        Lang::AssemblyScript => {
            (root.join("guests/assemblyscript").join(name), format!("{}_as", name.replace('-', "_")))
        }
    };
    let policy = root.join("policies").join(format!("{name}.toml"));
    for existing in [&dir, &policy] {
        if existing.exists() {
            bail!("`{}` already exists; pick another name or remove it", existing.display());
        }
    }
    let mut policy_text = fill(POLICY, name).replace("{component}", &component);
    for capability in &capabilities {
        policy_text.push_str(crate::policy::definition::default_grant(*capability));
        policy_text.push('\n');
    }
    let imports: String = capabilities.iter().map(|c| format!("    import {};\n", c.import_name())).collect();
    let world = fill(WORLD, name).replace("{imports}", &imports).replace("{package}", &wit_package(name));
    match lang {
        Lang::Rust => {
            write_new(&dir.join("Cargo.toml"), &fill(CARGO_TOML, name))?;
            write_new(&dir.join("src/lib.rs"), &fill(LIB_RS, name))?;
        }
        Lang::Python => {
            write_new(&dir.join("app.py"), &fill(APP_PY, name))?;
            write_new(&dir.join("world.wit"), &world)?;
        }
        Lang::Js => {
            write_new(&dir.join("app.js"), &fill(APP_JS, name))?;
            write_new(&dir.join("world.wit"), &world)?;
        }
        // imports only what it calls: no world of its own
        Lang::AssemblyScript => write_new(&dir.join("app.ts"), &fill(APP_TS, name))?,
    }
    write_new(&policy, &policy_text)?;
    let relative = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
    println!("created {relative} ({}) and policies/{name}.toml", lang.language());
    println!("next:");
    match lang {
        Lang::Rust => println!("  just build-guests"),
        Lang::Python | Lang::Js | Lang::AssemblyScript => println!("  just build-agent {relative}"),
    }
    println!("  ./target/debug/caxton serve --deployment policies/{name}.toml");
    println!("  ./target/debug/caxton send {name} '{{\"hello\":\"world\"}}' --wait 5000");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_not_wit_identifiers_get_a_package_that_is() {
        assert_eq!(wit_package("price-watcher"), "price-watcher");
        assert_eq!(wit_package("my_agent"), "my-agent");
        for odd in ["9lives", "import", "a--b", "agent-2x-9"] {
            assert_eq!(wit_package(odd), "agent", "{odd}");
        }
    }

    #[test]
    fn names_become_rust_types_and_file_names() {
        let filled = fill("{type_name} {file} {name}", "price-watcher_2");
        assert_eq!(filled, "PriceWatcher2 price_watcher_2 price-watcher_2");
        assert!(fill("{type_name}", "9lives").starts_with("Agent9"));
        for (name, type_name) in [("agent", "AgentAgent"), ("message", "MessageAgent"), ("j-s-o-n", "JSONAgent")] {
            assert_eq!(fill("{type_name}", name), type_name, "{name} collides with an SDK name");
        }
    }
}
