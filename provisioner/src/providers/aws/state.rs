//! Remote state for `aws` and `localstack`: the state document and its lock live in the stack's
//! data lake bucket under `state/<env>/`, read, created and deleted through the lake's
//! [`S3Lake`] (the state itself is written here, encrypted, tolerating a bucket that `down
//! --delete-data` removed).
//!
//! The lock is an object created with `If-None-Match: *`: S3 creates it only if no object of
//! that key exists, so of two `up`s exactly one gets it; the other is told who holds it. It is
//! read back before it counts, for S3-compatible servers whose conditional write is not atomic. The
//! bucket's versioning keeps every earlier state version (the remote form of `state.json.bak`).
//!
//! Bootstrap order: the bucket holding the state is itself a managed resource. `up` therefore
//! creates the bucket first when it does not exist (with its full security settings: that is
//! the `lake` resource's create), then takes the lock, then plans; the plan finds the bucket live
//! but not yet recorded and adopts it. `down --delete-data` deletes the bucket last, after every
//! other resource, and with it the state: nothing is left to record.

use std::path::PathBuf;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use mlinfra_core::lake::{Lake as _, LakeError};
use mlinfra_core::lake_s3::S3Lake;

use super::AwsError;
use crate::engine::lock::{LockError, LockInfo};
use crate::engine::state::{State, StateError};
use crate::engine::store::{BoxFuture, HeldLock, Lock, StateBackend, StateHolder};

/// How long after creating the lock object it is read back to confirm it is ours.
const LOCK_SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

/// The state and lock objects of one stack on one environment.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub lake: S3Lake,
    pub env: String,
}

impl S3Store {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, env: &str) -> Self {
        S3Store {
            lake: S3Lake::new(s3, bucket),
            env: env.to_string(),
        }
    }

    pub fn state_key(&self) -> String {
        format!("state/{}/state.json", self.env)
    }

    pub fn lock_key(&self) -> String {
        format!("state/{}/state.lock", self.env)
    }

    pub fn uri(&self, key: &str) -> String {
        self.lake.uri(key)
    }

    fn remote(&self, what: &'static str, e: AwsError) -> StateError {
        self.remote_detail(what, format!("{} ({})", e.message, e.code))
    }

    fn remote_detail(&self, what: &'static str, detail: String) -> StateError {
        StateError::Remote {
            uri: self.uri(&self.state_key()),
            what,
            detail,
        }
    }

    /// Whether the bucket that holds the state exists.
    pub async fn bucket_exists(&self) -> Result<bool, StateError> {
        let (s3, bucket) = (&self.lake.client, &self.lake.bucket);
        match s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.is_not_found() {
                    Ok(false)
                } else {
                    Err(self.remote("reach", a))
                }
            }
        }
    }

    /// The recorded state, or `None` when nothing was ever applied (or the bucket is gone).
    pub async fn load(&self, stack: &str, env: &str) -> Result<Option<State>, StateError> {
        let key = self.state_key();
        match self
            .lake
            .get(&key)
            .await
            .map_err(|e| self.remote_detail("read", e.message))?
        {
            None => Ok(None),
            Some(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                State::from_json(&PathBuf::from(self.uri(&key)), &text, stack, env).map(Some)
            }
        }
    }

    /// Write the state (encrypted at rest). Once everything is deleted together with the bucket
    /// that held the state (`down --delete-data`), there is nothing left to record.
    pub async fn save(&self, state: &mut State) -> Result<(), StateError> {
        let key = self.state_key();
        let text = state.next_version(&PathBuf::from(self.uri(&key)))?;
        let res = self
            .lake
            .client
            .put_object()
            .bucket(&self.lake.bucket)
            .key(&key)
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(text.into_bytes()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.code == "NoSuchBucket" && !state.resources.contains_key("lake") {
                    Ok(())
                } else {
                    Err(self.remote("write", a))
                }
            }
        }
    }

    /// Delete the state object (after everything it recorded was deleted). S3 answers a delete
    /// of a missing key with success; a bucket already gone has nothing left to delete.
    pub async fn remove(&self) -> Result<(), StateError> {
        match self.lake.delete(&self.state_key()).await {
            Ok(()) => Ok(()),
            Err(_) if !self.bucket_exists().await? => Ok(()),
            Err(e) => Err(self.remote_detail("delete", e.message)),
        }
    }

    fn lock_err(&self, e: LakeError) -> LockError {
        LockError::Io(
            PathBuf::from(self.uri(&self.lock_key())),
            std::io::Error::other(e.message),
        )
    }

    fn held(&self, holder: Option<LockInfo>) -> LockError {
        LockError::Held(
            PathBuf::from(self.uri(&self.lock_key())),
            Box::new(holder.unwrap_or_else(LockInfo::unknown)),
        )
    }

    /// Take the lock: create the lock object only if none exists.
    pub async fn lock(&self, operation: &str) -> Result<S3Lock, LockError> {
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|e| LockError::Io(PathBuf::from(self.uri(&self.lock_key())), e.into()))?;
        let created = self
            .lake
            .put_if_absent(&self.lock_key(), &body)
            .await
            .map_err(|e| self.lock_err(e))?;
        if !created {
            return Err(self.held(self.holder_of_lock().await.ok().flatten()));
        }
        // S3 applies `If-None-Match` atomically; some S3-compatible servers check and then
        // write, so two racing `PUT`s can both succeed there (the last one's body stays). Read
        // the lock back after a moment: only the process whose id is in it holds the lock.
        tokio::time::sleep(LOCK_SETTLE).await;
        match self.holder_of_lock().await? {
            Some(h) if h.id == info.id => Ok(S3Lock {
                store: self.clone(),
                info,
            }),
            other => Err(self.held(other)),
        }
    }

    /// Who holds the lock, if anyone.
    pub async fn holder_of_lock(&self) -> Result<Option<LockInfo>, LockError> {
        let bytes = self
            .lake
            .get(&self.lock_key())
            .await
            .map_err(|e| self.lock_err(e))?;
        Ok(bytes.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Break the lock. Returns who held it.
    pub async fn force_unlock(&self) -> Result<Option<LockInfo>, LockError> {
        let holder = self.holder_of_lock().await?;
        if holder.is_some() {
            self.lake
                .delete(&self.lock_key())
                .await
                .map_err(|e| self.lock_err(e))?;
        }
        Ok(holder)
    }
}

/// A held remote lock. Release it with [`S3Lock::release`]; the commands do so on every path.
#[derive(Debug)]
pub struct S3Lock {
    store: S3Store,
    info: LockInfo,
}

impl S3Lock {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Delete the lock object if it is still ours (`unlock` may have broken it, `down
    /// --delete-data` may have deleted the bucket with it).
    pub async fn release(self) {
        match self.store.holder_of_lock().await {
            Ok(Some(h)) if h.id == self.info.id => {
                if let Err(e) = self.store.lake.delete(&self.store.lock_key()).await {
                    eprintln!(
                        "warning: cannot release the lock `{}`: {}\nhint: `mlinfra unlock` breaks it",
                        self.store.uri(&self.store.lock_key()),
                        e.message
                    );
                }
            }
            _ => {}
        }
    }
}

impl HeldLock for S3Lock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move { S3Lock::release(*self).await })
    }
}

impl StateBackend for S3Store {
    fn location(&self) -> String {
        self.uri(&self.state_key())
    }

    fn lock_location(&self) -> String {
        self.uri(&self.lock_key())
    }

    fn is_local(&self) -> bool {
        false
    }

    fn holder(&self) -> Option<StateHolder> {
        Some(StateHolder {
            addr: "lake",
            description: format!("the data lake bucket `{}`", self.lake.bucket),
        })
    }

    fn exists(&self) -> BoxFuture<'_, Result<bool, StateError>> {
        Box::pin(self.bucket_exists())
    }

    fn load<'a>(
        &'a self,
        stack: &'a str,
        env: &'a str,
    ) -> BoxFuture<'a, Result<Option<State>, StateError>> {
        Box::pin(S3Store::load(self, stack, env))
    }

    fn save<'a>(&'a self, state: &'a mut State) -> BoxFuture<'a, Result<(), StateError>> {
        Box::pin(S3Store::save(self, state))
    }

    fn remove(&self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(S3Store::remove(self))
    }

    fn lock<'a>(&'a self, operation: &'a str) -> BoxFuture<'a, Result<Lock, LockError>> {
        Box::pin(async move { S3Store::lock(self, operation).await.map(Lock::new) })
    }

    fn lock_holder(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(self.holder_of_lock())
    }

    fn force_unlock(&self) -> BoxFuture<'_, Result<Option<LockInfo>, LockError>> {
        Box::pin(S3Store::force_unlock(self))
    }
}
