//! `predict` (feature `scoring`): API Gateway REST proxy events in, proxy responses out, through
//! the same handler `mlinfra serve` runs; on Azure, the HTTP trigger's forwarded requests.
//!
//! At start the Production (and Staging) model is loaded: the registry's `CURRENT` item in one
//! read, each model from the lake, verified against its registered sha256. The handler
//! re-checks the registry at most every `MLINFRA_MODEL_REFRESH_S` seconds and swaps a newly
//! approved model in without a restart; a model that fails its check is not served (the old one
//! stays, the error is logged). Sampled predictions go to the lake's `predictions/` in batches
//! off the response path, flushed by count and age and at the environment's shutdown signal;
//! feedback goes to `feedback/`.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};

use super::Platform;
use crate::any::{AnyLake, AnyStore};
use crate::serving::logs::{LogStats, write_logs_until};
use crate::serving::sources::{LakeFeedback, RegistrySource};
use crate::serving::{Config, ProxyRequest, ProxyResponse, Service};
use crate::{FunctionError, ServingConfig};

/// The serving settings without the variables `up` sets: the API's defaults, no sampling.
const DEFAULT_SERVING: ServingConfig = ServingConfig {
    max_batch: 1000,
    model_refresh_s: 30,
    sample_rate: 0.0,
    prediction_log_days: 90,
};

/// The service a `predict` function runs.
pub type PredictService = Service<RegistrySource<AnyStore, AnyLake>, LakeFeedback<AnyLake>>;

/// The prediction service over `p`, its models loaded (problems logged), with the writer of
/// sampled predictions running until the environment shuts down.
pub async fn service(p: &Platform) -> PredictService {
    let serving = p.config.serving.clone().unwrap_or(DEFAULT_SERVING);
    let service = Service::new(
        Config {
            model: p.config.model.clone(),
            max_batch: serving.max_batch as usize,
            refresh: Duration::from_secs(u64::from(serving.model_refresh_s)),
            sample_rate: serving.sample_rate,
        },
        RegistrySource {
            store: p.store.clone(),
            lake: p.lake.clone(),
            model: p.config.model.clone(),
        },
        LakeFeedback {
            lake: p.lake.clone(),
            retention_days: serving.prediction_log_days,
        },
    );
    for problem in service.refresh(true).await {
        eprintln!("warning: {problem}");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write_logs_until(
        p.lake.clone(),
        service.logs(),
        Duration::from_secs(1),
        Arc::new(LogStats::default()),
        async {
            let _ = stopped.await;
        },
    ));
    // Lambda allows an environment with an extension about half a second after SIGTERM.
    crate::lambda::on_shutdown(move || async move {
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_millis(450), writer).await;
    });
    service
}

/// Answer requests with `service` until the environment ends: forwarded HTTP as a custom
/// handler when Azure Functions started the process, else API Gateway's proxy events.
pub async fn serve(service: PredictService) -> Result<(), lambda_runtime::Error> {
    #[cfg(feature = "custom-handler")]
    if let Some(port) = crate::custom_handler::port() {
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

/// On Azure Functions: the HTTP trigger, its requests forwarded as the client sent them.
#[cfg(feature = "custom-handler")]
async fn custom_handler(service: PredictService, port: u16) -> Result<(), lambda_runtime::Error> {
    use crate::custom_handler::{self as ch, Invocation, Reply};
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
