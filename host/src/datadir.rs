//! The data directory's owner: one `caxton serve` at a time.
//!
//! Two servers on one directory would each enforce kv quotas and write the
//! registry as if alone. The server takes an exclusive OS file lock on
//! `DATA/caxton.lock` (`flock` through the standard library's
//! [`std::fs::File::try_lock`]) before opening anything else and holds it
//! while it runs; the OS releases it when the process ends in any way,
//! `kill -9` included. The file holds the holder's process id, so a refusal
//! can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "caxton.lock";

/// Why the data directory cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Another process holds the lock.
    #[error("the data directory `{dir}` is in use by another Caxton server ({holder}); stop it or start this one with another --data")]
    InUse {
        /// The directory.
        dir: PathBuf,
        /// Who holds it, as the lock file says (`process 1234`).
        holder: String,
    },
    /// The lock file cannot be created, read or locked.
    #[error("cannot lock the data directory `{dir}` (`{file}`)")]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The lock file.
        file: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// The held lock on a data directory; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Lock `dir` (which must exist) for this process, or say who holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, DataDirError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| DataDirError::Io { dir: dir.to_path_buf(), file: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not written its id yet".to_string(),
                    pid => format!("process {pid}"),
                };
                return Err(DataDirError::InUse { dir: dir.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).and_then(|()| file.flush()).map_err(io)?;
        Ok(DataDirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        let sentence = err.to_string();
        assert!(matches!(err, DataDirError::InUse { .. }), "{sentence}");
        assert!(sentence.contains(&dir.path().display().to_string()), "{sentence}");
        assert!(sentence.contains(&format!("process {}", std::process::id())), "{sentence}");
        drop(first);
        assert!(DataDirLock::acquire(dir.path()).is_ok(), "free again once released");
    }
}
