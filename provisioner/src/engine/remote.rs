//! Remote state for `aws` and `localstack`: the state document and its lock live in the stack's
//! data lake bucket under `state/<env>/`.
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

use super::lock::{LockError, LockInfo};
use super::state::{State, StateError};
use crate::providers::aws::AwsError;

/// How long after creating the lock object it is read back to confirm it is ours.
const LOCK_SETTLE: std::time::Duration = std::time::Duration::from_millis(150);

/// The state and lock objects of one stack on one environment.
#[derive(Debug, Clone)]
pub struct S3Store {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub env: String,
}

impl S3Store {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str, env: &str) -> Self {
        S3Store {
            s3,
            bucket: bucket.to_string(),
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
        format!("s3://{}/{key}", self.bucket)
    }

    fn remote(&self, what: &'static str, e: AwsError) -> StateError {
        StateError::Remote {
            uri: self.uri(&self.state_key()),
            what,
            detail: format!("{} ({})", e.message, e.code),
        }
    }

    /// Whether the bucket that holds the state exists.
    pub async fn bucket_exists(&self) -> Result<bool, StateError> {
        match self.s3.head_bucket().bucket(&self.bucket).send().await {
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

    async fn get(&self, key: &str) -> Result<Option<String>, AwsError> {
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| AwsError {
                    code: "Read".into(),
                    message: e.to_string(),
                    status: None,
                })?;
                Ok(Some(
                    String::from_utf8_lossy(&bytes.into_bytes()).into_owned(),
                ))
            }
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.is_not_found() { Ok(None) } else { Err(a) }
            }
        }
    }

    /// The recorded state, or `None` when nothing was ever applied (or the bucket is gone).
    pub async fn load(&self, stack: &str, env: &str) -> Result<Option<State>, StateError> {
        let key = self.state_key();
        match self.get(&key).await.map_err(|e| self.remote("read", e))? {
            None => Ok(None),
            Some(text) => {
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
            .s3
            .put_object()
            .bucket(&self.bucket)
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

    /// Delete the state object (after everything it recorded was deleted).
    pub async fn remove(&self) -> Result<(), StateError> {
        match self
            .s3
            .delete_object()
            .bucket(&self.bucket)
            .key(self.state_key())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.is_not_found() {
                    Ok(())
                } else {
                    Err(self.remote("delete", a))
                }
            }
        }
    }

    fn lock_err(&self, e: AwsError) -> LockError {
        LockError::Io(
            PathBuf::from(self.uri(&self.lock_key())),
            std::io::Error::other(format!("{} ({})", e.message, e.code)),
        )
    }

    /// Take the lock: create the lock object only if none exists.
    pub async fn lock(&self, operation: &str) -> Result<S3Lock, LockError> {
        let info = LockInfo::new(operation);
        let body = serde_json::to_vec_pretty(&info)
            .map_err(|e| LockError::Io(PathBuf::from(self.uri(&self.lock_key())), e.into()))?;
        let res = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(self.lock_key())
            .if_none_match("*")
            .content_type("application/json")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(body))
            .send()
            .await;
        match res {
            Ok(_) => {
                // S3 applies `If-None-Match` atomically; some S3-compatible servers check and
                // then write, so two racing `PUT`s can both succeed there (the last one's body
                // stays). Read the lock back after a moment: only the process whose id is in
                // it holds the lock.
                tokio::time::sleep(LOCK_SETTLE).await;
                match self.holder().await? {
                    Some(h) if h.id == info.id => Ok(S3Lock {
                        store: self.clone(),
                        info,
                    }),
                    other => Err(LockError::Held(
                        PathBuf::from(self.uri(&self.lock_key())),
                        Box::new(other.unwrap_or_else(LockInfo::unknown)),
                    )),
                }
            }
            Err(e) => {
                let a = AwsError::from_sdk(&e);
                if a.status == Some(412)
                    || a.status == Some(409)
                    || a.code == "PreconditionFailed"
                    || a.code == "ConditionalRequestConflict"
                {
                    let holder = self
                        .holder()
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_else(LockInfo::unknown);
                    Err(LockError::Held(
                        PathBuf::from(self.uri(&self.lock_key())),
                        Box::new(holder),
                    ))
                } else {
                    Err(self.lock_err(a))
                }
            }
        }
    }

    /// Who holds the lock, if anyone.
    pub async fn holder(&self) -> Result<Option<LockInfo>, LockError> {
        let text = self
            .get(&self.lock_key())
            .await
            .map_err(|e| self.lock_err(e))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Break the lock. Returns who held it.
    pub async fn force_unlock(&self) -> Result<Option<LockInfo>, LockError> {
        let holder = self.holder().await?;
        if holder.is_some() {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(self.lock_key())
                .send()
                .await
                .map_err(|e| self.lock_err(AwsError::from_sdk(&e)))?;
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
        match self.store.holder().await {
            Ok(Some(h)) if h.id == self.info.id => {
                if let Err(e) = self
                    .store
                    .s3
                    .delete_object()
                    .bucket(&self.store.bucket)
                    .key(self.store.lock_key())
                    .send()
                    .await
                {
                    eprintln!(
                        "warning: cannot release the lock `{}`: {}\nhint: `mlinfra unlock` breaks it",
                        self.store.uri(&self.store.lock_key()),
                        AwsError::from_sdk(&e).message
                    );
                }
            }
            _ => {}
        }
    }
}
