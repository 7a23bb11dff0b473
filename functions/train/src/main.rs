//! The `train` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! Any event starts one training (the weekly EventBridge rule's scheduled event, or a direct
//! invocation such as the monitor's `{"reason": "drift"}`): train on the current curated data,
//! evaluate against the Production model, register the model if blessed, and request its
//! promotion by the stack's policy (`mlinfra_core::jobs::train`). The answer says what happened.
//! Lake and registry: the S3 bucket and the DynamoDB table of the `aws`/`localstack`
//! environments, or a local environment's directories (`mlinfra_core::jobs::open`). The
//! notification is recorded with the alerts and published to the stack's SNS topic (the log on
//! a local environment).

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::jobs::{self, train};
use mlinfra_core::{FunctionConfig, FunctionError};
use serde_json::{Value, json};

async fn handle(
    config: &FunctionConfig,
    function_arn: &str,
    event: &Value,
) -> Result<Value, FunctionError> {
    let (lake, store) = jobs::open(config).await?;
    let settings = jobs::settings(&lake).await?;
    let reason = match (
        event.get("detail-type").and_then(Value::as_str),
        event.get("reason").and_then(Value::as_str),
    ) {
        (Some("Scheduled Event"), _) => "schedule".to_string(),
        (_, Some(r)) => r.to_string(),
        _ => "invocation".to_string(),
    };
    let t = train::retrain(
        &lake,
        &settings.registry(store),
        &train::Job {
            memory: Some(("train", config.memory_mb)),
            ..settings.train_job(train::SCHEDULE_ACTOR, &reason)
        },
    )
    .await?;
    let note = train::notify(
        &lake,
        &t,
        &settings.pipeline.model_name,
        &reason,
        jobs::now(),
    )
    .await?;
    let notifier = mlinfra_core::notify::AnyNotifier::for_function(config, function_arn);
    let delivered = jobs::deliver(&notifier, &lake, &note).await.is_ok();
    Ok(json!({
        "reason": reason,
        "run_id": t.out.run.run_id,
        "data": t.data_key,
        "rows": t.out.run.rows,
        "metrics": t.out.run.metrics,
        "blessed": t.out.run.blessing.blessed,
        "registered_version": t.registered.as_ref().map(|v| v.version),
        "stage": t.registered.as_ref().map(|v| v.stage.to_string()),
        "not_registered": t.not_registered,
        "request": t.request,
        "notification": note.id,
        "notification_delivered": delivered,
    }))
}

/// On Azure Functions: the timer trigger of the retraining schedule.
#[cfg(feature = "azure")]
async fn custom_handler(config: FunctionConfig, port: u16) -> Result<(), lambda_runtime::Error> {
    use mlinfra_core::custom_handler as ch;
    let config = std::sync::Arc::new(config);
    ch::run_events(port, "train", config, |config, data, _| async move {
        if ch::past_due(&data) {
            eprintln!("the retraining timer is past due: running now");
        }
        handle(&config, "", &json!({ "detail-type": "Scheduled Event" })).await
    })
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    mlinfra_core::pipeline::CodeVersion::set_git_revision(option_env!("MLINFRA_GIT_REV"));
    let config = mlinfra_core::lambda::config_or_exit(jobs::check_sources);
    #[cfg(feature = "azure")]
    if let Some(port) = mlinfra_core::custom_handler::port() {
        return custom_handler(config, port).await;
    }
    let config = &config;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| async move {
        handle(config, &e.context.invoked_function_arn, &e.payload).await
    }))
    .await
}
