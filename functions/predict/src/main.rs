//! The `predict` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary): API Gateway
//! REST proxy events in, proxy responses out, through the same handler `mlinfra serve` runs.
//!
//! `main` reads the configuration `mlinfra up` gave it and loads the Production (and Staging)
//! model once, before the first event; the handler re-checks the registry at most every
//! `MLINFRA_MODEL_REFRESH_S` seconds (default 30) and swaps models without a restart.
//! Model sources: a local environment's registry and lake (`file://`). The S3/DynamoDB source of
//! the AWS environments is not built yet: such a configuration fails at start with that message.

use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::registry::local::LocalStore;
use mlinfra_core::serving::local::{LocalFeedback, LocalSource, file_path};
use mlinfra_core::serving::{Config, ProxyRequest, ProxyResponse, Service};
use mlinfra_core::{FunctionConfig, FunctionError};

fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn service(config: &FunctionConfig) -> Result<Service<LocalSource, LocalFeedback>, FunctionError> {
    let (Some(registry), Some(lake)) = (file_path(&config.registry), file_path(&config.lake))
    else {
        return Err(FunctionError {
            error_type: "mlinfra.NotBuilt",
            message: format!(
                "the model source for `{}` / `{}` is not part of this version of mlinfra yet (only a local environment's file:// registry and lake)",
                config.registry, config.lake
            ),
            retryable: false,
        });
    };
    // The serving settings `up` gave this function (its environment); without them, the API's
    // defaults and no sampling.
    let serving = config
        .serving
        .clone()
        .unwrap_or(mlinfra_core::ServingConfig {
            max_batch: 1000,
            model_refresh_s: 30,
            sample_rate: 0.0,
        });
    Ok(Service::new(
        Config {
            model: config.model.clone(),
            max_batch: serving.max_batch as usize,
            refresh: Duration::from_secs(u64::from(serving.model_refresh_s)),
            sample_rate: serving.sample_rate,
        },
        LocalSource {
            store: LocalStore::new(registry),
            model: config.model.clone(),
        },
        LocalFeedback {
            lake,
            retention_days: env_num("MLINFRA_PREDICTION_LOG_DAYS", 90),
        },
    ))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, service) = match FunctionConfig::from_env(|k| std::env::var(k).ok())
        .map_err(FunctionError::from)
        .and_then(|c| service(&c).map(|s| (c, s)))
    {
        Ok(s) => s,
        Err(e) => {
            mlinfra_core::lambda::init_failed(&e);
            std::process::exit(1);
        }
    };
    for problem in service.refresh(true) {
        eprintln!("warning: {problem}");
    }
    // Sampled predictions go to the lake's `predictions/` in batches, off the response path.
    let (logs, rx) = tokio::sync::mpsc::unbounded_channel();
    if let Some(lake) = file_path(&config.lake) {
        tokio::spawn(mlinfra_core::serving::logs::write_logs(
            mlinfra_core::lake::LocalLake::new(lake),
            rx,
            Duration::from_secs(1),
            1000,
            Default::default(),
        ));
    }
    let (service, logs) = (&service, &logs);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ProxyRequest>| async move {
            let out = service.handle(&event.payload);
            if let Some(log) = out.log {
                let _ = logs.send(log);
            }
            Ok::<ProxyResponse, FunctionError>(out.response)
        },
    ))
    .await
}
