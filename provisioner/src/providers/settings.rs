//! The jobs' settings (`settings.jobs`): one JSON object in the data lake,
//! `artifacts/config/jobs.json`, which the functions read. Written and read through the same
//! [`Lake`] the jobs use, whichever cloud holds it (an S3 bucket, a blob container).

use mlinfra_core::lake::{Lake, LakeError};
use serde_json::{Value, json};

use crate::engine::graph::Resource;
use crate::providers::{Deleted, ProviderError};

/// `code`: the service's name in errors (`S3`, `AzureStorage`).
fn error(addr: &str, code: &str, e: LakeError) -> ProviderError {
    ProviderError::new(addr, code, e.to_string())
}

pub async fn read(
    lake: &impl Lake,
    code: &str,
    addr: &str,
) -> Result<Option<Value>, ProviderError> {
    match lake
        .get(mlinfra_core::keys::SETTINGS)
        .await
        .map_err(|e| error(addr, code, e))?
    {
        None => Ok(None),
        // Not JSON (edited by hand): different from any desired value, so `up` rewrites it.
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).unwrap_or(json!({ "unreadable": true })),
        )),
    }
}

pub async fn put(lake: &impl Lake, code: &str, r: &Resource) -> Result<Value, ProviderError> {
    let mut bytes = serde_json::to_vec_pretty(&r.props)
        .map_err(|e| ProviderError::new(&r.addr, "Encode", e.to_string()))?;
    bytes.push(b'\n');
    lake.put(mlinfra_core::keys::SETTINGS, &bytes)
        .await
        .map_err(|e| error(&r.addr, code, e))?;
    Ok(json!({ "uri": lake.uri(mlinfra_core::keys::SETTINGS) }))
}

pub async fn delete(lake: &impl Lake, code: &str, addr: &str) -> Result<Deleted, ProviderError> {
    let existed = lake
        .get(mlinfra_core::keys::SETTINGS)
        .await
        .map_err(|e| error(addr, code, e))?
        .is_some();
    if existed {
        lake.delete(mlinfra_core::keys::SETTINGS)
            .await
            .map_err(|e| error(addr, code, e))?;
    }
    Ok(Deleted::if_existed(existed))
}
