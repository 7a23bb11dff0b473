//! The jobs' settings (`settings.jobs`): one JSON object in the data lake bucket,
//! `artifacts/config/jobs.json`, which the functions read. Written and read through the same
//! [`S3Lake`] the jobs use.

use mlinfra_core::lake::Lake as _;
use mlinfra_core::lake_s3::S3Lake;
use serde_json::{Value, json};

use super::AwsProvider;
use crate::engine::graph::Resource;
use crate::providers::{Deleted, ProviderError};

fn lake(p: &AwsProvider) -> S3Lake {
    S3Lake::new(p.clients.s3.clone(), p.settings.bucket.clone())
}

fn error(addr: &str, e: mlinfra_core::lake::LakeError) -> ProviderError {
    ProviderError::new(addr, "S3", e.to_string())
}

pub async fn read(p: &AwsProvider, addr: &str) -> Result<Option<Value>, ProviderError> {
    match lake(p)
        .get(mlinfra_core::jobs::SETTINGS)
        .await
        .map_err(|e| error(addr, e))?
    {
        None => Ok(None),
        // Not JSON (edited by hand): different from any desired value, so `up` rewrites it.
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).unwrap_or(json!({ "unreadable": true })),
        )),
    }
}

pub async fn put(p: &AwsProvider, r: &Resource) -> Result<Value, ProviderError> {
    let lake = lake(p);
    let mut bytes = serde_json::to_vec_pretty(&r.props)
        .map_err(|e| ProviderError::new(&r.addr, "Encode", e.to_string()))?;
    bytes.push(b'\n');
    lake.put(mlinfra_core::jobs::SETTINGS, &bytes)
        .await
        .map_err(|e| error(&r.addr, e))?;
    Ok(json!({ "uri": lake.uri(mlinfra_core::jobs::SETTINGS) }))
}

pub async fn delete(p: &AwsProvider, addr: &str) -> Result<Deleted, ProviderError> {
    let lake = lake(p);
    let existed = lake
        .get(mlinfra_core::jobs::SETTINGS)
        .await
        .map_err(|e| error(addr, e))?
        .is_some();
    if existed {
        lake.delete(mlinfra_core::jobs::SETTINGS)
            .await
            .map_err(|e| error(addr, e))?;
    }
    Ok(Deleted::if_existed(existed))
}
