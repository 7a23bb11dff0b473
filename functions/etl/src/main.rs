//! The `etl` function: a `bootstrap` for AWS Lambda (`provided.al2023`), or an Azure Functions
//! custom handler (feature `azure`).
//!
//! Each new object under the lake's `raw/` (an S3 event's records, or the blob trigger's blob)
//! is validated against the schema and either curated as a new data version or moved to
//! `raw/quarantine/` with an alert; the answer lists what happened to each
//! (`mlinfra_core::runtime::handlers::etl`). The lake is opened once, at start.

use mlinfra_core::runtime::{self, handlers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let platform = runtime::start(None).await;
    runtime::run("etl", platform, |p, event| async move {
        handlers::etl(&p, event).await
    })
    .await
}
