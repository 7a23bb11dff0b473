//! The adapters of the ports, chosen at run time: [`AnyLake`] and [`AnyStore`] dispatch to the
//! lake and the registry store of whichever environment a configuration names (a local
//! directory; with the features `s3`, `dynamodb` and `azure`, S3, DynamoDB and blob
//! containers). The ports ([`crate::lake::Lake`], [`crate::registry::Store`]) know none of them;
//! the entry points that pick an environment (the functions' `jobs::open`, the CLI's platform)
//! use these.

use crate::lake::{Lake, LakeError, LocalLake};
use crate::registry::{Current, Event, ModelDoc, RegistryError, Store};

/// The lake of whichever environment: the local directory or (feature `s3`) an S3 bucket.
#[derive(Debug, Clone)]
pub enum AnyLake {
    Local(LocalLake),
    #[cfg(feature = "s3")]
    S3(crate::lake_s3::S3Lake),
    #[cfg(feature = "azure")]
    Blob(crate::azure::blob::BlobLake),
}

impl Lake for AnyLake {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        match self {
            AnyLake::Local(l) => l.get(key).await,
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.get(key).await,
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.get(key).await,
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        match self {
            AnyLake::Local(l) => l.put(key, bytes).await,
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.put(key, bytes).await,
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.put(key, bytes).await,
        }
    }

    async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError> {
        match self {
            AnyLake::Local(l) => l.put_if_absent(key, bytes).await,
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.put_if_absent(key, bytes).await,
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.put_if_absent(key, bytes).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        match self {
            AnyLake::Local(l) => l.list(prefix).await,
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.list(prefix).await,
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.list(prefix).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match self {
            AnyLake::Local(l) => l.delete(key).await,
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.delete(key).await,
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.delete(key).await,
        }
    }

    fn uri(&self, key: &str) -> String {
        match self {
            AnyLake::Local(l) => l.uri(key),
            #[cfg(feature = "s3")]
            AnyLake::S3(l) => l.uri(key),
            #[cfg(feature = "azure")]
            AnyLake::Blob(l) => l.uri(key),
        }
    }
}

/// The registry store of whichever environment: a local directory or (feature `dynamodb`) the
/// stack's DynamoDB table.
#[derive(Debug, Clone)]
pub enum AnyStore {
    Local(crate::registry::local::LocalStore),
    #[cfg(feature = "dynamodb")]
    DynamoDb(crate::registry::dynamodb::DynamoDbStore),
    #[cfg(feature = "azure")]
    Blob(crate::registry::blob::BlobStore),
}

impl Store for AnyStore {
    async fn load(&self, model: &str) -> Result<Option<ModelDoc>, RegistryError> {
        match self {
            AnyStore::Local(s) => s.load(model).await,
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb(s) => s.load(model).await,
            #[cfg(feature = "azure")]
            AnyStore::Blob(s) => s.load(model).await,
        }
    }

    async fn commit(
        &self,
        doc: &ModelDoc,
        expected_rev: u64,
        events: &[Event],
    ) -> Result<(), RegistryError> {
        match self {
            AnyStore::Local(s) => s.commit(doc, expected_rev, events).await,
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb(s) => s.commit(doc, expected_rev, events).await,
            #[cfg(feature = "azure")]
            AnyStore::Blob(s) => s.commit(doc, expected_rev, events).await,
        }
    }

    async fn audit(&self, model: &str) -> Result<Vec<Event>, RegistryError> {
        match self {
            AnyStore::Local(s) => s.audit(model).await,
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb(s) => s.audit(model).await,
            #[cfg(feature = "azure")]
            AnyStore::Blob(s) => s.audit(model).await,
        }
    }

    async fn models(&self) -> Result<Vec<String>, RegistryError> {
        match self {
            AnyStore::Local(s) => s.models().await,
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb(s) => s.models().await,
            #[cfg(feature = "azure")]
            AnyStore::Blob(s) => s.models().await,
        }
    }

    async fn current(&self, model: &str) -> Result<Option<Current>, RegistryError> {
        match self {
            AnyStore::Local(s) => s.current(model).await,
            #[cfg(feature = "dynamodb")]
            AnyStore::DynamoDb(s) => s.current(model).await,
            #[cfg(feature = "azure")]
            AnyStore::Blob(s) => s.current(model).await,
        }
    }
}
