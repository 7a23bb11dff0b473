//! The `train` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! `main` reads the configuration `mlinfra up` gave it once, then serves invocations. The work
//! itself lives in `mlinfra-core` so that `mlinfra serve` can run it in-process on the local
//! environment; until that work is built the handler answers every event with a
//! `mlinfra.NotBuilt` error, never with a made-up result.

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::{FunctionConfig, FunctionError, FunctionName};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = match FunctionConfig::from_env(|k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => {
            mlinfra_core::lambda::init_failed(&e.into());
            std::process::exit(1);
        }
    };
    debug_assert_eq!(config.function, FunctionName::Train);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Err::<Value, _>(FunctionError::not_built(FunctionName::Train))
    }))
    .await
}
