//! The `etl` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! Each S3 event record of a new object under `raw/` is validated against the schema and either
//! curated as a new data version or moved to `raw/quarantine/` with an alert
//! (`mlinfra_core::jobs::etl`); the answer lists what happened to each. Lake: the S3 bucket of
//! the `aws`/`localstack` environments (`s3://`), or a local environment's directory
//! (`file://`), opened by `mlinfra_core::jobs::open`.

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::jobs::{self, etl};
use mlinfra_core::{FunctionConfig, FunctionError};
use serde_json::{Value, json};

async fn handle(config: &FunctionConfig, event: &Value) -> Result<Value, FunctionError> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            FunctionError::invalid_event("expected an S3 event notification with `Records`")
        })?;
    let mut keys = vec![];
    for r in records {
        let key = r
            .pointer("/s3/object/key")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                FunctionError::invalid_event("an S3 event record without `s3.object.key`")
            })?;
        keys.push(jobs::decode_key(key));
    }
    ingest(config, &keys).await
}

/// ETL of each key of the lake, in order.
async fn ingest(config: &FunctionConfig, keys: &[String]) -> Result<Value, FunctionError> {
    let (lake, _) = jobs::open(config).await?;
    let settings = jobs::settings(&lake).await?;
    let mut out = vec![];
    for key in keys {
        let done = etl::ingest(&lake, key, &settings.etl_job(jobs::now())).await?;
        if let etl::Ingested::Quarantined { alert: Some(a), .. } = &done {
            eprintln!("alert: {}", a.summary);
        }
        out.push(serde_json::to_value(&done).unwrap_or(Value::Null));
    }
    Ok(json!({ "objects": out }))
}

/// On Azure Functions: the blob trigger on the lake's `raw/` (through Event Grid), the blob
/// named by the invocation's `Metadata.BlobTrigger`.
#[cfg(feature = "azure")]
async fn custom_handler(config: FunctionConfig, port: u16) -> Result<(), lambda_runtime::Error> {
    let config = std::sync::Arc::new(config);
    mlinfra_core::custom_handler::run_events(
        port,
        "etl",
        config,
        |config, _, metadata| async move {
            ingest(
                &config,
                &[mlinfra_core::custom_handler::blob_key(&metadata)?],
            )
            .await
        },
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = mlinfra_core::lambda::config_or_exit(jobs::check_sources);
    #[cfg(feature = "azure")]
    if let Some(port) = mlinfra_core::custom_handler::port() {
        return custom_handler(config, port).await;
    }
    let config = &config;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| async move {
        handle(config, &e.payload).await
    }))
    .await
}
