//! Providers: one implementation per environment of the operations the engine needs.
//!
//! A provider reads a resource's live properties (in the same shape as the desired ones, so the
//! planner can compare them field by field), creates, updates and deletes. It never touches the
//! state; the engine records what it reports.

pub mod aws;
pub mod azure;
pub mod local;
pub mod settings;

use serde::Serialize;
use serde_json::Value;

use crate::engine::{Change, Resource, ResourceKind, ResourceState};

/// An error from a provider, keeping the resource and the service's error code.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{addr}: {message} ({code})")]
pub struct ProviderError {
    pub addr: String,
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl ProviderError {
    pub fn new(addr: &str, code: &str, message: impl Into<String>) -> Self {
        ProviderError {
            addr: addr.to_string(),
            code: code.to_string(),
            message: message.into(),
            retryable: false,
        }
    }

    pub fn io(addr: &str, what: &str, path: &std::path::Path, e: &std::io::Error) -> Self {
        ProviderError::new(
            addr,
            "Io",
            format!("cannot {what} `{}`: {e}", path.display()),
        )
    }
}

/// Options of a delete.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeleteOptions {
    /// Delete the data lake's contents too (otherwise a non-empty lake is kept).
    pub delete_data: bool,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum Deleted {
    Deleted,
    /// Not deleted on purpose (the data lake without `--delete-data`); the message says what
    /// was kept and how to delete it.
    Retained(String),
    /// Deleted together with the data it held (`--delete-data`); says what was deleted.
    Emptied(String),
    /// It was already gone.
    AlreadyGone,
}

impl Deleted {
    /// `Deleted` when the resource was there to delete, else `AlreadyGone`.
    pub fn if_existed(existed: bool) -> Deleted {
        if existed {
            Deleted::Deleted
        } else {
            Deleted::AlreadyGone
        }
    }
}

/// The kind a recorded resource names, or an error saying the state is newer than this mlinfra.
pub fn recorded_kind(addr: &str, recorded: &ResourceState) -> Result<ResourceKind, ProviderError> {
    ResourceKind::parse(&recorded.kind).ok_or_else(|| {
        ProviderError::new(
            addr,
            "UnknownKind",
            format!(
                "the state records `{addr}` as a `{}`, a kind this version of mlinfra does not know\nhint: use the mlinfra version that wrote the state",
                recorded.kind
            ),
        )
    })
}

/// The operations the engine needs from an environment.
#[allow(async_fn_in_trait)]
pub trait Provider {
    /// Where this provider deploys, for messages: `local directory .mlinfra/x`.
    fn target(&self) -> String;

    /// The live properties of a resource, or `None` when it does not exist.
    async fn read(
        &self,
        addr: &str,
        kind: ResourceKind,
        recorded: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError>;

    /// Create a resource; returns its outputs.
    async fn create(&self, r: &Resource) -> Result<Value, ProviderError>;

    /// Bring an existing resource to the desired properties; returns its outputs.
    async fn update(&self, r: &Resource, changes: &[Change]) -> Result<Value, ProviderError>;

    /// Delete a resource recorded in the state.
    async fn delete(
        &self,
        addr: &str,
        recorded: &ResourceState,
        opts: DeleteOptions,
    ) -> Result<Deleted, ProviderError>;

    /// The outputs of a resource that exists but was never recorded (created before the state
    /// could hold it, or by a run stopped between creating and recording), as far as they follow
    /// from its properties; `Null` when they do not.
    fn adopted_outputs(&self, _r: &Resource) -> Value {
        Value::Null
    }
}

/// The provider of the environment a command runs on.
#[derive(Debug)]
pub enum AnyProvider {
    Local(local::LocalProvider),
    Aws(Box<aws::AwsProvider>),
    Azurite(Box<azure::AzuriteProvider>),
}

impl Provider for AnyProvider {
    fn target(&self) -> String {
        match self {
            AnyProvider::Local(p) => p.target(),
            AnyProvider::Aws(p) => p.target(),
            AnyProvider::Azurite(p) => p.target(),
        }
    }

    async fn read(
        &self,
        addr: &str,
        kind: ResourceKind,
        recorded: Option<&ResourceState>,
    ) -> Result<Option<Value>, ProviderError> {
        match self {
            AnyProvider::Local(p) => p.read(addr, kind, recorded).await,
            AnyProvider::Aws(p) => p.read(addr, kind, recorded).await,
            AnyProvider::Azurite(p) => p.read(addr, kind, recorded).await,
        }
    }

    async fn create(&self, r: &Resource) -> Result<Value, ProviderError> {
        match self {
            AnyProvider::Local(p) => p.create(r).await,
            AnyProvider::Aws(p) => p.create(r).await,
            AnyProvider::Azurite(p) => p.create(r).await,
        }
    }

    async fn update(&self, r: &Resource, changes: &[Change]) -> Result<Value, ProviderError> {
        match self {
            AnyProvider::Local(p) => p.update(r, changes).await,
            AnyProvider::Aws(p) => p.update(r, changes).await,
            AnyProvider::Azurite(p) => p.update(r, changes).await,
        }
    }

    async fn delete(
        &self,
        addr: &str,
        recorded: &ResourceState,
        opts: DeleteOptions,
    ) -> Result<Deleted, ProviderError> {
        match self {
            AnyProvider::Local(p) => p.delete(addr, recorded, opts).await,
            AnyProvider::Aws(p) => p.delete(addr, recorded, opts).await,
            AnyProvider::Azurite(p) => p.delete(addr, recorded, opts).await,
        }
    }

    fn adopted_outputs(&self, r: &Resource) -> Value {
        match self {
            AnyProvider::Local(p) => p.adopted_outputs(r),
            AnyProvider::Aws(p) => p.adopted_outputs(r),
            AnyProvider::Azurite(p) => p.adopted_outputs(r),
        }
    }
}
