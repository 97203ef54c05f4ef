//! The files a standalone agent project is made from, embedded in the binary
//! so a project always matches the host that scaffolded it: the WIT of the
//! `caxton:agent` package and its dependencies, the Rust SDK, the Python and
//! JavaScript helpers, and the AssemblyScript SDK. (A unit test below checks
//! the lists cover every file of `wit/`, `guests/sdk/src/` and
//! `guests/assemblyscript/caxton/`.)

/// The `caxton:agent` package, by file name.
pub const AGENT_WIT: &[(&str, &str)] = &[
    ("guest.wit", include_str!("../../../wit/guest.wit")),
    ("kv-store.wit", include_str!("../../../wit/kv-store.wit")),
    ("logging.wit", include_str!("../../../wit/logging.wit")),
    ("messaging.wit", include_str!("../../../wit/messaging.wit")),
    ("timers.wit", include_str!("../../../wit/timers.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

/// The packages `caxton:agent` refers to, by path under `deps/`.
pub const DEPS_WIT: &[(&str, &str)] = &[
    ("keyvalue/keyvalue.wit", include_str!("../../../wit/deps/keyvalue/keyvalue.wit")),
    ("logging/logging.wit", include_str!("../../../wit/deps/logging/logging.wit")),
    ("textops/ops.wit", include_str!("../../../wit/deps/textops/ops.wit")),
];

/// The Rust SDK's sources, by path under `src/`.
pub const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../../guests/sdk/src/lib.rs")),
    ("message.rs", include_str!("../../../guests/sdk/src/message.rs")),
    ("protocols.rs", include_str!("../../../guests/sdk/src/protocols.rs")),
];

/// `caxton_helpers.py`, which Python agents import.
pub const PYTHON_HELPERS: &str = include_str!("../../../guests/python/caxton_helpers.py");

/// `caxton.js`, which JavaScript agents import.
pub const JS_HELPERS: &str = include_str!("../../../guests/js/caxton.js");

/// The AssemblyScript SDK, by file name (a project's `caxton/`).
pub const ASSEMBLYSCRIPT_SDK: &[(&str, &str)] = &[
    ("abi.ts", include_str!("../../../guests/assemblyscript/caxton/abi.ts")),
    ("exports.ts", include_str!("../../../guests/assemblyscript/caxton/exports.ts")),
    ("guest.ts", include_str!("../../../guests/assemblyscript/caxton/guest.ts")),
    ("host.ts", include_str!("../../../guests/assemblyscript/caxton/host.ts")),
    ("index.ts", include_str!("../../../guests/assemblyscript/caxton/index.ts")),
    ("message.ts", include_str!("../../../guests/assemblyscript/caxton/message.ts")),
];

/// The versions of the AssemblyScript compiler and of json-as that AssemblyScript agents use.
pub const ASSEMBLYSCRIPT: &str = "0.28.20";
pub const JSON_AS: &str = "1.6.0";

/// The version of componentize-qjs the JavaScript agents are built with.
pub const COMPONENTIZE_QJS: &str = "0.4.5";

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `(path under dir, text)` of every file under `dir`.
    fn files(dir: &Path, under: &str, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let relative = if under.is_empty() { name } else { format!("{under}/{name}") };
            if path.is_dir() {
                files(&path, &relative, out);
            } else {
                out.push((relative, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    fn sorted(list: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut list: Vec<_> = list.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
        list.sort();
        list
    }

    #[test]
    fn every_file_of_the_wit_and_the_sdk_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut wit = Vec::new();
        files(&root.join("wit"), "", &mut wit);
        let (mut deps, mut package): (Vec<_>, Vec<_>) = wit.into_iter().partition(|(p, _)| p.starts_with("deps/"));
        deps = deps.into_iter().map(|(p, t)| (p.trim_start_matches("deps/").to_string(), t)).collect();
        package.sort();
        deps.sort();
        assert_eq!(sorted(AGENT_WIT), package);
        assert_eq!(sorted(DEPS_WIT), deps);
        let mut sdk = Vec::new();
        files(&root.join("guests/sdk/src"), "", &mut sdk);
        sdk.sort();
        assert_eq!(sorted(SDK_SOURCES), sdk);
        let package_json = std::fs::read_to_string(root.join("guests/js/package.json")).unwrap();
        assert!(package_json.contains(&format!("\"componentize-qjs\": \"{COMPONENTIZE_QJS}\"")), "{package_json}");
        let mut assemblyscript = Vec::new();
        files(&root.join("guests/assemblyscript/caxton"), "", &mut assemblyscript);
        assemblyscript.sort();
        assert_eq!(sorted(ASSEMBLYSCRIPT_SDK), assemblyscript);
        let package_json = std::fs::read_to_string(root.join("guests/assemblyscript/package.json")).unwrap();
        assert!(package_json.contains(&format!("\"assemblyscript\": \"{ASSEMBLYSCRIPT}\"")), "{package_json}");
        assert!(package_json.contains(&format!("\"json-as\": \"{JSON_AS}\"")), "{package_json}");
    }
}
