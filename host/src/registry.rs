//! The durable record of what is deployed, so a restarted host brings the same
//! agents back: each agent's deployment-file text and its component, stored
//! content-addressed under `DATA/components/`.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("deployment registry `{path}`: {message}")]
pub struct RegistryError {
    path: PathBuf,
    message: String,
}

/// One remembered agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The agent's name.
    pub name: String,
    /// The deployment file it came from (for error messages and relative paths).
    pub policy_path: PathBuf,
    /// That file's text, as deployed.
    pub policy_text: String,
    /// SHA-256 of the component, hex.
    pub component_sha: String,
}

/// A component being received: a temporary file, removed on drop unless
/// [`Registry::finish_upload`] stored it.
pub struct Upload {
    file: Option<std::fs::File>,
    path: PathBuf,
    hasher: Sha256,
    len: u64,
}

impl Upload {
    /// Append `chunk`.
    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let file = self.file.as_mut().ok_or_else(|| std::io::Error::other("the upload is finished"))?;
        file.write_all(chunk)?;
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The temporary file, to read what was received.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Deployed agents, in `DATA/platform.sqlite` and `DATA/components/`.
pub struct Registry {
    db: Mutex<Connection>,
    path: PathBuf,
    components: PathBuf,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Registry {
    /// Open (or create) the registry in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Registry, RegistryError> {
        let path = data_dir.join("platform.sqlite");
        let err = |message: String| RegistryError { path: path.clone(), message };
        let components = data_dir.join("components");
        std::fs::create_dir_all(&components).map_err(|e| err(e.to_string()))?;
        let db = Connection::open(&path).map_err(|e| err(e.to_string()))?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(e.to_string()))?;
        db.pragma_update(None, "synchronous", "FULL").map_err(|e| err(e.to_string()))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS agents (
                name TEXT PRIMARY KEY, policy_path TEXT NOT NULL, policy_text TEXT NOT NULL,
                component_sha TEXT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS timers (
                agent TEXT NOT NULL, id INTEGER NOT NULL, due_ms INTEGER NOT NULL,
                PRIMARY KEY (agent, id)
            ) WITHOUT ROWID;",
        )
        .map_err(|e| err(e.to_string()))?;
        Ok(Registry { db: Mutex::new(db), path, components })
    }

    fn err(&self, message: impl ToString) -> RegistryError {
        RegistryError { path: self.path.clone(), message: message.to_string() }
    }

    /// Store a component's bytes (durably, by content); returns its SHA-256 in hex.
    pub fn store_component(&self, component: &[u8]) -> Result<String, RegistryError> {
        let sha = hex(&Sha256::digest(component));
        let file = self.components.join(format!("{sha}.wasm"));
        if !file.exists() {
            let tmp = file.with_extension(format!("tmp{}-{:?}", std::process::id(), std::thread::current().id()));
            std::fs::write(&tmp, component).map_err(|e| self.err(e))?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| self.err(e))?;
            std::fs::rename(&tmp, &file).map_err(|e| self.err(e))?;
        }
        Ok(sha)
    }

    /// Remove what no deployed agent needs from `DATA/components/`: uploads a
    /// crash cut short, and components uploaded but never deployed (or whose
    /// agents were removed). Run at start, before anything is uploaded; returns
    /// how many files went.
    pub fn collect_garbage(&self) -> Result<usize, RegistryError> {
        let kept: std::collections::HashSet<String> =
            self.list()?.into_iter().map(|r| format!("{}.wasm", r.component_sha)).collect();
        let entries = std::fs::read_dir(&self.components).map_err(|e| self.err(e))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = name.ends_with(".wasm") || (name.starts_with("upload-") && name.ends_with(".tmp"));
            if ours && !kept.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Start receiving a component in pieces: they go to a temporary file
    /// beside the stored components, never whole into memory.
    pub fn begin_upload(&self) -> Result<Upload, RegistryError> {
        let path = self.components.join(format!("upload-{}.tmp", crate::ids::fresh("part")));
        let file = std::fs::File::create(&path).map_err(|e| self.err(e))?;
        Ok(Upload { file: Some(file), path, hasher: Sha256::new(), len: 0 })
    }

    /// Store a received component under its SHA-256 (hex, returned), durably.
    pub fn finish_upload(&self, mut upload: Upload) -> Result<String, RegistryError> {
        let sha = hex(&upload.hasher.clone().finalize());
        let file = self.components.join(format!("{sha}.wasm"));
        if let Some(written) = upload.file.take() {
            written.sync_all().map_err(|e| self.err(e))?;
        }
        if !file.exists() {
            std::fs::rename(&upload.path, &file).map_err(|e| self.err(e))?;
        }
        Ok(sha)
    }

    /// Remember that `name` runs `component` under the deployment file `policy_text`.
    pub fn record(
        &self,
        name: &str,
        policy_path: &Path,
        policy_text: &str,
        component: &[u8],
    ) -> Result<(), RegistryError> {
        let sha = self.store_component(component)?;
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        db.execute(
            "INSERT INTO agents (name, policy_path, policy_text, component_sha) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET policy_path = excluded.policy_path,
                policy_text = excluded.policy_text, component_sha = excluded.component_sha",
            params![name, policy_path.to_string_lossy(), policy_text, sha],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forget that `name` is deployed; whether it was remembered. (Its pending
    /// timers are the runtime's to keep or disarm, see `Runtime::remove`.)
    pub fn forget(&self, name: &str) -> Result<bool, RegistryError> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let n = db.execute("DELETE FROM agents WHERE name = ?1", params![name]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every remembered agent, by name.
    pub fn list(&self) -> Result<Vec<Record>, RegistryError> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let mut stmt = db
            .prepare("SELECT name, policy_path, policy_text, component_sha FROM agents ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Record {
                    name: r.get(0)?,
                    policy_path: PathBuf::from(r.get::<_, String>(1)?),
                    policy_text: r.get(2)?,
                    component_sha: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Whether `name` is remembered.
    pub fn contains(&self, name: &str) -> Result<bool, RegistryError> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        db.query_row("SELECT 1 FROM agents WHERE name = ?1", params![name], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(|e| self.err(e))
    }

    /// The bytes of a stored component.
    pub fn component(&self, sha: &str) -> Result<Vec<u8>, RegistryError> {
        if !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.err(format!("`{sha}` is not a component digest")));
        }
        std::fs::read(self.components.join(format!("{sha}.wasm")))
            .map_err(|e| self.err(format!("component {sha}: {e}")))
    }
}

impl crate::capability::timers::TimerLog for Registry {
    fn armed(&self, agent: &str, id: u64, due_ms: u64) {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let done = db.execute(
            "INSERT OR REPLACE INTO timers (agent, id, due_ms) VALUES (?1, ?2, ?3)",
            params![agent, id as i64, due_ms as i64],
        );
        if let Err(e) = done {
            tracing::error!(agent, "timer {id} will not survive a restart: {e}");
        }
    }

    fn disarmed(&self, agent: &str, id: u64) {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = db.execute("DELETE FROM timers WHERE agent = ?1 AND id = ?2", params![agent, id as i64]) {
            tracing::error!(agent, "timer {id} may fire again after a restart: {e}");
        }
    }

    fn pending(&self, agent: &str) -> Vec<(u64, u64)> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let rows = db.prepare("SELECT id, due_ms FROM timers WHERE agent = ?1 ORDER BY due_ms").and_then(|mut stmt| {
            stmt.query_map(params![agent], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))?
                .collect::<Result<Vec<_>, _>>()
        });
        rows.unwrap_or_else(|e| {
            tracing::error!(agent, "cannot read pending timers: {e}");
            Vec::new()
        })
    }

    fn agents_pending(&self, prefix: &str) -> Vec<String> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let query = "SELECT DISTINCT agent FROM timers WHERE substr(agent, 1, length(?1)) = ?1 ORDER BY agent";
        let rows = db.prepare(query).and_then(|mut stmt| {
            stmt.query_map(params![prefix], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
        });
        rows.unwrap_or_else(|e| {
            tracing::error!(prefix, "cannot read which agents have timers pending: {e}");
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_agents_and_their_components_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let r = Registry::open(dir.path()).unwrap();
            r.record("a", Path::new("p.toml"), "text-a", b"\0asm-a").unwrap();
            r.record("b", Path::new("p.toml"), "text-b", b"\0asm-b").unwrap();
            r.record("a", Path::new("q.toml"), "text-a2", b"\0asm-a").unwrap();
            assert!(r.forget("b").unwrap());
            assert!(!r.forget("b").unwrap());
        }
        let r = Registry::open(dir.path()).unwrap();
        let list = r.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].policy_text, "text-a2");
        assert_eq!(r.component(&list[0].component_sha).unwrap(), b"\0asm-a");
        assert!(r.contains("a").unwrap() && !r.contains("b").unwrap());
        assert!(r.component("../../etc/passwd").is_err());
    }

    #[test]
    fn garbage_is_what_no_remembered_agent_runs() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path()).unwrap();
        r.record("a", Path::new("p.toml"), "text-a", b"\0asm-a").unwrap();
        let orphan = r.store_component(b"\0asm-never-deployed").unwrap();
        let mut cut_short = r.begin_upload().unwrap();
        cut_short.write(b"\0as").unwrap();
        std::mem::forget(cut_short); // as a crash would leave it
        assert_eq!(r.collect_garbage().unwrap(), 2);
        assert!(r.component(&orphan).is_err());
        let kept = r.list().unwrap();
        assert_eq!(r.component(&kept[0].component_sha).unwrap(), b"\0asm-a");
        assert_eq!(std::fs::read_dir(dir.path().join("components")).unwrap().count(), 1);
    }
}
