//! The cluster section of `just bench`: two hosts in one process joined
//! through a real `nats-server`, next to raw async-nats moving the same
//! payloads through the same server in the same run.

use super::common::{median, percentile, table, Row};
use super::{hop, probe_spec, BENCH_CLIENT, POOL};
use caxton::cluster::{Cluster, ClusterConfig, NatsAuth};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::memory::MemoryStore;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECTION: &str = "## Cluster";
/// Rounds, alternating the arms.
const ROUNDS: usize = 3;
/// Relays timed one at a time per round.
const CHAINS: usize = 60;
/// Relays each pair runs per round in the throughput row.
const PAIR_ROUNDS: usize = 2;

/// A `nats-server` on a free loopback port, killed on drop.
struct NatsServer {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl NatsServer {
    fn start() -> NatsServer {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server is missing: `just nats-server` installs it");
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        NatsServer { child, url: format!("nats://127.0.0.1:{port}"), _dir: dir }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A runtime joined to the cluster on `url` as `host`.
async fn host(url: &str, host: &str) -> (Runtime, Arc<Cluster>) {
    let rt = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let config = ClusterConfig {
        url: url.to_string(),
        host: host.to_string(),
        name: "bench".into(),
        auth: NatsAuth::None,
        key: vec![42; 32],
    };
    let cluster = Cluster::join(config, rt.bus()).await.unwrap();
    (rt, cluster)
}

/// The relayed content of hop `n`, padded like the agents' (see [`hop::pad`]).
fn payload(n: u64) -> bytes::Bytes {
    format!("relay {n} {} {BENCH_CLIENT} {}", hop::HOPS, hop::pad()).into()
}

/// Returns once the NATS server has read everything `client` sent before, its
/// subscriptions included (`flush` only writes them to the socket): a request to
/// an inbox nobody listens on comes back as "no responders" once the server got to it.
async fn settled(client: &async_nats::Client) {
    match client.request(client.new_inbox(), bytes::Bytes::new()).await {
        Err(e) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        other => panic!("a request to a fresh inbox should find no responders, got {other:?}"),
    }
}

/// Microseconds per request of `chains` runs of [`hop::HOPS`] sequential raw
/// NATS requests of a relayed message's size, answered by an echoing subscriber.
async fn raw_request_reply(url: &str, chains: usize) -> Vec<f64> {
    let (requester, responder) = (async_nats::connect(url).await.unwrap(), async_nats::connect(url).await.unwrap());
    let mut echo = responder.subscribe("peer.echo").await.unwrap();
    settled(&responder).await;
    let answering = tokio::spawn(async move {
        while let Some(msg) = echo.next().await {
            if let Some(reply) = msg.reply {
                responder.publish(reply, msg.payload).await.unwrap();
            }
        }
    });
    requester.flush().await.unwrap();
    let mut per_hop = Vec::with_capacity(chains);
    for _ in 0..chains {
        let started = Instant::now();
        for n in 0..hop::HOPS {
            requester.request("peer.echo", payload(n)).await.unwrap();
        }
        per_hop.push(started.elapsed().as_secs_f64() * 1e6 / hop::HOPS as f64);
    }
    answering.abort();
    per_hop
}

/// Messages per second of `pairs` raw publish/subscribe pairs, one side on
/// each of two connections, each pair passing a message back and forth like
/// a relay, `rounds` relays per pair (counted like the platform's relays).
async fn raw_pubsub_throughput(url: &str, pairs: usize, rounds: usize) -> f64 {
    let sides = [async_nats::connect(url).await.unwrap(), async_nats::connect(url).await.unwrap()];
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut tasks = Vec::new();
    for pair in 0..pairs {
        for (side, client) in sides.iter().enumerate() {
            let client = client.clone();
            let mut inbox = client.subscribe(format!("pp.{side}.{pair}")).await.unwrap();
            let (other, done) = (format!("pp.{}.{pair}", 1 - side), done.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(msg) = inbox.next().await {
                    let n: u64 = std::str::from_utf8(&msg.payload)
                        .ok()
                        .and_then(|t| t.split(' ').nth(1))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    if n >= hop::HOPS {
                        let _ = done.send(pair);
                    } else {
                        client.publish(other.clone(), payload(n + 1)).await.unwrap();
                    }
                }
            }));
        }
    }
    for side in &sides {
        settled(side).await;
    }
    let started = Instant::now();
    for pair in 0..pairs {
        sides[0].publish(format!("pp.1.{pair}"), payload(1)).await.unwrap();
    }
    let mut left = vec![rounds; pairs];
    let mut outstanding = pairs;
    while outstanding > 0 {
        let pair = finished.recv().await.unwrap();
        left[pair] -= 1;
        if left[pair] == 0 {
            outstanding -= 1;
        } else {
            sides[0].publish(format!("pp.1.{pair}"), payload(1)).await.unwrap();
        }
    }
    let rate = (pairs * rounds) as f64 * (hop::HOPS + 2) as f64 / started.elapsed().as_secs_f64();
    tasks.into_iter().for_each(|t| t.abort());
    rate
}

/// Wait until host `rt` sees `agent` (on any host).
async fn sees(rt: &Runtime, agent: &str) {
    while !rt.bus().is_agent_anywhere(agent) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run the cluster rows; with `write`, write their section to BENCHMARKS.md.
pub fn run(tokio: &tokio::runtime::Runtime, write: bool) {
    let nats = NatsServer::start();
    let bytes = hop::probe_bytes();
    let alone = Runtime::new(RuntimeConfig { pool: POOL, ..RuntimeConfig::new(Arc::new(MemoryStore::new())) }).unwrap();
    let ((a, _ca), (b, _cb)) = tokio.block_on(async { (host(&nats.url, "a").await, host(&nats.url, "b").await) });
    let (mut client_a, mut client_alone) = (hop::client(&a, 2 * super::PAIRS), hop::client(&alone, 16));
    println!("cluster: deploying {} agents on two hosts…", 2 * super::PAIRS + 4);
    tokio.block_on(async {
        for name in ["near-a", "near-b"] {
            a.deploy_bytes(probe_spec(name), bytes.clone()).await.unwrap();
            alone.deploy_bytes(probe_spec(name), bytes.clone()).await.unwrap();
        }
        a.deploy_bytes(probe_spec("hop-a"), bytes.clone()).await.unwrap();
        b.deploy_bytes(probe_spec("hop-b"), bytes.clone()).await.unwrap();
        for i in 0..super::PAIRS {
            a.deploy_bytes(probe_spec(&format!("tp-a-{i}")), bytes.clone()).await.unwrap();
            b.deploy_bytes(probe_spec(&format!("tp-b-{i}")), bytes.clone()).await.unwrap();
        }
        sees(&a, &format!("tp-b-{}", super::PAIRS - 1)).await;
        sees(&b, BENCH_CLIENT).await;
    });
    let (mut cross, mut raw_rr, mut tp, mut raw_tp, mut near_on, mut near_off) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        println!("cluster round {} of {ROUNDS}…", round + 1);
        tokio.block_on(async {
            cross.extend(hop::platform_hops_between(&a, &mut client_a, ("hop-a", "hop-b"), CHAINS).await);
            raw_rr.extend(raw_request_reply(&nats.url, CHAINS).await);
            near_on.extend(hop::platform_hops_between(&a, &mut client_a, ("near-a", "near-b"), super::CHAINS).await);
            near_off.extend(
                hop::platform_hops_between(&alone, &mut client_alone, ("near-a", "near-b"), super::CHAINS).await,
            );
            tp.push(hop::platform_throughput(&a, &mut client_a, super::PAIRS, PAIR_ROUNDS).await);
            raw_tp.push(raw_pubsub_throughput(&nats.url, super::PAIRS, PAIR_ROUNDS).await);
        });
    }
    let rows = [
        Row {
            what: "cross-host hop (agent on A → agent on B), p50",
            ours: percentile(cross.clone(), 50.0),
            peer_name: "raw async-nats request-reply, same payload, p50",
            peer: percentile(raw_rr.clone(), 50.0),
            unit: "µs",
        },
        Row {
            what: "cross-host hop, p99",
            ours: percentile(cross, 99.0),
            peer_name: "raw async-nats request-reply, p99",
            peer: percentile(raw_rr, 99.0),
            unit: "µs",
        },
        Row {
            what: "cross-host throughput, 1,000 agents in pairs over 2 hosts",
            ours: median(tp),
            peer_name: "raw async-nats publish/subscribe pairs, same messages",
            peer: median(raw_tp),
            unit: "msg/s",
        },
        Row {
            what: "in-process hop on a clustered host, p50",
            ours: percentile(near_on, 50.0),
            peer_name: "same hop on a host without --cluster, p50",
            peer: percentile(near_off, 50.0),
            unit: "µs",
        },
    ];
    let mut section = format!("{SECTION}\n\n{}", table(&rows, 1));
    section.push_str(&format!(
        "\nMethod. Two hosts (`Runtime` joined with `Cluster::join`) in one process, one `nats-server` \
         (Debian's, JetStream on) on loopback, all on this machine's 2 cores. **Cross-host hop**: `bus-probe` \
         `hop-a` on host A relays with `hop-b` on host B, {hops} hops per relay, each hop a delivery in a \
         signed envelope on NATS (postcard; deliveries queued for one host meanwhile share one), sent at once on \
         the credit host B granted (mailbox slots it reserved for A); {chains} relays per round. The peer: {hops} sequential \
         `Client::request`s of the relayed message's size to an echoing subscriber through the same server \
         (goal: p50 ≤ 1.3×). **Throughput**: {pairs} pairs, `tp-a-N` on A and `tp-b-N` on B, {pair_rounds} \
         relays each per round, all at once; the peer runs as many publish/subscribe pairs over two \
         connections passing the same messages back and forth (goal ≥ 0.5×). **In-process hop**: two \
         agents on host A relay locally, next to the same agents on a runtime that joined no cluster \
         (goal: within 5%). {ROUNDS} alternating rounds; percentiles over all rounds' samples.\n",
        hops = hop::HOPS,
        chains = CHAINS,
        pairs = super::PAIRS,
        pair_rounds = PAIR_ROUNDS,
    ));
    if write {
        super::common::write_section(SECTION, &section);
    }
}
