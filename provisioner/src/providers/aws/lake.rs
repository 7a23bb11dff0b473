//! The data lake bucket: versioning, default encryption, public access block, a TLS-only
//! policy and a lifecycle rule expiring old prediction logs.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, VersioningConfiguration,
};
use serde_json::{Value, json};

use super::{AwsProvider, Ctx as _, invalid, prop_str, recorded_or, touched};
use crate::engine::graph::LAKE_PREFIXES;
use crate::engine::{Change, Resource};
use crate::providers::{DeleteOptions, Deleted, ProviderError};

/// The id of the lifecycle rule for prediction logs.
pub const LIFECYCLE_RULE: &str = "mlinfra-expire-prediction-logs";

/// The bucket policy: deny every request not made over TLS.
pub fn tls_policy(bucket: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
}

/// Whether a policy document denies non-TLS access to the whole bucket.
fn denies_insecure(policy: &Value) -> bool {
    let stmts = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        v @ Value::Object(_) => vec![v.clone()],
        _ => Vec::new(),
    };
    stmts.iter().any(|s| {
        s["Effect"] == "Deny"
            && s["Condition"]["Bool"]["aws:SecureTransport"]
                .as_str()
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    })
}

pub async fn read(
    p: &AwsProvider,
    addr: &str,
    mut live: Value,
) -> Result<Option<Value>, ProviderError> {
    let bucket = recorded_or(&live, "bucket", || p.settings.bucket.clone());
    let s3 = &p.clients.s3;
    if s3
        .head_bucket()
        .bucket(&bucket)
        .send()
        .await
        .found(addr, "s3:HeadBucket")?
        .is_none()
    {
        return Ok(None);
    }
    live["bucket"] = json!(bucket);
    // S3 has no directories: the prefixes exist as soon as the bucket does.
    live["prefixes"] = json!(LAKE_PREFIXES);
    let enabled = match s3.get_bucket_versioning().bucket(&bucket).send().await {
        Ok(v) => v.status == Some(BucketVersioningStatus::Enabled),
        // moto answers with a `GetBucketVersioningResponse` root element, which the SDK does
        // not parse: read the status from the raw XML it kept.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => e
            .raw_response()
            .and_then(|r| r.body().bytes())
            .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
        Err(e) => {
            return Err(super::AwsError::from_sdk(&e).into_provider(addr, "s3:GetBucketVersioning"));
        }
    };
    live["versioning"] = json!(enabled);
    let enc = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .found(addr, "s3:GetBucketEncryption")?;
    let alg = enc
        .and_then(|e| e.server_side_encryption_configuration)
        .and_then(|c| c.rules.into_iter().next())
        .and_then(|r| r.apply_server_side_encryption_by_default)
        .map(|d| d.sse_algorithm.as_str().to_string());
    live["encryption"] = json!(alg.unwrap_or_else(|| "none".into()));
    let pab = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .found(addr, "s3:GetPublicAccessBlock")?
        .and_then(|o| o.public_access_block_configuration);
    let blocked = pab.is_some_and(|c| {
        [
            c.block_public_acls,
            c.ignore_public_acls,
            c.block_public_policy,
            c.restrict_public_buckets,
        ]
        .iter()
        .all(|f| *f == Some(true))
    });
    live["public_access"] = json!(if blocked { "blocked" } else { "open" });
    let policy = s3
        .get_bucket_policy()
        .bucket(&bucket)
        .send()
        .await
        .found(addr, "s3:GetBucketPolicy")?
        .and_then(|o| o.policy)
        .and_then(|t| serde_json::from_str::<Value>(&t).ok());
    live["tls_only"] = json!(policy.as_ref().is_some_and(denies_insecure));
    let rules = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .found(addr, "s3:GetBucketLifecycleConfiguration")?
        .map(|o| o.rules.unwrap_or_default())
        .unwrap_or_default();
    let days = rules
        .iter()
        .find(|r| r.id.as_deref() == Some(LIFECYCLE_RULE))
        .and_then(|r| r.expiration.as_ref())
        .and_then(|e| e.days);
    live["prediction_log_days"] = json!(days);
    Ok(Some(live))
}

pub async fn put(
    p: &AwsProvider,
    r: &Resource,
    changes: Option<&[Change]>,
) -> Result<Value, ProviderError> {
    let addr = r.addr.as_str();
    let bucket = prop_str(r, "bucket")?;
    let s3 = &p.clients.s3;
    let touched = |f: &str| touched(changes, f);
    if touched("bucket") {
        create_bucket(p, addr, bucket).await?;
    }
    if touched("versioning") {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .ctx(addr, "s3:PutBucketVersioning")?;
    }
    if touched("encryption") {
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::Aes256)
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .bucket_key_enabled(true)
                    .build(),
            )
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        s3.put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(conf)
            .send()
            .await
            .ctx(addr, "s3:PutBucketEncryption")?;
    }
    if touched("public_access") {
        s3.put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .ctx(addr, "s3:PutPublicAccessBlock")?;
    }
    if touched("tls_only") {
        if r.props["tls_only"] == json!(true) {
            s3.put_bucket_policy()
                .bucket(bucket)
                .policy(tls_policy(bucket).to_string())
                .send()
                .await
                .ctx(addr, "s3:PutBucketPolicy")?;
        } else {
            s3.delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .found(addr, "s3:DeleteBucketPolicy")?;
        }
    }
    if touched("prediction_log_days") {
        let days = r.props["prediction_log_days"]
            .as_i64()
            .and_then(|d| i32::try_from(d).ok())
            .ok_or_else(|| invalid(addr, "`prediction_log_days` is not a whole number"))?;
        let rule = LifecycleRule::builder()
            .id(LIFECYCLE_RULE)
            .filter(
                LifecycleRuleFilter::builder()
                    .prefix(mlinfra_core::keys::PREDICTIONS)
                    .build(),
            )
            .status(ExpirationStatus::Enabled)
            .expiration(LifecycleExpiration::builder().days(days).build())
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(days)
                    .build(),
            )
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        let conf = BucketLifecycleConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        s3.put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(conf)
            .send()
            .await
            .ctx(addr, "s3:PutBucketLifecycleConfiguration")?;
    }
    Ok(outputs(p, bucket))
}

pub(super) fn outputs(p: &AwsProvider, bucket: &str) -> Value {
    json!({
        "uri": format!("s3://{bucket}"),
        "arn": format!("arn:aws:s3:::{bucket}"),
        "region": p.region(),
    })
}

/// Create the bucket, or accept it when this account already owns it.
pub async fn create_bucket(p: &AwsProvider, addr: &str, bucket: &str) -> Result<(), ProviderError> {
    let mut req = p.clients.s3.create_bucket().bucket(bucket);
    if p.region() != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(p.region()))
                .build(),
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let a = super::AwsError::from_sdk(&e);
            if a.code == "BucketAlreadyOwnedByYou" {
                Ok(())
            } else if a.code == "BucketAlreadyExists" {
                Err(ProviderError::new(
                    addr,
                    &a.code,
                    format!(
                        "the bucket name `{bucket}` is taken by another AWS account (bucket names are global)\nhint: choose another `lake.bucket` in the stack file"
                    ),
                ))
            } else {
                Err(a.into_provider(addr, "s3:CreateBucket"))
            }
        }
    }
}

/// Every object version and delete marker of a bucket, as identifiers.
async fn all_versions(
    p: &AwsProvider,
    addr: &str,
    bucket: &str,
) -> Result<Vec<ObjectIdentifier>, ProviderError> {
    let mut ids = Vec::new();
    let (mut key_marker, mut version_marker): (Option<String>, Option<String>) = (None, None);
    loop {
        let out = p
            .clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .ctx(addr, "s3:ListObjectVersions")?;
        let versions = out
            .versions
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v.key, v.version_id));
        let markers = out
            .delete_markers
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.key, m.version_id));
        for (key, version) in versions.chain(markers) {
            if let Some(key) = key {
                let id = ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version)
                    .build()
                    .map_err(|e| invalid(addr, e.to_string()))?;
                ids.push(id);
            }
        }
        if out.is_truncated != Some(true) {
            return Ok(ids);
        }
        key_marker = out.next_key_marker;
        version_marker = out.next_version_id_marker;
    }
}

pub async fn delete(
    p: &AwsProvider,
    addr: &str,
    props: &Value,
    opts: DeleteOptions,
) -> Result<Deleted, ProviderError> {
    let bucket = props["bucket"]
        .as_str()
        .ok_or_else(|| invalid(addr, "recorded `bucket` is missing"))?;
    let s3 = &p.clients.s3;
    if s3
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .found(addr, "s3:HeadBucket")?
        .is_none()
    {
        return Ok(Deleted::AlreadyGone);
    }
    let ids = all_versions(p, addr, bucket).await?;
    if !opts.delete_data {
        return Ok(Deleted::Retained(format!(
            "kept the data lake bucket `{bucket}` ({} object version{}, the state under `state/` among them); `mlinfra down --delete-data` empties and deletes it",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" }
        )));
    }
    let count = ids.len();
    for chunk in ids.chunks(1000) {
        let del = Delete::builder()
            .set_objects(Some(chunk.to_vec()))
            .quiet(true)
            .build()
            .map_err(|e| invalid(addr, e.to_string()))?;
        let out = s3
            .delete_objects()
            .bucket(bucket)
            .delete(del)
            .send()
            .await
            .ctx(addr, "s3:DeleteObjects")?;
        if let Some(e) = out.errors.and_then(|e| e.into_iter().next()) {
            return Err(ProviderError::new(
                addr,
                e.code.as_deref().unwrap_or("DeleteObjects"),
                format!(
                    "cannot delete `{}`: {}",
                    e.key.unwrap_or_default(),
                    e.message.unwrap_or_default()
                ),
            ));
        }
    }
    s3.delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .ctx(addr, "s3:DeleteBucket")?;
    Ok(if count > 0 {
        Deleted::Emptied(format!(
            "deleted the data lake bucket `{bucket}` with its {count} object version{}",
            if count == 1 { "" } else { "s" }
        ))
    } else {
        Deleted::Deleted
    })
}
