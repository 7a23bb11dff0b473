//! The data lake in an Azure blob container: the same [`Lake`] contract as the local directory
//! and S3. A conditional create is `Put Blob` with `If-None-Match: *` (the service answers 409
//! `BlobAlreadyExists` or 412 when the blob exists); a compare-and-swap is `Put Blob` with
//! `If-Match: <ETag>` (412 when the blob changed); a lock is an infinite blob lease (409
//! `LeaseAlreadyPresent` while someone holds it).

use azure_core::error::ErrorKind;
use azure_core::http::{Etag, ExponentialRetryOptions, RequestContent, RetryOptions};
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientAcquireLeaseResultHeaders as _,
    BlobClientBreakLeaseOptions, BlobClientDeleteOptions, BlobClientUploadOptions,
    BlobContainerClientListBlobsOptions,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use futures::StreamExt as _;

use super::{Account, describe};
use crate::lake::{Lake, LakeError};

/// A lake in the container `container` of a storage account.
#[derive(Clone)]
pub struct BlobLake {
    client: std::sync::Arc<BlobContainerClient>,
    pub account: String,
    pub container: String,
    /// The container's URL without authorisation, for URIs in records and messages.
    base: String,
}

impl std::fmt::Debug for BlobLake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobLake")
            .field("container", &self.base)
            .finish_non_exhaustive()
    }
}

fn lake_err(key: &str, call: &str, e: &azure_core::Error) -> LakeError {
    let message = format!("azure blob {call}: {}", describe(e));
    if crate::cloud_error::cause(e) == crate::cloud_error::Cause::NoCredentials {
        return LakeError::new(key, message);
    }
    LakeError::service(key, message, status(e), code(e))
}

fn status(e: &azure_core::Error) -> Option<u16> {
    e.http_status().map(u16::from)
}

fn code(e: &azure_core::Error) -> Option<&str> {
    match e.kind() {
        ErrorKind::HttpResponse { error_code, .. } => error_code.as_deref(),
        _ => None,
    }
}

/// The outcome of taking a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leased {
    /// Ours, with its id (needed to write under it and to release it).
    Acquired(String),
    /// Someone else holds it.
    Held,
}

impl BlobLake {
    pub fn new(account: &Account, container: &str) -> Result<Self, LakeError> {
        let url = account
            .container_url(container)
            .map_err(|e| LakeError::new(container, e.0))?;
        // A few quick retries of throttling, 5xx and dropped connections: a CLI waiting
        // minutes on an endpoint that is down helps nobody.
        let mut options = BlobContainerClientOptions::default();
        options.client_options.retry = RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(200),
            max_retries: 3,
            max_total_elapsed: azure_core::time::Duration::seconds(10),
            max_delay: azure_core::time::Duration::seconds(2),
        });
        let client = BlobContainerClient::new(url, None, Some(options)).map_err(|e| {
            LakeError::new(container, format!("azure blob client: {}", describe(&e)))
        })?;
        Ok(BlobLake {
            client: std::sync::Arc::new(client),
            account: account.name.clone(),
            container: container.to_string(),
            base: format!("{}/{container}", account.blob_endpoint),
        })
    }

    fn blob(&self, key: &str) -> BlobClient {
        self.client.blob_client(key)
    }

    /// Create the container (private: no public access). `false` when it already exists.
    pub async fn create_container(&self) -> Result<bool, LakeError> {
        match self.client.create(None).await {
            Ok(_) => Ok(true),
            Err(e) if status(&e) == Some(409) => Ok(false),
            Err(e) => Err(lake_err(&self.container, "Create Container", &e)),
        }
    }

    pub async fn container_exists(&self) -> Result<bool, LakeError> {
        self.client
            .exists()
            .await
            .map_err(|e| lake_err(&self.container, "Get Container Properties", &e))
    }

    /// Delete the container and every blob in it. A container already gone is not an error.
    pub async fn delete_container(&self) -> Result<(), LakeError> {
        match self.client.delete(None).await {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(lake_err(&self.container, "Delete Container", &e)),
        }
    }

    /// The blob's bytes and its ETag, `None` when it does not exist.
    pub async fn get_tagged(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, LakeError> {
        match self.blob(key).download(None).await {
            Ok(r) => {
                let etag = r
                    .properties
                    .etag
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let bytes = r
                    .body
                    .collect()
                    .await
                    .map_err(|e| lake_err(key, "Get Blob (body)", &e))?;
                Ok(Some((bytes.to_vec(), etag)))
            }
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(lake_err(key, "Get Blob", &e)),
        }
    }

    async fn upload(
        &self,
        key: &str,
        bytes: &[u8],
        options: BlobClientUploadOptions<'_>,
    ) -> Result<(), azure_core::Error> {
        let content: RequestContent<azure_core::Bytes, azure_core::http::NoFormat> =
            azure_core::Bytes::copy_from_slice(bytes).into();
        self.blob(key)
            .upload(content, Some(options))
            .await
            .map(|_| ())
    }

    /// Replace the blob only if its ETag is still `etag`; `false` when it changed (nothing
    /// written).
    pub async fn put_if_match(
        &self,
        key: &str,
        bytes: &[u8],
        etag: &str,
    ) -> Result<bool, LakeError> {
        let options = BlobClientUploadOptions {
            if_match: Some(Etag::from(etag.to_string())),
            ..Default::default()
        };
        match self.upload(key, bytes, options).await {
            Ok(()) => Ok(true),
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(lake_err(key, "Put Blob (If-Match)", &e)),
        }
    }

    /// Write the blob under a lease we hold.
    pub async fn put_leased(&self, key: &str, bytes: &[u8], lease: &str) -> Result<(), LakeError> {
        let options = BlobClientUploadOptions {
            lease_id: Some(lease.to_string()),
            ..Default::default()
        };
        self.upload(key, bytes, options)
            .await
            .map_err(|e| lake_err(key, "Put Blob (leased)", &e))
    }

    /// Take an infinite lease on the blob (which must exist).
    pub async fn acquire_lease(&self, key: &str) -> Result<Leased, LakeError> {
        match self
            .blob(key)
            .acquire_lease(-1, Some(BlobClientAcquireLeaseOptions::default()))
            .await
        {
            Ok(r) => {
                let id = r.lease_id().ok().flatten().ok_or_else(|| {
                    LakeError::new(key, "azure blob Lease Blob: the answer has no lease id")
                })?;
                Ok(Leased::Acquired(id))
            }
            Err(e) if status(&e) == Some(409) || code(&e) == Some("LeaseAlreadyPresent") => {
                Ok(Leased::Held)
            }
            Err(e) => Err(lake_err(key, "Lease Blob (acquire)", &e)),
        }
    }

    /// Release our lease; a lease already broken or a blob already gone is not an error.
    pub async fn release_lease(&self, key: &str, lease: &str) -> Result<(), LakeError> {
        match self.blob(key).release_lease(lease.to_string(), None).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(status(&e), Some(404 | 409 | 412)) => Ok(()),
            Err(e) => Err(lake_err(key, "Lease Blob (release)", &e)),
        }
    }

    /// Break whatever lease the blob has, at once.
    pub async fn break_lease(&self, key: &str) -> Result<(), LakeError> {
        let options = BlobClientBreakLeaseOptions {
            break_period: Some(0),
            ..Default::default()
        };
        match self.blob(key).break_lease(Some(options)).await {
            Ok(_) => Ok(()),
            // No lease to break, or no blob.
            Err(e) if matches!(status(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(lake_err(key, "Lease Blob (break)", &e)),
        }
    }

    /// Delete a blob even while it is leased (breaking the lease first).
    pub async fn delete_leased(&self, key: &str) -> Result<(), LakeError> {
        self.break_lease(key).await?;
        self.delete(key).await
    }
}

impl Lake for BlobLake {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        Ok(self.get_tagged(key).await?.map(|(b, _)| b))
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        self.upload(key, bytes, BlobClientUploadOptions::default())
            .await
            .map_err(|e| lake_err(key, "Put Blob", &e))
    }

    async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError> {
        let options = BlobClientUploadOptions {
            if_none_match: Some(Etag::from("*")),
            ..Default::default()
        };
        match self.upload(key, bytes, options).await {
            Ok(()) => Ok(true),
            // 409 BlobAlreadyExists, or 412: the blob exists.
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(lake_err(key, "Put Blob (If-None-Match)", &e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(prefix.to_string()),
            ..Default::default()
        };
        let mut pages = self
            .client
            .list_blobs(Some(options))
            .map_err(|e| lake_err(prefix, "List Blobs", &e))?;
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| lake_err(prefix, "List Blobs", &e))?;
            if let Some(name) = item.name {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match self
            .blob(key)
            .delete(Some(BlobClientDeleteOptions::default()))
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(lake_err(key, "Delete Blob", &e)),
        }
    }

    fn uri(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }
}
