//! `just bench` (storage): durable kv commits per second through agents, next
//! to the raw fdatasync rate of the same disk; kv reads through the WIT
//! interface next to direct store reads. Every row is measured in the same run,
//! as the median of several alternating rounds, and written to BENCHMARKS.md.
#![allow(clippy::panic, clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use caxton::acl::{Message, Performative};
use caxton::policy::{AgentSpec, Grants, KvStoreGrant, Limits, MessagingGrant};
use caxton::runtime::{Runtime, RuntimeConfig};
use caxton::store::sqlite::SqliteStore;
use caxton::store::{KvBackend, Op, Quota};
use serde_json::{json, Value};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{median, root, table, Row};

const ROUNDS: usize = 3;

/// fsyncs per second: the same 4 KiB block rewritten in place and fdatasync'd,
/// in a loop, for `span` (in place, so no size change adds metadata to the sync).
fn fdatasync_rate(dir: &Path, span: Duration) -> f64 {
    let path = dir.join("fsync.bin");
    let Ok(mut file) = std::fs::OpenOptions::new().create(true).write(true).truncate(true).open(&path) else {
        return 0.0;
    };
    let block = [7u8; 4096];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < span {
        let written = file.seek(std::io::SeekFrom::Start(0)).and_then(|_| file.write_all(&block));
        if written.and_then(|()| file.sync_data()).is_err() {
            return 0.0;
        }
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn writer_spec(name: &str) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        component: root().join("components/bus_probe.wasm"),
        grants: Grants {
            messaging: Some(MessagingGrant::send_to_all()),
            kv_store: Some(KvStoreGrant { max_keys: 10_000_000, quota_bytes: 1 << 40, ..KvStoreGrant::default() }),
            timers: Some(caxton::policy::TimersGrant { max_active: 1 }),
            logging: None,
            filesystem: None,
        },
        limits: Limits {
            host_calls_per_message: 100_000_000,
            cpu_micros_per_message: 600_000_000,
            deadline_micros: 600_000_000,
            messages_per_second: 1_000_000,
            ..Limits::default()
        },
        policy: PathBuf::from("bench"),
    }
}

async fn ask(rt: &Runtime, to: &str, content: Value) -> Value {
    let bus = rt.bus();
    let mut msg = Message::new(Performative::Request, vec![to.into()], content.to_string());
    let waiter = bus.expect_reply("bench", &mut msg);
    if bus.send("bench", msg).is_err() {
        return Value::Null;
    }
    waiter.recv().await.and_then(|m| serde_json::from_str(&m.content).ok()).unwrap_or(Value::Null)
}

/// Durable commits per second with `writers` agents each storing `per_writer` keys.
async fn agent_commits(rt: &Arc<Runtime>, writers: usize, per_writer: u64, round: usize) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let rt = rt.clone();
            tokio::spawn(async move {
                let content = json!({ "action": "bench-put", "key": format!("r{round}"), "count": per_writer });
                ask(&rt, &format!("writer-{w}"), content).await
            })
        })
        .collect();
    let mut done = 0;
    for t in tasks {
        done += t.await.ok().and_then(|r| r["result"].as_u64()).unwrap_or(0);
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap_or_else(|e| panic!("{e}"));
    let rows = runtime.block_on(run());
    let mut md = String::from("## Storage\n\n");
    md.push_str(&table(&rows, 0));
    md.push_str(&format!("\nMethod ({ROUNDS} alternating rounds): commits go through real `bus-probe` agents calling `kv-store.set` (one SQLite\n"));
    md.push_str("write each, WAL with `synchronous=FULL`, acknowledged only after the commit); the peer is a\n");
    md.push_str("loop rewriting one 4 KiB block in place + `fdatasync`, on the same disk. Reads compare `kv-store.get` called by an\n");
    md.push_str("agent in a loop with `SqliteStore::get` called directly by the host.\n");
    common::write_section("## Storage", &md);
}

async fn run() -> Vec<Row> {
    let dir = root().join("target/bench-storage");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let store = match SqliteStore::open(&dir.join("kv.sqlite")) {
        Ok(s) => Arc::new(s),
        Err(e) => panic!("cannot open the store: {e}"),
    };
    let rt = Arc::new(Runtime::new(RuntimeConfig::new(store.clone())).unwrap_or_else(|e| panic!("{e}")));
    for w in 0..64 {
        rt.deploy(writer_spec(&format!("writer-{w}"))).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let quota = Quota { bytes: u64::MAX, keys: u64::MAX };
    let _ = store.apply("writer-0", "hot", Op::Put(b"value".to_vec()), quota);

    let (mut fsync, mut one, mut many, mut wit_get, mut direct_get) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        fsync.push(fdatasync_rate(&dir, Duration::from_secs(2)));
        one.push(agent_commits(&rt, 1, 200, round).await);
        many.push(agent_commits(&rt, 64, 50, round + 100).await);
        let started = Instant::now();
        let n = ask(&rt, "writer-0", json!({ "action": "bench-get", "key": "hot", "count": 100_000 })).await["result"]
            .as_u64()
            .unwrap_or(0);
        wit_get.push(n as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let found = (0..100_000).filter(|_| store.get("writer-0", "hot").ok().flatten().is_some()).count();
        direct_get.push(found as f64 / started.elapsed().as_secs_f64());
    }
    let fsync = median(fsync);
    vec![
        Row {
            what: "durable commits/s, 1 writer agent",
            ours: median(one),
            peer_name: "fdatasync/s, same disk",
            peer: fsync,
            unit: "/s",
        },
        Row {
            what: "durable commits/s, 64 writer agents",
            ours: median(many),
            peer_name: "fdatasync/s, same disk",
            peer: fsync,
            unit: "/s",
        },
        Row {
            what: "kv gets/s through the WIT interface",
            ours: median(wit_get),
            peer_name: "direct SqliteStore::get/s",
            peer: median(direct_get),
            unit: "/s",
        },
    ]
}
