//! The `monitor` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! `main` reads the configuration `mlinfra up` gave it once, then serves invocations. The work
//! itself lives in `mlinfra-core` so that `mlinfra serve` can run it in-process on the local
//! environment; until that work is built the handler answers every event with a
//! `mlinfra.NotBuilt` error, never with a made-up result.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use mlinfra_core::{FunctionConfig, FunctionError, FunctionName};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = FunctionConfig::from_env(|k| std::env::var(k).ok())?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(event, &config)
    }))
    .await
}

async fn handle(_event: LambdaEvent<Value>, config: &FunctionConfig) -> Result<Value, Diagnostic> {
    debug_assert_eq!(config.function, FunctionName::Monitor);
    Err(diagnostic(FunctionError::not_built(FunctionName::Monitor)))
}

fn diagnostic(e: FunctionError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type.to_string(),
        error_message: e.message,
    }
}
