//! Where the state and its lock live, behind one trait: [`StateBackend`]. The engine and the
//! commands see a [`Store`] whatever the environment; each provider hands its own backend over
//! (the local provider a file on this machine, [`FileStore`]; AWS objects in the data lake
//! bucket, `providers::aws::state`). A new cloud adds an implementation, not a match arm here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::lock::{self, LockError, LockGuard, LockInfo};
use super::state::{FileStore, State, StateError};

/// A boxed future, as a trait object's async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The state backend of the current environment.
pub type Store = Arc<dyn StateBackend>;

/// Where one stack's state on one environment is kept, and how it is locked.
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Where the state is, for messages.
    fn location(&self) -> String;
    /// Where the lock is, for messages.
    fn lock_location(&self) -> String;
    /// Whether the state lives on this machine (its directory is removed with the last
    /// resource).
    fn is_local(&self) -> bool;
    /// The managed resource that holds the state (the data lake bucket), which `up` creates
    /// before anything else when it does not exist; `None` when the state needs no resource.
    fn holder(&self) -> Option<StateHolder>;
    /// Whether what holds the state exists (always, for a backend without a holder).
    fn exists(&self) -> BoxFuture<'_, Result<bool, StateError>>;
    /// The recorded state, or `None` when nothing was ever applied.
    fn load<'a>(
        &'a self,
        stack: &'a str,
        env: &'a str,
    ) -> BoxFuture<'a, Result<Option<State>, StateError>>;
    fn save<'a>(&'a self, state: &'a mut State) -> BoxFuture<'a, Result<(), StateError>>;
    /// Delete the state (after everything it recorded was deleted).
    fn remove(&self) -> BoxFuture<'_, Result<(), StateError>>;
    /// Take the lock, or say who holds it.
    fn lock<'a>(&'a self, operation: &'a str) -> BoxFuture<'a, Result<Lock, LockError>>;
    /// Who holds the lock, if anyone.
    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>>;
    /// Break the lock; returns who held it.
    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>>;
}

/// The resource that holds a backend's state: its address in the graph and how to name it.
#[derive(Debug, Clone)]
pub struct StateHolder {
    pub addr: &'static str,
    /// For messages: "the data lake bucket `x`".
    pub description: String,
}

/// A held lock of any backend. Release it with [`Lock::release`]; the commands do so on every
/// path (a file lock is also released when dropped).
pub struct Lock(Box<dyn HeldLock>);

impl std::fmt::Debug for Lock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Lock").field(self.0.info()).finish()
    }
}

/// What a backend's held lock does.
pub trait HeldLock: Send {
    fn info(&self) -> &LockInfo;
    fn release(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl Lock {
    pub fn new(held: impl HeldLock + 'static) -> Self {
        Lock(Box::new(held))
    }

    pub fn info(&self) -> &LockInfo {
        self.0.info()
    }

    pub async fn release(self) {
        self.0.release().await
    }
}

impl HeldLock for LockGuard {
    fn info(&self) -> &LockInfo {
        LockGuard::info(self)
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        drop(self);
        Box::pin(async {})
    }
}

impl StateBackend for FileStore {
    fn location(&self) -> String {
        crate::stack::shown(&self.path)
    }

    fn lock_location(&self) -> String {
        crate::stack::shown(self.path.with_extension("lock"))
    }

    fn is_local(&self) -> bool {
        true
    }

    fn holder(&self) -> Option<StateHolder> {
        None
    }

    fn exists(&self) -> BoxFuture<'_, Result<bool, StateError>> {
        Box::pin(async { Ok(true) })
    }

    fn load<'a>(
        &'a self,
        stack: &'a str,
        env: &'a str,
    ) -> BoxFuture<'a, Result<Option<State>, StateError>> {
        Box::pin(async move { FileStore::load(self, stack, env) })
    }

    fn save<'a>(&'a self, state: &'a mut State) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(async move { FileStore::save(self, state) })
    }

    fn remove(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { FileStore::remove(self) })
    }

    fn lock<'a>(&'a self, operation: &'a str) -> BoxFuture<'a, Result<Lock, LockError>> {
        Box::pin(async move {
            lock::acquire(&self.path.with_extension("lock"), operation).map(Lock::new)
        })
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(async move {
            let p = self.path.with_extension("lock");
            lock::read(&p).map_err(|e| LockError::Io(p, e))
        })
    }

    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(async move {
            let p = self.path.with_extension("lock");
            lock::force_unlock(&p).map_err(|e| LockError::Io(p, e))
        })
    }
}
