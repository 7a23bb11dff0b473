//! The `train` function: a `bootstrap` for AWS Lambda (`provided.al2023`), or an Azure Functions
//! custom handler (feature `azure`).
//!
//! Any event starts one training (the weekly EventBridge rule's scheduled event, the timer on
//! Azure, or a direct invocation such as the monitor's `{"reason": "drift"}`): train on the
//! current curated data, evaluate against the Production model, register the model if blessed,
//! request its promotion by the stack's policy, and deliver the notification of it (SNS, or the
//! log) (`mlinfra_core::runtime::handlers::train`). The lake and the registry are opened once,
//! at start; the run records name this binary's git revision.

use mlinfra_core::runtime::{self, handlers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let platform = runtime::start(option_env!("MLINFRA_GIT_REV")).await;
    runtime::run("train", platform, |p, event| async move {
        handlers::train(&p, event).await
    })
    .await
}
