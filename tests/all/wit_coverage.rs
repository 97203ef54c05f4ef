//! Every interface in `wit/` is either a capability or always provided.

use crate::support::root;
use caxton::interfaces::{classify_import, Capability, ImportKind, EXPORTED, PACKAGE, VERSION};

#[test]
fn every_wit_interface_has_a_capability_or_baseline_entry() {
    let mut resolve = wit_parser::Resolve::default();
    let (package, _) = resolve.push_dir(root().join("wit")).unwrap();
    let names: Vec<String> = resolve.packages[package].interfaces.keys().cloned().collect();
    assert!(names.len() >= 5, "{names:?}");
    for name in names.iter().filter(|n| !EXPORTED.contains(&n.as_str())) {
        let import = format!("{PACKAGE}/{name}@{VERSION}");
        assert_ne!(classify_import(&import), ImportKind::Unsupported, "`{import}` has no Capability entry");
    }
    for capability in Capability::ALL {
        assert!(names.iter().any(|n| n == capability.name()), "`{capability}` has no WIT interface");
    }
    assert_eq!(resolve.packages[package].name.to_string(), format!("{PACKAGE}@{VERSION}"));
    for exported in EXPORTED {
        assert!(names.iter().any(|n| n == exported), "`{exported}` is not in the WIT package");
    }
}
