//! The crate's top-level modules use one another without a cycle, and the
//! leaf modules use none of them (the layering described in `src/lib.rs`).
//!
//! Read from the source: every `crate::name` (and `crate::{a, b::c}`) outside
//! comments is an edge from the module whose file holds it to `name`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that hold helpers several others use; they use nothing in the crate.
const LEAVES: &[&str] = &["glob", "rate", "interfaces", "printable"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first path segment of each item named after `crate::` in `code`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            names.push(ident(rest));
            continue;
        };
        // the top-level items of a `{…}` group: split at commas outside nested braces
        let (mut depth, mut start) = (0usize, 0usize);
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    names.push(ident(&group[start..i]));
                    break;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    names.push(ident(&group[start..i]));
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    names
}

/// Each top-level module of `src/` and the other top-level modules it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("host/src");
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            rust_files(&path, files.entry(name).or_default());
        } else if name != "lib" && name != "main" && path.extension().is_some_and(|e| e == "rs") {
            files.entry(name).or_default().push(path);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    files
        .into_iter()
        .map(|(module, paths)| {
            let mut uses = BTreeSet::new();
            for path in paths {
                let text = std::fs::read_to_string(&path).unwrap();
                let code: String = text
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| format!("{}\n", l.split(" // ").next().unwrap_or(l)))
                    .collect();
                uses.extend(crate_paths(&code).into_iter().filter(|n| modules.contains(n) && *n != module));
            }
            (module, uses)
        })
        .collect()
}

#[test]
fn top_level_modules_use_one_another_without_a_cycle() {
    let mut graph = module_graph();
    assert!(graph.len() > 10, "found the modules of src/: {:?}", graph.keys());
    // peel off modules that use nothing left or that nothing left uses; what remains lies on a cycle
    let outside_cycles = |graph: &BTreeMap<String, BTreeSet<String>>| {
        let used: BTreeSet<&String> = graph.values().flatten().collect();
        graph.iter().find(|(m, uses)| uses.is_empty() || !used.contains(m)).map(|(m, _)| m.clone())
    };
    while let Some(done) = outside_cycles(&graph) {
        graph.remove(&done);
        for uses in graph.values_mut() {
            uses.remove(&done);
        }
    }
    assert!(graph.is_empty(), "these modules use one another in a cycle: {graph:?}");
}

#[test]
fn leaf_modules_use_nothing_else_in_the_crate() {
    let graph = module_graph();
    for leaf in LEAVES {
        let uses = graph.get(*leaf).unwrap_or_else(|| panic!("no module `{leaf}` in src/"));
        assert!(uses.is_empty(), "`{leaf}` is a leaf module but uses {uses:?}");
    }
}

#[test]
fn reads_grouped_and_nested_crate_paths() {
    let code = "use crate::{acl::{Message, Performative}, bus};\nlet x = crate::glob::matches(p, t);";
    assert_eq!(crate_paths(code), ["acl", "bus", "glob"]);
}
