//! The state lock: one `up`, `down` or `unlock` of a stack at a time.
//!
//! The lock is a file created with `O_EXCL` (create-new), so of two processes exactly one gets
//! it; the other fails at once and is told who holds the lock and since when. The remote form on
//! AWS is an object created with `If-None-Match: *`, the same idea.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    pub id: String,
    pub holder: String,
    pub host: String,
    pub pid: u32,
    pub operation: String,
    pub since: String,
}

impl LockInfo {
    pub fn new(operation: &str) -> Self {
        let mut id = [0u8; 8];
        let _ = getrandom::fill(&mut id);
        LockInfo {
            id: hex::encode(id),
            holder: crate::identity::current_user(),
            host: crate::identity::host_name(),
            pid: std::process::id(),
            operation: operation.to_string(),
            since: mlinfra_core::clock::now_rfc3339(),
        }
    }

    /// The holder of a lock whose content cannot be read.
    pub fn unknown() -> Self {
        LockInfo {
            id: String::new(),
            holder: "an unknown process".into(),
            host: "?".into(),
            pid: 0,
            operation: "?".into(),
            since: "an unknown time".into(),
        }
    }

    /// Whether the holding process is known to be gone (same host, no such process).
    pub fn is_stale(&self) -> bool {
        self.host == crate::identity::host_name()
            && cfg!(target_os = "linux")
            && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", held_message(.0, .1))]
    Held(PathBuf, Box<LockInfo>),
    #[error("cannot take the state lock `{0}`: {1}")]
    Io(PathBuf, std::io::Error),
}

fn held_message(path: &Path, info: &LockInfo) -> String {
    let stale = if info.is_stale() {
        format!(
            " (process {} is no longer running: the lock is stale)",
            info.pid
        )
    } else {
        String::new()
    };
    format!(
        "the state is locked by {} on {} (pid {}, `mlinfra {}`) since {}{stale}\n  lock: {}\nhint: wait for it to finish; if no mlinfra is running, break the lock with `mlinfra unlock`",
        info.holder,
        info.host,
        info.pid,
        info.operation,
        info.since,
        crate::stack::shown(path)
    )
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    info: LockInfo,
}

impl LockGuard {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Only remove the lock if it is still ours (`unlock` may have broken it).
        if read(&self.path)
            .ok()
            .flatten()
            .is_some_and(|i| i.id == self.info.id)
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Take the lock or report who holds it.
pub fn acquire(path: &Path, operation: &str) -> Result<LockGuard, LockError> {
    let info = LockInfo::new(operation);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LockError::Io(path.to_path_buf(), e))?;
    }
    let text = serde_json::to_string_pretty(&info)
        .map_err(|e| LockError::Io(path.to_path_buf(), e.into()))?;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut f) => {
            use std::io::Write as _;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| LockError::Io(path.to_path_buf(), e))?;
            Ok(LockGuard {
                path: path.to_path_buf(),
                info,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let holder = read(path).ok().flatten().unwrap_or_else(LockInfo::unknown);
            Err(LockError::Held(path.to_path_buf(), Box::new(holder)))
        }
        Err(e) => Err(LockError::Io(path.to_path_buf(), e)),
    }
}

/// Who holds the lock, if anyone.
pub fn read(path: &Path) -> std::io::Result<Option<LockInfo>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(serde_json::from_str(&t).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Break the lock. Returns who held it.
pub fn force_unlock(path: &Path) -> std::io::Result<Option<LockInfo>> {
    let info = read(path)?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(info.unwrap_or(LockInfo {
            id: String::new(),
            holder: "unknown".into(),
            host: "?".into(),
            pid: 0,
            operation: "?".into(),
            since: "?".into(),
        }))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_with_the_holder_and_drop_releases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.lock");
        let first = acquire(&p, "up").expect("first");
        let err = acquire(&p, "down").expect_err("second must fail");
        let msg = err.to_string();
        assert!(msg.contains("the state is locked by"), "{msg}");
        assert!(msg.contains("`mlinfra up`"), "{msg}");
        assert!(msg.contains(&first.info().since), "{msg}");
        drop(first);
        assert!(!p.exists());
        let _again = acquire(&p, "up").expect("free again");
    }

    #[test]
    fn a_broken_lock_is_not_removed_by_its_old_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("state.lock");
        let first = acquire(&p, "up").expect("first");
        assert!(force_unlock(&p).expect("unlock").is_some());
        let second = acquire(&p, "up").expect("second after unlock");
        drop(first);
        assert!(p.exists(), "the old holder removed the new holder's lock");
        drop(second);
        assert!(!p.exists());
    }
}
