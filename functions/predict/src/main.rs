//! The `predict` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary): API Gateway
//! REST proxy events in, proxy responses out, through the same handler `mlinfra serve` runs.
//!
//! At start it opens the lake and the registry its configuration names (`mlinfra_core::jobs::open`:
//! the S3 bucket and the DynamoDB table on `aws`/`localstack`, the directories of a local
//! environment) and loads the Production (and Staging) model: the registry's `CURRENT` item in
//! one read, each model from the lake, verified against its registered sha256. The handler
//! re-checks the registry at most every `MLINFRA_MODEL_REFRESH_S` seconds and swaps a newly
//! approved model in without a restart; a model that fails its check is not served (the old one
//! stays, the error is logged). Sampled predictions go to the lake's `predictions/` in batches
//! off the response path, flushed by count and age and at the environment's shutdown signal;
//! feedback goes to `feedback/`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::jobs;
use mlinfra_core::serving::logs::{LogStats, write_logs_until};
use mlinfra_core::serving::sources::{LakeFeedback, RegistrySource};
use mlinfra_core::serving::{Config, ProxyRequest, ProxyResponse, Service};
use mlinfra_core::{FunctionError, ServingConfig};

/// The serving settings without the variables `up` sets: the API's defaults, no sampling.
const DEFAULT_SERVING: ServingConfig = ServingConfig {
    max_batch: 1000,
    model_refresh_s: 30,
    sample_rate: 0.0,
    prediction_log_days: 90,
};

/// The service this function runs.
#[cfg(feature = "azure")]
type PredictService = Service<
    RegistrySource<mlinfra_core::registry::AnyStore, mlinfra_core::lake::AnyLake>,
    LakeFeedback<mlinfra_core::lake::AnyLake>,
>;

/// On Azure Functions: the HTTP trigger, its requests forwarded as the client sent them.
#[cfg(feature = "azure")]
async fn custom_handler(service: PredictService, port: u16) -> Result<(), lambda_runtime::Error> {
    use mlinfra_core::custom_handler::{self as ch, Invocation, Reply};
    let service = Arc::new(service);
    ch::run(port, "v1", move |inv| {
        let service = Arc::clone(&service);
        async move {
            match inv {
                Invocation::Http(req) => Reply::Http(service.handle(&req).await.response),
                Invocation::Event { function, .. } => Reply::Event(Err(FunctionError::invalid_event(
                    format!("`predict` answers HTTP requests under `/api/v1/`, not `{function}` invocations"),
                ))),
            }
        }
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = mlinfra_core::lambda::config_or_exit(jobs::check_sources);
    let (lake, store) = match jobs::open(&config).await {
        Ok(opened) => opened,
        Err(e) => {
            mlinfra_core::lambda::init_failed(&e);
            std::process::exit(1);
        }
    };
    let serving = config.serving.clone().unwrap_or(DEFAULT_SERVING);
    let service = Service::new(
        Config {
            model: config.model.clone(),
            max_batch: serving.max_batch as usize,
            refresh: Duration::from_secs(u64::from(serving.model_refresh_s)),
            sample_rate: serving.sample_rate,
        },
        RegistrySource {
            store,
            lake: lake.clone(),
            model: config.model.clone(),
        },
        LakeFeedback {
            lake: lake.clone(),
            retention_days: serving.prediction_log_days,
        },
    );
    for problem in service.refresh(true).await {
        eprintln!("warning: {problem}");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write_logs_until(
        lake,
        service.logs(),
        Duration::from_secs(1),
        Arc::new(LogStats::default()),
        async {
            let _ = stopped.await;
        },
    ));
    // Lambda allows an environment with an extension about half a second after SIGTERM.
    mlinfra_core::lambda::on_shutdown(move || async move {
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_millis(450), writer).await;
    });
    #[cfg(feature = "azure")]
    if let Some(port) = mlinfra_core::custom_handler::port() {
        return custom_handler(service, port).await;
    }
    let service = &service;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ProxyRequest>| async move {
            Ok::<ProxyResponse, FunctionError>(service.handle(&event.payload).await.response)
        },
    ))
    .await
}
