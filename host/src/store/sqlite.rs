//! The durable [`KvBackend`]: SQLite in WAL mode with `synchronous=FULL`.
//!
//! One writer thread owns the write connection. Writers hand it their [`Op`]s
//! and block until the transaction holding them has committed, which in WAL
//! mode with `synchronous=FULL` means the WAL was synced: a write is reported
//! only once it is durable. The writer takes every request waiting when it
//! starts a transaction (up to [`MAX_BATCH`]), so concurrent writers share one
//! sync (group commit). Reads go to a small pool of read-only connections and
//! see only committed data.

use super::{decide, usage_after, Change, KvBackend, Op, Outcome, Quota, StoreError, Usage};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

/// Most writes committed in one transaction.
pub const MAX_BATCH: usize = 512;

struct WriteRequest {
    namespace: String,
    key: String,
    op: Op,
    quota: Quota,
    reply: mpsc::SyncSender<Result<Outcome, StoreError>>,
}

/// What the writer thread is asked to do.
enum Job {
    /// One write, committed with the others waiting beside it.
    Write(WriteRequest),
    /// Delete an owner's namespaces, in a transaction of its own.
    Clear { owner: String, reply: mpsc::SyncSender<Result<u64, StoreError>> },
}

/// Quota usage of the namespaces in use. Computed from the data the first
/// time the writer needs a namespace's (so it is always consistent with it),
/// changed only by the writer after a commit (a write touches one page of the
/// database, not two), and forgotten when its owner leaves memory
/// ([`KvBackend::release`]): a million virtual agents' namespaces cost nothing here while passivated.
type UsageMap = Arc<Mutex<HashMap<Vec<u8>, Usage>>>;

/// The kv-store in a SQLite database file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    usage: UsageMap,
}

/// What `namespace` uses, from the data.
fn usage_of(conn: &Connection, namespace: &[u8]) -> rusqlite::Result<Usage> {
    conn.prepare_cached("SELECT COALESCE(SUM(length(key) + length(value)), 0), COUNT(*) FROM kv WHERE ns = ?1")?
        .query_row(params![namespace], |r| {
            Ok(Usage { bytes: r.get::<_, i64>(0)? as u64, keys: r.get::<_, i64>(1)? as u64 })
        })
}

fn io(e: rusqlite::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS kv (
        ns BLOB NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY (ns, key)
    ) WITHOUT ROWID;
";

impl SqliteStore {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with_page_limit(path, None)
    }

    /// Open the store with at most `max_pages` database pages: writes past it
    /// fail as a full disk would (used to test that a failed write is never acknowledged).
    pub fn open_with_page_limit(path: &Path, max_pages: Option<u64>) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Io(format!("cannot create `{}`: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(io)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(io)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(io)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(io)?;
        conn.execute_batch(SCHEMA).map_err(io)?;
        if let Some(pages) = max_pages {
            conn.pragma_update(None, "max_page_count", pages).map_err(io)?;
        }
        let usage: UsageMap = Arc::new(Mutex::new(HashMap::new()));
        let (tx, rx) = mpsc::channel();
        let writer_usage = usage.clone();
        std::thread::Builder::new()
            .name("caxton-kv-writer".into())
            .spawn(move || write_loop(conn, rx, &writer_usage))
            .map_err(|e| StoreError::Io(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore { path: path.to_path_buf(), writer: Mutex::new(tx), readers: Mutex::new(Vec::new()), usage })
    }

    /// Run `f` on a pooled read-only connection.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R, StoreError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(&self.path, flags).map_err(io)?;
                conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(io)?;
                conn
            }
        };
        let result = f(&conn).map_err(io);
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if readers.len() < 16 {
            readers.push(conn);
        }
        result
    }
}

fn write_loop(mut conn: Connection, jobs: mpsc::Receiver<Job>, usage: &UsageMap) {
    let mut held = None;
    while let Some(job) = held.take().or_else(|| jobs.recv().ok()) {
        let first = match job {
            Job::Write(request) => request,
            Job::Clear { owner, reply } => {
                let _ = reply.send(clear(&mut conn, &owner, usage));
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Job::Write(next)) => batch.push(next),
                Ok(clear) => {
                    held = Some(clear); // after this batch, in order
                    break;
                }
                Err(_) => break,
            }
        }
        let results = commit(&mut conn, &batch, usage);
        for (request, result) in batch.into_iter().zip(results) {
            let _ = request.reply.send(result);
        }
    }
}

/// Delete `owner`'s namespaces in one transaction and forget their usage.
fn clear(conn: &mut Connection, owner: &str, usage: &UsageMap) -> Result<u64, StoreError> {
    // the owner's buckets are the namespaces from `owner` + U+0001 up to (not including) `owner` + U+0002
    let (from, to) = (format!("{owner}\u{1}"), format!("{owner}\u{2}"));
    let deleted = conn
        .execute(
            "DELETE FROM kv WHERE ns = ?1 OR (ns >= ?2 AND ns < ?3)",
            params![owner.as_bytes(), from.as_bytes(), to.as_bytes()],
        )
        .map_err(io)?;
    usage
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|ns, _| !std::str::from_utf8(ns).is_ok_and(|ns| super::owned_by(ns, owner)));
    Ok(deleted as u64)
}

/// Apply a batch in one transaction. Refusals (quota, not a number) affect only
/// their own request; a storage error fails the whole batch, and nothing of it is written.
fn commit(conn: &mut Connection, batch: &[WriteRequest], usage: &UsageMap) -> Vec<Result<Outcome, StoreError>> {
    // usage changes of this batch, applied to the shared map only if it commits
    let mut changed: HashMap<Vec<u8>, Usage> = HashMap::new();
    let attempt = (|| -> rusqlite::Result<Vec<Result<Outcome, StoreError>>> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut results = Vec::with_capacity(batch.len());
        for r in batch {
            let ns = r.namespace.as_bytes();
            let known = changed.get(ns).copied();
            let known = known.or_else(|| usage.lock().unwrap_or_else(|p| p.into_inner()).get(ns).copied());
            let before = match known {
                Some(u) => u,
                None => usage_of(&tx, ns)?,
            };
            let (result, after) = apply_one(&tx, r, before)?;
            changed.insert(ns.to_vec(), after);
            results.push(result);
        }
        tx.commit()?;
        Ok(results)
    })();
    match attempt {
        Ok(results) => {
            usage.lock().unwrap_or_else(|p| p.into_inner()).extend(changed);
            results
        }
        Err(e) => {
            tracing::error!("kv-store write failed, {} writes not made: {e}", batch.len());
            let message = e.to_string();
            batch.iter().map(|_| Err(StoreError::Io(message.clone()))).collect()
        }
    }
}

/// One request inside the batch's transaction, given its namespace's usage;
/// returns the outcome and the usage after it. The outer `Err` is a storage
/// failure (abort the batch); the inner one a refusal of this request alone.
fn apply_one(
    tx: &rusqlite::Transaction<'_>,
    r: &WriteRequest,
    usage: Usage,
) -> rusqlite::Result<(Result<Outcome, StoreError>, Usage)> {
    let current: Option<Vec<u8>> = tx
        .prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")?
        .query_row(params![r.namespace.as_bytes(), r.key.as_bytes()], |row| row.get(0))
        .optional()?;
    let (change, outcome) = match decide(current.as_deref(), r.op.clone()) {
        Ok(decided) => decided,
        Err(refused) => return Ok((Err(refused), usage)),
    };
    let after = match usage_after(usage, &r.key, current.as_deref(), &change, r.quota) {
        Ok(after) => after,
        Err(refused) => return Ok((Err(refused), usage)),
    };
    match change {
        Change::Keep => return Ok((Ok(outcome), usage)),
        Change::Put(value) => {
            tx.prepare_cached("INSERT INTO kv (ns, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value")?
                .execute(params![r.namespace.as_bytes(), r.key.as_bytes(), value])?;
        }
        Change::Delete => {
            tx.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2")?
                .execute(params![r.namespace.as_bytes(), r.key.as_bytes()])?;
        }
    }
    Ok((Ok(outcome), after))
}

impl KvBackend for SqliteStore {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|c| {
            c.prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")?
                .query_row(params![namespace.as_bytes(), key.as_bytes()], |row| row.get(0))
                .optional()
        })
    }

    fn apply(&self, namespace: &str, key: &str, op: Op, quota: Quota) -> Result<Outcome, StoreError> {
        let (reply, outcome) = mpsc::sync_channel(1);
        let request = WriteRequest { namespace: namespace.to_string(), key: key.to_string(), op, quota, reply };
        self.writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(Job::Write(request))
            .map_err(|_| StoreError::Io("the kv-store writer has stopped".into()))?;
        crate::blocking::wait(|| outcome.recv())
            .map_err(|_| StoreError::Io("the kv-store writer has stopped".into()))?
    }

    fn list(
        &self,
        namespace: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let start = match after {
            Some(a) if a >= prefix => a,
            _ => "",
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key FROM kv WHERE ns = ?1 AND key > ?2 AND substr(key, 1, length(?3)) = ?3 AND key >= ?3
                 ORDER BY key LIMIT ?4",
            )?;
            let keys = stmt
                .query_map(params![namespace.as_bytes(), start.as_bytes(), prefix.as_bytes(), limit], |row| {
                    row.get::<_, Vec<u8>>(0)
                })?;
            keys.map(|k| k.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())).collect()
        })
    }

    fn usage(&self, namespace: &str) -> Result<Usage, StoreError> {
        let known = self.usage.lock().unwrap_or_else(|p| p.into_inner()).get(namespace.as_bytes()).copied();
        match known {
            Some(usage) => Ok(usage),
            None => self.read(|c| usage_of(c, namespace.as_bytes())),
        }
    }

    fn release(&self, owner: &str) {
        let mut usage = self.usage.lock().unwrap_or_else(|p| p.into_inner());
        usage.retain(|ns, _| !std::str::from_utf8(ns).is_ok_and(|ns| super::owned_by(ns, owner)));
    }

    fn clear(&self, owner: &str) -> Result<u64, StoreError> {
        let stopped = || StoreError::Io("the kv-store writer has stopped".into());
        let (reply, outcome) = mpsc::sync_channel(1);
        let job = Job::Clear { owner: owner.to_string(), reply };
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).send(job).map_err(|_| stopped())?;
        crate::blocking::wait(|| outcome.recv()).map_err(|_| stopped())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;

    #[test]
    fn sqlite_store_meets_the_backend_contract() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run(&SqliteStore::open(&dir.path().join("kv.sqlite")).unwrap());
    }

    #[test]
    fn agents_with_colliding_looking_names_never_share_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("kv.sqlite")).unwrap();
        conformance::namespaces_are_injective(&store, 0xfeed, 500);
    }

    #[test]
    fn writes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite");
        let q = Quota { bytes: 1 << 20, keys: 100 };
        {
            let s = SqliteStore::open(&path).unwrap();
            s.apply("a", "k", Op::Put(b"v".to_vec()), q).unwrap();
            s.apply("a", "n", Op::Increment(41), q).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.get("a", "k").unwrap(), Some(b"v".to_vec()));
        assert_eq!(s.apply("a", "n", Op::Increment(1), q).unwrap(), Outcome::Counter(42));
        assert_eq!(s.usage("a").unwrap().keys, 2);
    }

    #[test]
    fn a_released_owners_usage_is_read_again_from_the_data_and_its_quota_still_holds() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join("kv.sqlite")).unwrap();
        let q = Quota { bytes: 1 << 20, keys: 2 };
        s.apply("account/alice", "a", Op::Put(b"1".to_vec()), q).unwrap();
        s.apply(&crate::store::bucket_namespace("account/alice", "b"), "x", Op::Put(b"2".to_vec()), q).unwrap();
        s.apply("account/alicia", "a", Op::Put(b"3".to_vec()), q).unwrap();
        s.release("account/alice");
        assert_eq!(s.usage.lock().unwrap().len(), 1, "only the other owner's usage is kept");
        assert_eq!(s.usage("account/alice").unwrap(), Usage { bytes: 2, keys: 1 });
        s.apply("account/alice", "b", Op::Put(b"4".to_vec()), q).unwrap();
        assert!(matches!(s.apply("account/alice", "c", Op::Put(b"5".to_vec()), q), Err(StoreError::QuotaExceeded(_))));
        assert_eq!(s.usage("account/alice").unwrap().keys, 2);
    }

    #[test]
    fn a_full_disk_fails_the_write_and_acknowledges_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open_with_page_limit(&dir.path().join("kv.sqlite"), Some(8)).unwrap();
        let q = Quota { bytes: u64::MAX, keys: u64::MAX };
        let mut acked = Vec::new();
        let mut failed = None;
        for i in 0..1000 {
            match s.apply("a", &format!("k{i}"), Op::Put(vec![7; 1024]), q) {
                Ok(_) => acked.push(i),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        assert!(matches!(failed, Some(StoreError::Io(ref m)) if m.contains("full")), "{failed:?}");
        for i in &acked {
            assert_eq!(s.get("a", &format!("k{i}")).unwrap(), Some(vec![7; 1024]), "acked write {i} is there");
        }
        assert_eq!(s.get("a", &format!("k{}", acked.len())).unwrap(), None, "the failed write is not");
    }

    #[test]
    fn concurrent_writers_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let s = std::sync::Arc::new(SqliteStore::open(&dir.path().join("kv.sqlite")).unwrap());
        let q = Quota { bytes: u64::MAX, keys: u64::MAX };
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        s.apply("shared", "counter", Op::Increment(1), q).unwrap();
                        s.apply(&format!("w{t}"), "n", Op::Increment(1), q).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.get("shared", "counter").unwrap(), Some(200i64.to_le_bytes().to_vec()));
    }
}
