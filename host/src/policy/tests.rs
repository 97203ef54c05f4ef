use super::*;

fn parse(text: &str) -> Result<Deployment, PolicyError> {
    Deployment::parse(text, Path::new("policies/test.toml"))
}

const FULL: &str = r#"
[deployment]
name = "demo"

[[agent]]
name = "text-processor"
component = "../components/text_processor.wasm"
[agent.grants]
messaging = { send-to = ["pricing-*", "audit"] }
kv-store = { quota-bytes = 2048, max-keys = 10 }
timers = { max-active = 4 }
logging = { max-level = "debug" }
[agent.limits]
memory-bytes = 1_048_576
mailbox = 8

[[agent]]
name = "bare"
component = "bare.wasm"
"#;

#[test]
fn parses_grants_limits_and_resolves_components_next_to_the_file() {
    let d = parse(FULL).unwrap();
    assert_eq!(d.name, "demo");
    let tp = &d.agents[0];
    assert_eq!(tp.component, Path::new("policies/../components/text_processor.wasm"));
    let m = tp.grants.messaging.as_ref().unwrap();
    assert!(m.may_send_to("pricing-eu") && m.may_send_to("audit") && !m.may_send_to("billing"));
    assert_eq!(tp.grants.kv_store.as_ref().unwrap().quota_bytes, 2048);
    assert_eq!(tp.grants.kv_store.as_ref().unwrap().max_key_bytes, 512);
    assert_eq!(tp.grants.timers.unwrap().max_active, 4);
    assert_eq!(tp.grants.logging.unwrap().max_level, LogLevel::Debug);
    assert_eq!(tp.limits.memory_bytes, 1_048_576);
    assert_eq!(tp.limits.mailbox, 8);
    assert_eq!(tp.limits.deadline_micros, Limits::default().deadline_micros);
    let bare = &d.agents[1];
    assert!(bare.grants.granted().is_empty(), "absent grants are not granted");
}

#[test]
fn refuses_unknown_keys_anywhere() {
    for (table, line) in
        [("[deployment]", "owner = \"x\""), ("[agent.grants]", "sockets = {}"), ("[agent.limits]", "gpu = 1")]
    {
        let text =
            format!("[deployment]\nname = \"d\"\n[[agent]]\nname = \"a\"\ncomponent = \"a.wasm\"\n{table}\n{line}\n");
        let err = parse(&text).unwrap_err();
        assert!(matches!(err, PolicyError::Parse { .. }), "{table} {line}: {err}");
        assert!(err.to_string().contains("policies/test.toml"), "{err}");
    }
    let err = parse("[deployment]\nname='d'\n[[agent]]\nname='a'\ncomponent='a.wasm'\n[agent.grants]\nmessaging = { send_to = ['x'] }\n").unwrap_err();
    assert!(err.to_string().contains("send_to"), "{err}");
}

#[test]
fn refuses_duplicate_and_malformed_agent_names() {
    let dup =
        "[deployment]\nname='d'\n[[agent]]\nname='a'\ncomponent='a.wasm'\n[[agent]]\nname='a'\ncomponent='b.wasm'\n";
    assert!(parse(dup).unwrap_err().to_string().contains("declared twice"));
    for bad in ["", "A", "-x", "a b", "a/b", &"x".repeat(65)] {
        let text = format!("[deployment]\nname='d'\n[[agent]]\nname='{bad}'\ncomponent='a.wasm'\n");
        assert!(matches!(parse(&text), Err(PolicyError::Invalid { .. })), "{bad:?}");
    }
}

#[test]
fn refuses_out_of_range_limits_and_unknown_levels() {
    let base = "[deployment]\nname='d'\n[[agent]]\nname='a'\ncomponent='a.wasm'\n";
    for extra in [
        "[agent.limits]\nmemory-bytes = 10",
        "[agent.limits]\nmailbox = 0",
        "[agent.limits]\ndeadline-micros = 0",
        "[agent.grants]\nlogging = { max-level = 'loud' }",
        "[agent.grants]\ntimers = { max-active = 100_001 }",
        "[agent.grants]\nkv-store = { max-keys = 0 }",
    ] {
        let err = parse(&format!("{base}{extra}\n")).unwrap_err();
        assert!(matches!(err, PolicyError::Invalid { .. }), "{extra}: {err}");
        assert!(err.to_string().contains("agent `a`"), "{err}");
    }
}

#[test]
fn refuses_empty_deployments() {
    assert!(parse("[deployment]\nname='d'\n").unwrap_err().to_string().contains("no [[agent]]"));
}
