//! Where the state and its lock live: a file on this machine (`local`) or objects in the data
//! lake bucket (`aws`, `localstack`). The engine sees one [`Store`] either way.

use super::lock::{self, LockError, LockGuard, LockInfo};
use super::remote::{S3Lock, S3Store};
use super::state::{FileStore, State, StateError};

#[derive(Debug, Clone)]
pub enum Store {
    File(FileStore),
    S3(S3Store),
}

/// A held lock of either kind.
#[derive(Debug)]
pub enum Lock {
    File(LockGuard),
    S3(S3Lock),
}

impl Lock {
    pub fn info(&self) -> &LockInfo {
        match self {
            Lock::File(g) => g.info(),
            Lock::S3(l) => l.info(),
        }
    }

    /// Release the lock (a file lock is also released when dropped).
    pub async fn release(self) {
        match self {
            Lock::File(g) => drop(g),
            Lock::S3(l) => l.release().await,
        }
    }
}

impl Store {
    /// Where the state is, for messages.
    pub fn location(&self) -> String {
        match self {
            Store::File(f) => f.path.display().to_string(),
            Store::S3(s) => s.uri(&s.state_key()),
        }
    }

    pub async fn load(&self, stack: &str, env: &str) -> Result<Option<State>, StateError> {
        match self {
            Store::File(f) => f.load(stack, env),
            Store::S3(s) => s.load(stack, env).await,
        }
    }

    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        match self {
            Store::File(f) => f.save(state),
            Store::S3(s) => s.save(state).await,
        }
    }

    pub async fn remove(&self) -> Result<(), StateError> {
        match self {
            Store::File(f) => f.remove(),
            Store::S3(s) => s.remove().await,
        }
    }

    /// The lock's location, for messages.
    pub fn lock_location(&self) -> String {
        match self {
            Store::File(f) => f.path.with_extension("lock").display().to_string(),
            Store::S3(s) => s.uri(&s.lock_key()),
        }
    }

    pub async fn lock(&self, operation: &str) -> Result<Lock, LockError> {
        match self {
            Store::File(f) => {
                lock::acquire(&f.path.with_extension("lock"), operation).map(Lock::File)
            }
            Store::S3(s) => s.lock(operation).await.map(Lock::S3),
        }
    }

    pub async fn holder(&self) -> Result<Option<LockInfo>, LockError> {
        match self {
            Store::File(f) => {
                let p = f.path.with_extension("lock");
                lock::read(&p).map_err(|e| LockError::Io(p, e))
            }
            Store::S3(s) => s.holder().await,
        }
    }

    pub async fn force_unlock(&self) -> Result<Option<LockInfo>, LockError> {
        match self {
            Store::File(f) => {
                let p = f.path.with_extension("lock");
                lock::force_unlock(&p).map_err(|e| LockError::Io(p, e))
            }
            Store::S3(s) => s.force_unlock().await,
        }
    }
}
