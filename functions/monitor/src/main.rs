//! The `monitor` function: a `bootstrap` for AWS Lambda (`provided.al2023`), or an Azure
//! Functions custom handler (feature `azure`).
//!
//! On its daily event (or the timer on Azure): drift of the window's traffic against the
//! training data, accuracy and F1 from feedback, the report and an alert in the lake, the
//! metrics in CloudWatch's embedded metric format, the alert to the stack's SNS topic; when the
//! policy asks for retraining, `train` invoked asynchronously at its alias `live`, or the
//! retraining run here without a train function (`mlinfra_core::runtime::handlers::monitor`).
//! The lake and the registry are opened once, at start.

use mlinfra_core::runtime::{self, handlers};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let platform = runtime::start(option_env!("MLINFRA_GIT_REV")).await;
    runtime::run("monitor", platform, |p, event| async move {
        handlers::monitor(&p, event).await
    })
    .await
}
