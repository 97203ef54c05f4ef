//! The dashboard at `/ui` in a real headless Chromium, driven through
//! chromedriver (WebDriver), against the real server running the demo
//! deployment with a token: sign in, see the agents, send from the composer,
//! watch the sniffer draw the exchange, open a dead letter, a conversation and
//! a log tail. A screenshot of each view goes to `target/ui-screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`just test` installs them).

use crate::support::api::{Api, TOKEN};
use crate::support::process::Killed;
use crate::support::root;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver on a free port, killed on drop.
fn chromedriver() -> (Killed, u16) {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            std::path::Path::new(path).exists(),
            "{path} is missing: install Debian's chromium and chromium-driver (`just browser` does)"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Killed(child);
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (driver, port);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on port {port} within 15 s");
}

async fn browser(port: u16) -> Client {
    let options = json!({
        "binary": CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1000"],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("cannot start a Chromium session through chromedriver")
}

/// Wait (up to 30 s: a bound for a broken test, not a timing assertion) for an element.
async fn find(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("`{css}` did not appear: {e}"))
}

/// Wait until the text of `css` contains `wanted`; the text.
async fn text_containing(client: &Client, css: &str, wanted: &str) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            last = element.text().await.unwrap_or_default();
            if last.contains(wanted) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("`{css}` never contained `{wanted}`; last: {last}");
}

/// Click `css` once it appears; a live view may redraw it between finding and clicking, so
/// a stale element is found again (the bound only stops a broken test).
async fn click(client: &Client, css: &str) {
    for _ in 0..50 {
        match find(client, css).await.click().await {
            Ok(()) => return,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference => {}
            Err(e) => panic!("cannot click `{css}`: {e}"),
        }
    }
    panic!("`{css}` went stale 50 times in a row");
}

async fn screenshot(client: &Client, name: &str) {
    let dir: PathBuf = root().join("target/ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn tab(client: &Client, view: &str) {
    client.find(Locator::Css(&format!("#tabs button[data-view='{view}']"))).await.unwrap().click().await.unwrap();
}

async fn compose(client: &Client, receivers: &str, content: &str, protocol: &str) {
    tab(client, "composer").await;
    for (id, value) in
        [("#compose-receivers", receivers), ("#compose-content", content), ("#compose-protocol", protocol)]
    {
        let field = find(client, id).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }
    client.find(Locator::Css("#compose-send")).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_signs_in_shows_the_society_and_sniffs_a_conversation() {
    let api = Api::start_with(&["--deployment", "policies/demo.toml"]);
    let schedule = json!({ "performative": "request", "receiver": "ticker",
                           "content": { "action": "schedule", "delay_ms": 1 } });
    assert_eq!(api.admin("POST", "/v1/messages?wait_ms=10000", &schedule).0, 200);
    let (_driver, port) = chromedriver();
    let client = browser(port).await;
    // the server's root sends a browser on to the dashboard
    client.goto(&format!("http://{}/", api.addr)).await.unwrap();
    assert!(client.current_url().await.unwrap().as_str().ends_with("/ui"));

    // the API answers 401, so the page asks for the token once
    find(&client, "#login[open] #token").await.send_keys(TOKEN).await.unwrap();
    client.find(Locator::Css("#login-button")).await.unwrap().click().await.unwrap();
    for agent in ["text-processor", "counter", "ticker"] {
        find(&client, &format!("#agents-table tr[data-agent='{agent}']")).await;
    }
    find(&client, "#chart-rate .uplot").await;
    let url = client.current_url().await.unwrap();
    assert!(!url.as_str().contains(TOKEN), "the token is never in a URL: {url}");
    let kept = client.execute("return sessionStorage.getItem('caxton-token')", vec![]).await.unwrap();
    assert_eq!(kept, Value::String(TOKEN.into()));
    screenshot(&client, "agents").await;

    // the composer sends a request and shows the reply; the sniffer draws both messages
    find(&client, "body[data-sniffing='ready']").await;
    let uppercase = r#"{"action":"process_data","data":{"operation":"uppercase","data":"hello dashboard"}}"#;
    compose(&client, "text-processor", uppercase, "fipa-request").await;
    text_containing(&client, "#compose-reply", "HELLO DASHBOARD").await;
    screenshot(&client, "composer").await;
    tab(&client, "sniffer").await;
    find(
        &client,
        "#sniffer-diagram .arrow[data-performative='request'][data-from='http-client'][data-to='text-processor']",
    )
    .await;
    click(
        &client,
        "#sniffer-diagram .arrow[data-performative='inform'][data-from='text-processor'][data-to='http-client']",
    )
    .await;
    text_containing(&client, "#sniffer-detail", "HELLO DASHBOARD").await;
    screenshot(&client, "sniffer").await;

    // a message to nobody is refused and kept as a dead letter, which opens in full
    compose(&client, "nobody", r#"{"note":"for nobody"}"#, "").await;
    text_containing(&client, "#compose-reply", "no-such-agent").await;
    tab(&client, "dead-letters").await;
    click(&client, "#dead-letters-table tr[data-dead-letter]").await;
    text_containing(&client, "#dead-letter-detail", "for nobody").await;
    screenshot(&client, "dead-letters").await;

    tab(&client, "conversations").await;
    click(&client, "#conversations-table tr[data-conversation]").await;
    text_containing(&client, "#conversation-detail", "fipa-request, done").await;
    screenshot(&client, "conversations").await;

    tab(&client, "logs").await;
    click(&client, "#logs-agent option[value='ticker']").await;
    text_containing(&client, "#logs-lines", "fired").await;
    screenshot(&client, "logs").await;
    client.close().await.unwrap();
}
