//! The data lake in an S3 bucket (the `aws` and `localstack` environments): the same
//! [`Lake`] contract as the local directory. A conditional create is `PutObject` with
//! `If-None-Match: *`, which S3 answers with 412 when the key exists.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::lake::{Lake, LakeError};

/// A lake in the bucket `bucket`.
#[derive(Debug, Clone)]
pub struct S3Lake {
    pub client: Client,
    pub bucket: String,
}

impl S3Lake {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Lake {
            client,
            bucket: bucket.into(),
        }
    }
}

/// An S3 error as one sentence naming the call and the key.
fn err<E>(key: &str, call: &str, e: &SdkError<E, HttpResponse>) -> LakeError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = crate::cloud_error::sdk_message("s3", "S3", call, e);
    match e {
        SdkError::ServiceError(s) => LakeError::service(
            key,
            message,
            Some(s.raw().status().as_u16()),
            s.err().code(),
        ),
        // The request was never made: no retry builds it differently.
        SdkError::ConstructionFailure(_) => LakeError::new(key, message),
        other if crate::cloud_error::cause(other) == crate::cloud_error::Cause::NoCredentials => {
            LakeError::new(key, message)
        }
        // No answer (timeout, connection) or one that could not be read.
        _ => LakeError::service(key, message, None, None),
    }
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl Lake for S3Lake {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, LakeError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => {
                let bytes = o.body.collect().await.map_err(|e| {
                    let message = format!("s3:GetObject: reading the body failed: {e}");
                    LakeError::service(key, message, None, None)
                })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if status(&e) == Some(404) || e.code() == Some("NoSuchKey") => Ok(None),
            Err(e) => Err(err(key, "GetObject", &e)),
        }
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> Result<(), LakeError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(key, "PutObject", &e))
    }

    async fn put_if_absent(&self, key: &str, bytes: &[u8]) -> Result<bool, LakeError> {
        match self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(bytes.to_vec()))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // 412: the key exists; 409: a concurrent conditional write won.
            Err(e) if matches!(status(&e), Some(412 | 409)) => Ok(false),
            Err(e) => Err(err(key, "PutObject", &e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| err(prefix, "ListObjectsV2", &e))?;
            out.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), LakeError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| err(key, "DeleteObject", &e))
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}
