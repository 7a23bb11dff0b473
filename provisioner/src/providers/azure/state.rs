//! Remote state for `azurite` (and `azure`): the state document and its lock live in the
//! stack's data lake container under `state/<env>/`.
//!
//! The lock is a blob lease: `state.lock` is created once, then each `up`/`down` takes an
//! infinite lease on it. The service grants a lease to exactly one caller (409
//! `LeaseAlreadyPresent` for the others), so of two `up`s one proceeds and the other is told who
//! holds it — the holder writes who it is into the blob under its lease. Release empties the
//! blob and releases the lease; `unlock` breaks the lease of a holder that was killed.
//!
//! Bootstrap order as on AWS: `up` creates the lake container first when it does not exist, then
//! takes the lock, then plans (and adopts the container).

use std::path::PathBuf;

use mlinfra_core::azure::blob::{BlobLake, Leased};
use mlinfra_core::lake::{Lake as _, LakeError};

use crate::engine::lock::{LockError, LockInfo};
use crate::engine::state::{State, StateError};
use crate::engine::store::{BoxFuture, HeldLock, Lock, StateBackend, StateHolder};

/// The state and lock blobs of one stack on one environment.
#[derive(Debug, Clone)]
pub struct BlobState {
    pub lake: BlobLake,
    pub env: String,
}

impl BlobState {
    pub fn new(lake: BlobLake, env: &str) -> Self {
        BlobState {
            lake,
            env: env.to_string(),
        }
    }

    pub fn state_key(&self) -> String {
        format!("state/{}/state.json", self.env)
    }

    pub fn lock_key(&self) -> String {
        format!("state/{}/state.lock", self.env)
    }

    fn remote(&self, what: &'static str, e: LakeError) -> StateError {
        StateError::Remote {
            uri: self.lake.uri(&self.state_key()),
            what,
            detail: e.message,
        }
    }

    fn lock_err(&self, e: LakeError) -> LockError {
        LockError::Io(
            PathBuf::from(self.lake.uri(&self.lock_key())),
            std::io::Error::other(e.message),
        )
    }

    async fn load_state(&self, stack: &str, env: &str) -> Result<Option<State>, StateError> {
        let key = self.state_key();
        match self
            .lake
            .get(&key)
            .await
            .map_err(|e| self.remote("read", e))?
        {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                State::from_json(&PathBuf::from(self.lake.uri(&key)), &text, stack, env).map(Some)
            }
        }
    }

    /// Write the state. Once the container that held it is deleted (`down --delete-data`),
    /// there is nothing left to record.
    async fn save_state(&self, state: &mut State) -> Result<(), StateError> {
        let key = self.state_key();
        let text = state.next_version(&PathBuf::from(self.lake.uri(&key)))?;
        match self.lake.put(&key, text.as_bytes()).await {
            Ok(()) => Ok(()),
            Err(_) if !state.resources.contains_key("lake") => Ok(()),
            Err(e) => Err(self.remote("write", e)),
        }
    }

    async fn remove_state(&self) -> Result<(), StateError> {
        match self.lake.delete(&self.state_key()).await {
            Ok(()) => Ok(()),
            Err(_) if !self.container_exists().await? => Ok(()),
            Err(e) => Err(self.remote("delete", e)),
        }
    }

    async fn container_exists(&self) -> Result<bool, StateError> {
        self.lake
            .container_exists()
            .await
            .map_err(|e| self.remote("reach", e))
    }

    /// Take the lock: a lease on the lock blob, then who we are written under it.
    pub async fn lock(&self, operation: &str) -> Result<BlobLock, LockError> {
        let key = self.lock_key();
        self.lake
            .put_if_absent(&key, b"")
            .await
            .map_err(|e| self.lock_err(e))?;
        match self
            .lake
            .acquire_lease(&key)
            .await
            .map_err(|e| self.lock_err(e))?
        {
            Leased::Held => Err(LockError::Held(
                PathBuf::from(self.lake.uri(&key)),
                Box::new(
                    self.holder_of_lock()
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_else(LockInfo::unknown),
                ),
            )),
            Leased::Acquired(lease) => {
                let info = LockInfo::new(operation);
                let body = serde_json::to_vec_pretty(&info)
                    .map_err(|e| LockError::Io(PathBuf::from(self.lake.uri(&key)), e.into()))?;
                let lock = BlobLock {
                    state: self.clone(),
                    lease,
                    info,
                };
                if let Err(e) = self.lake.put_leased(&key, &body, &lock.lease).await {
                    lock.clone_release().await;
                    return Err(self.lock_err(e));
                }
                Ok(lock)
            }
        }
    }

    /// Who holds the lock: the holder written under the current lease, if any.
    pub async fn holder_of_lock(&self) -> Result<Option<LockInfo>, LockError> {
        let bytes = self
            .lake
            .get(&self.lock_key())
            .await
            .map_err(|e| self.lock_err(e))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Break the lease (whoever holds it) and clear the holder. Returns who held it.
    pub async fn force_unlock(&self) -> Result<Option<LockInfo>, LockError> {
        let holder = self.holder_of_lock().await?;
        let key = self.lock_key();
        self.lake
            .break_lease(&key)
            .await
            .map_err(|e| self.lock_err(e))?;
        if holder.is_some() {
            self.lake
                .put(&key, b"")
                .await
                .map_err(|e| self.lock_err(e))?;
        }
        Ok(holder)
    }
}

/// A held lease on the lock blob.
#[derive(Debug)]
pub struct BlobLock {
    state: BlobState,
    lease: String,
    info: LockInfo,
}

impl BlobLock {
    async fn clone_release(&self) {
        let _ = self
            .state
            .lake
            .release_lease(&self.state.lock_key(), &self.lease)
            .await;
    }

    /// Clear the holder and release the lease (a lease `unlock` broke, or a container `down
    /// --delete-data` deleted, has nothing left to release).
    pub async fn release(self) {
        let key = self.state.lock_key();
        let lake = &self.state.lake;
        if lake.put_leased(&key, b"", &self.lease).await.is_ok()
            && let Err(e) = lake.release_lease(&key, &self.lease).await
        {
            eprintln!(
                "warning: cannot release the lock `{}`: {}\nhint: `mlinfra unlock` breaks it",
                lake.uri(&key),
                e.message
            );
        }
    }
}

impl HeldLock for BlobLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { BlobLock::release(*self).await })
    }
}

impl StateBackend for BlobState {
    fn location(&self) -> String {
        self.lake.uri(&self.state_key())
    }

    fn lock_location(&self) -> String {
        self.lake.uri(&self.lock_key())
    }

    fn is_local(&self) -> bool {
        false
    }

    fn holder(&self) -> Option<StateHolder> {
        Some(StateHolder {
            addr: "lake",
            description: format!("the data lake container `{}`", self.lake.container),
        })
    }

    fn exists(&self) -> BoxFuture<'_, Result<bool, StateError>> {
        Box::pin(self.container_exists())
    }

    fn load<'a>(
        &'a self,
        stack: &'a str,
        env: &'a str,
    ) -> BoxFuture<'a, Result<Option<State>, StateError>> {
        Box::pin(self.load_state(stack, env))
    }

    fn save<'a>(&'a self, state: &'a mut State) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(self.save_state(state))
    }

    fn remove(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(self.remove_state())
    }

    fn lock<'a>(&'a self, operation: &'a str) -> BoxFuture<'a, Result<Lock, LockError>> {
        Box::pin(async move { BlobState::lock(self, operation).await.map(Lock::new) })
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(self.holder_of_lock())
    }

    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(BlobState::force_unlock(self))
    }
}
