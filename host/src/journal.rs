//! The dead-letter journal: dead letters written to `DATA/platform.sqlite` so
//! `caxton dead-letters` still shows them after a restart.
//!
//! Recording never blocks the bus: letters go through a bounded queue to a
//! writer thread that stores them in batches and keeps only the newest
//! [`CAPACITY`]. Letters are diagnostics, so when the queue is full (a storm)
//! the surplus is counted in the log instead of slowing message delivery.

use crate::acl::json::{from_record, to_record};
use crate::bus::dead_letters::{DeadLetter, DeadLetterLog, Reason, CAPACITY};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// Letters that may wait for the writer.
const QUEUE: usize = 10_000;

/// Dead letters on disk.
pub struct DeadLetterJournal {
    queue: Mutex<mpsc::SyncSender<DeadLetter>>,
    path: PathBuf,
    queued: AtomicU64,
    written: Arc<AtomicU64>,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.busy_timeout(std::time::Duration::from_secs(10))?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS dead_letters (
            id INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, reason TEXT NOT NULL,
            receiver TEXT NOT NULL, detail TEXT NOT NULL, message TEXT NOT NULL
        );",
    )?;
    Ok(db)
}

impl DeadLetterJournal {
    /// Open (or create) the journal in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<DeadLetterJournal, String> {
        let path = data_dir.join("platform.sqlite");
        let db = open(&path).map_err(|e| format!("dead-letter journal `{}`: {e}", path.display()))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let written = Arc::new(AtomicU64::new(0));
        let progress = written.clone();
        std::thread::Builder::new()
            .name("caxton-dead-letters".into())
            .spawn(move || write_loop(db, rx, &progress))
            .map_err(|e| format!("cannot start the dead-letter writer: {e}"))?;
        Ok(DeadLetterJournal { queue: Mutex::new(tx), path, queued: AtomicU64::new(0), written })
    }

    /// Wait (up to `limit`) until every letter recorded so far is on disk.
    pub fn flush(&self, limit: std::time::Duration) {
        let started = std::time::Instant::now();
        while self.written.load(Ordering::Acquire) < self.queued.load(Ordering::Acquire) && started.elapsed() < limit {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
}

fn write_loop(mut db: Connection, letters: mpsc::Receiver<DeadLetter>, written: &AtomicU64) {
    while let Ok(first) = letters.recv() {
        let mut batch = vec![first];
        while let Ok(next) = letters.try_recv() {
            batch.push(next);
        }
        let outcome = (|| -> rusqlite::Result<()> {
            let tx = db.transaction()?;
            for l in &batch {
                tx.execute(
                    "INSERT OR REPLACE INTO dead_letters (id, at_ms, reason, receiver, detail, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![l.id as i64, l.at_ms as i64, l.reason.as_str(), l.receiver, l.detail, to_record(&l.message).to_string()],
                )?;
            }
            tx.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?1",
                params![CAPACITY as i64],
            )?;
            tx.commit()
        })();
        if let Err(e) = outcome {
            tracing::warn!("{} dead letters not written to the journal: {e}", batch.len());
        }
        written.fetch_add(batch.len() as u64, Ordering::Release);
    }
}

impl DeadLetterLog for DeadLetterJournal {
    fn record(&self, letter: &DeadLetter) {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.try_send(letter.clone()).is_ok() {
            self.queued.fetch_add(1, Ordering::Release);
        } else {
            tracing::warn!(receiver = %letter.receiver, "dead-letter journal is behind; letter {} kept in memory only", letter.id);
        }
    }

    fn recent(&self, n: usize) -> Vec<DeadLetter> {
        let read = (|| -> rusqlite::Result<Vec<DeadLetter>> {
            let db = open(&self.path)?;
            let mut stmt = db.prepare(
                "SELECT id, at_ms, reason, receiver, detail, message FROM dead_letters ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![n as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            let mut letters: Vec<DeadLetter> = rows
                .filter_map(Result::ok)
                .filter_map(|(id, at_ms, reason, receiver, detail, message)| {
                    Some(DeadLetter {
                        id: id as u64,
                        at_ms: at_ms as u64,
                        reason: Reason::parse(&reason)?,
                        receiver,
                        detail,
                        message: from_record(&serde_json::from_str(&message).ok()?)?,
                    })
                })
                .collect();
            letters.reverse();
            Ok(letters)
        })();
        read.unwrap_or_else(|e| {
            tracing::warn!("cannot read the dead-letter journal: {e}");
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Message, Performative};
    use crate::bus::dead_letters::DeadLetters;

    #[test]
    fn dead_letters_come_back_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let m = Message::new(Performative::Request, vec!["gone".into()], "{}".into());
        {
            let journal = Arc::new(DeadLetterJournal::open(dir.path()).unwrap());
            let letters = DeadLetters::with_log(journal.clone());
            letters.push(Reason::NoSuchAgent, "gone", "no agent named `gone`".into(), m.clone());
            letters.push(Reason::HopLimit, "loop", "hop limit".into(), m.clone());
            journal.flush(std::time::Duration::from_secs(30));
        }
        let journal = DeadLetterJournal::open(dir.path()).unwrap();
        let kept = journal.recent(10);
        assert_eq!(kept.iter().map(|l| l.reason).collect::<Vec<_>>(), [Reason::NoSuchAgent, Reason::HopLimit]);
        assert_eq!(kept[0].message, m);
        let letters = DeadLetters::with_log(Arc::new(journal));
        letters.push(Reason::Removed, "x", "removed".into(), m);
        assert_eq!(letters.list().last().map(|l| l.id), Some(3), "numbering continues");
    }
}
