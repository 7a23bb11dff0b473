//! The adapters of the ports, chosen at run time: [`AnyLake`] and [`AnyStore`] dispatch to the
//! lake and the registry store of whichever environment a configuration names (a local
//! directory; with the features `s3`, `dynamodb` and `azure`, S3, DynamoDB and blob
//! containers). The ports ([`crate::lake::Lake`], [`crate::registry::Store`]) know none of them;
//! the entry points that pick an environment (the functions through [`open`], the CLI's
//! platform) use these.

use crate::config::Location;
use crate::lake::{Lake, LakeError, LocalLake};
use crate::registry::{Current, Event, ModelDoc, RegistryError, Store};
use crate::{FunctionConfig, FunctionError};

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

/// Whether this build can open the lake and registry a function's configuration names:
/// `file://` always; S3 and DynamoDB with the features `s3` and `dynamodb`; blob containers
/// with `azure`.
pub fn check(config: &FunctionConfig) -> Result<Location, FunctionError> {
    let location = Location::of(config).map_err(|e| FunctionError {
        error_type: "mlinfra.Config",
        message: e.to_string(),
        retryable: false,
    })?;
    let built = match location {
        Location::Local { .. } => true,
        Location::Aws { .. } => cfg!(all(feature = "s3", feature = "dynamodb")),
        Location::Azure { .. } => cfg!(feature = "azure"),
    };
    if built {
        return Ok(location);
    }
    Err(FunctionError {
        error_type: "mlinfra.NotBuilt",
        message: format!(
            "the `{}` function of this build cannot read `{}` / `{}`: S3 and DynamoDB need a build with the feature `aws` (`mlinfra build`), Azure blob containers one with `azure`",
            config.function, config.lake, config.registry
        ),
        retryable: false,
    })
}

/// The lake and registry a function's configuration names: a local environment's directories,
/// the S3 bucket and the DynamoDB table with the clients made from the Lambda's environment
/// (region, credentials, and `AWS_ENDPOINT_URL` for an emulator), or the blob containers at
/// their URLs.
pub async fn open(config: &FunctionConfig) -> Result<(AnyLake, AnyStore), FunctionError> {
    match check(config)? {
        Location::Local { lake, registry } => Ok((
            AnyLake::Local(LocalLake::new(lake)),
            AnyStore::Local(crate::registry::local::LocalStore::new(registry)),
        )),
        #[cfg(all(feature = "s3", feature = "dynamodb"))]
        Location::Aws { bucket, table } => {
            let aws = crate::aws_env::AwsEnv::for_function()?;
            Ok((
                AnyLake::S3(crate::lake_s3::S3Lake::new(aws.s3(), bucket)),
                AnyStore::DynamoDb(crate::registry::dynamodb::DynamoDbStore::new(
                    aws.dynamodb(),
                    table,
                )),
            ))
        }
        #[cfg(feature = "azure")]
        Location::Azure { lake, registry } => {
            let open = |url: &str| {
                crate::azure::container_at(url).map_err(|e| FunctionError {
                    error_type: "mlinfra.Config",
                    message: e.0,
                    retryable: false,
                })
            };
            Ok((
                AnyLake::Blob(open(&lake)?),
                AnyStore::Blob(crate::registry::blob::BlobStore::new(open(&registry)?)),
            ))
        }
        // `check` refused what this build cannot open.
        #[allow(unreachable_patterns)]
        _ => Err(FunctionError {
            error_type: "mlinfra.NotBuilt",
            message: format!("cannot open `{}` / `{}`", config.lake, config.registry),
            retryable: false,
        }),
    }
}
