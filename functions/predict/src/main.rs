//! The `predict` function: a `bootstrap` for AWS Lambda (`provided.al2023`) behind API Gateway,
//! or an Azure Functions custom handler behind the HTTP trigger (feature `azure`), answering
//! with the same handler `mlinfra serve` runs (`mlinfra_core::runtime::predict`).
//!
//! At start it opens the lake and the registry and loads the Production (and Staging) model,
//! each verified against its registered sha256; newly approved versions are swapped in without a
//! restart, sampled predictions written to the lake off the response path.

use mlinfra_core::runtime::{self, predict};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let platform = runtime::start(None).await;
    predict::serve(predict::service(&platform).await).await
}
