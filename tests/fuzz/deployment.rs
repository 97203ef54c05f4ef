//! Deployment files: TOML assembled from the format's own keys, with values of
//! every type and edge, and plain byte soup. For every input `Deployment::parse`
//! returns (never panics), and a file it accepts keeps every promise of the format.

use crate::fuzz;
use arbtest::arbitrary::{Result, Unstructured};
use caxton::policy::{valid_agent_name, Deployment};
use std::path::Path;

/// Keys that are not a grant's or a limit's: the agent's own, and one nobody knows.
const OTHER_KEYS: &[&str] = &["name", "component", "colour"];
const TABLES: &[&str] = &[
    "[deployment]",
    "[[agent]]",
    "[agent.grants]",
    "[agent.limits]",
    "[agent.grants.messaging]",
    "[agent.grants.kv-store]",
    "[agent.grants.timers]",
    "[agent.grants.logging]",
    "[agent.grants.filesystem]",
    "[[agent-type]]",
    "[other]",
];
const STRINGS: &[&str] = &[
    "pricer",
    "a",
    "",
    "UPPER",
    "x.y-z_1",
    "-lead",
    "*",
    "prices.*",
    "a b",
    "../etc",
    "/abs",
    "info",
    "critical",
    "read-write",
    "read-only",
    "ünïcödé",
    "\u{1}",
    "\\u0000",
    "a\"b",
];

fn value(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0 => format!("{}", u.arbitrary::<i64>()?),
        1 => format!("{}", u.choose(&[0u64, 1, 1024, 65_536, 268_435_456, 268_435_457, u64::MAX / 2])?),
        2 => format!("{:?}", u.choose(STRINGS)?),
        3 => format!("{:?}", u.arbitrary::<String>()?),
        4 => u.choose(&["true", "false", "1.5", "nan", "inf", "1e999"])?.to_string(),
        5 => format!("[{:?}, {:?}]", u.choose(STRINGS)?, u.choose(STRINGS)?),
        6 => format!("{{ {} = {} }}", any_key(u)?, u.choose(&["1", "true", "\"*\"", "[]"])?),
        _ => "[]".to_string(),
    })
}

const GRANTS: &[(&str, &[&str])] = &[
    ("messaging", &["send-to", "broadcast", "publish", "subscribe"]),
    ("kv-store", &["quota-bytes", "max-keys", "max-key-bytes", "max-value-bytes", "buckets"]),
    ("timers", &["max-active"]),
    ("logging", &["max-level"]),
    ("filesystem", &["dir", "mode", "guest-path"]),
];
/// Every key the generator writes, in any place.
fn any_key(u: &mut Unstructured<'_>) -> Result<&'static str> {
    Ok(match u.int_in_range(0..=2)? {
        0 => *u.choose(OTHER_KEYS)?,
        1 => *u.choose(LIMITS)?,
        _ => {
            let keys = u.choose(GRANTS)?.1;
            *u.choose(keys)?
        }
    })
}

const LIMITS: &[&str] = &[
    "memory-bytes",
    "cpu-micros-per-message",
    "deadline-micros",
    "host-calls-per-message",
    "messages-per-second",
    "mailbox",
    "message-bytes",
];

/// An inline table of some of `keys`, e.g. `{ send-to = ["*"], broadcast = true }`.
fn inline(u: &mut Unstructured<'_>, keys: &[&str]) -> Result<String> {
    let mut entries = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        entries.push(format!("{} = {}", u.choose(keys)?, value(u)?));
    }
    Ok(format!("{{ {} }}", entries.join(", ")))
}

/// One `[[agent]]`, mostly well formed.
fn agent(u: &mut Unstructured<'_>, out: &mut String) -> Result<()> {
    let name = if u.ratio(3, 4)? { format!("agent-{}", u.int_in_range(0..=3)?) } else { value(u)? };
    out.push_str(&format!("[[agent]]\nname = {}\ncomponent = \"c.wasm\"\n", quoted(&name)));
    if u.arbitrary()? {
        out.push_str("[agent.grants]\n");
        for _ in 0..u.int_in_range(0..=3)? {
            let (grant, keys) = u.choose(GRANTS)?;
            out.push_str(&format!("{grant} = {}\n", inline(u, keys)?));
        }
    }
    if u.arbitrary()? {
        out.push_str("[agent.limits]\n");
        for _ in 0..u.int_in_range(0..=3)? {
            out.push_str(&format!("{} = {}\n", u.choose(LIMITS)?, value(u)?));
        }
    }
    Ok(())
}

/// `name` as a TOML string unless it already is a TOML value.
fn quoted(name: &str) -> String {
    if name.starts_with('"') || name.starts_with('[') || name.starts_with('{') || name.parse::<f64>().is_ok() {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// A deployment file: mostly well-formed agents with stray lines among them, or raw text.
fn text(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(1, 16)? {
        return u.arbitrary();
    }
    let mut out = String::from("[deployment]\nname = \"fuzz\"\n");
    for _ in 0..u.int_in_range(0..=4)? {
        agent(u, &mut out)?;
        if u.ratio(1, 6)? {
            let stray =
                if u.arbitrary()? { u.choose(TABLES)?.to_string() } else { format!("{} = {}", any_key(u)?, value(u)?) };
            out.push_str(&stray);
            out.push('\n');
        }
    }
    Ok(out)
}

#[test]
fn deployment_files_parse_or_refuse_and_what_parses_keeps_the_formats_promises() {
    let mut accepted = 0u64;
    fuzz("deployment-files", |u| {
        let text = text(u)?;
        let Ok(deployment) = Deployment::parse(&text, Path::new("/fuzz/deployment.toml")) else { return Ok(()) };
        accepted += 1;
        let mut names = std::collections::HashSet::new();
        for agent in &deployment.agents {
            assert!(valid_agent_name(&agent.name), "accepted agent name {:?} in:\n{text}", agent.name);
            assert!(names.insert(agent.name.clone()), "agent {:?} accepted twice in:\n{text}", agent.name);
            assert!(agent.component.starts_with("/fuzz"), "component outside the file's directory:\n{text}");
            let limits = agent.limits;
            assert!((64 * 1024..=caxton::policy::MAX_MEMORY_BYTES).contains(&limits.memory_bytes), "{text}");
            assert!(limits.mailbox >= 1 && limits.messages_per_second >= 1, "{text}");
        }
        let again = Deployment::parse(&text, Path::new("/fuzz/deployment.toml")).unwrap();
        assert_eq!(format!("{:?}", again.agents), format!("{:?}", deployment.agents), "parsing is deterministic");
        Ok(())
    });
    eprintln!("fuzz deployment-files: {accepted} accepted");
}
