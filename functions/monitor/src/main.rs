//! The `monitor` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! On its daily EventBridge event (or any invocation): drift of the window's traffic against
//! the training data, accuracy and F1 from feedback, the report and an alert in the lake
//! (`mlinfra_core::jobs::monitor`). The metrics go to the log in CloudWatch's embedded metric
//! format, where the alarms `mlinfra up` creates watch them; the alert is published to the
//! stack's SNS topic. When the policy asks for retraining (and the cooldown allows, claimed so
//! that two monitors cannot both start it), the `train` function is invoked asynchronously
//! (`InvocationType=Event`) at its alias `live`, as the role's policy allows; a configuration
//! without a train function (a local environment) trains in this invocation. Lake and
//! registry: the S3 bucket and the DynamoDB table of the `aws`/`localstack` environments, or a
//! local environment's directories (`mlinfra_core::jobs::open`).

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::jobs::{self, monitor, train};
use mlinfra_core::notify::AnyNotifier;
use mlinfra_core::{FunctionConfig, FunctionError};
use serde_json::{Value, json};

async fn handle(config: &FunctionConfig, function_arn: &str) -> Result<Value, FunctionError> {
    let (lake, store) = jobs::open(config).await?;
    let settings = jobs::settings(&lake).await?;
    let notifier = AnyNotifier::for_function(config, function_arn);
    let now = jobs::now();
    let m = monitor::run(&lake, &store, &settings.monitor_job(now, true)).await?;
    for line in mlinfra_core::monitor::export::emf_lines(&settings.stack, &m.report, now * 1000) {
        println!("{line}");
    }
    let delivered = match &m.alert {
        Some(a) => Some(jobs::deliver(&notifier, &lake, a).await.is_ok()),
        None => None,
    };
    let reason = m.report.decision.retrain_reasons.join(", ");
    let retrained = match (&m.retrain, &config.retrain_function) {
        (false, _) => Value::Null,
        (true, Some(function)) => invoke_train(function, &reason).await?,
        (true, None) => {
            let t = train::retrain(
                &lake,
                &settings.registry(store),
                &train::Job {
                    memory: Some(("monitor", config.memory_mb)),
                    ..settings.train_job(monitor::ACTOR, &reason)
                },
            )
            .await?;
            let note =
                train::notify(&lake, &t, &settings.pipeline.model_name, &reason, now).await?;
            let _ = jobs::deliver(&notifier, &lake, &note).await;
            json!({
                "run_id": t.out.run.run_id,
                "registered_version": t.registered.as_ref().map(|v| v.version),
                "not_registered": t.not_registered,
                "request": t.request,
            })
        }
    };
    Ok(json!({
        "report": m.report_key,
        "dataset_drift": m.report.dataset.drifted,
        "drifted_features": m.report.dataset.drifted_features,
        "violations": m.report.decision.violations,
        "alert": m.alert.map(|a| a.id),
        "alert_delivered": delivered,
        "retrain": m.retrain,
        "retrain_skipped": m.report.decision.retrain_skipped,
        "retrained": retrained,
    }))
}

/// Start the `train` function without waiting for it (`InvocationType=Event`): Lambda queues
/// the event and answers 202.
#[cfg(feature = "aws")]
async fn invoke_train(function: &str, reason: &str) -> Result<Value, FunctionError> {
    let aws = mlinfra_core::aws_env::AwsEnv::for_function()?;
    let payload = json!({"source": "mlinfra.monitor", "reason": reason});
    let status = aws
        .invoke_event(function, "live", &payload)
        .await
        .map_err(|message| FunctionError {
            error_type: "mlinfra.RetrainNotStarted",
            message,
            retryable: true,
        })?;
    Ok(json!({"invoked": format!("{function}:live"), "status": status, "reason": reason}))
}

#[cfg(not(feature = "aws"))]
async fn invoke_train(function: &str, _: &str) -> Result<Value, FunctionError> {
    Err(FunctionError {
        error_type: "mlinfra.NotBuilt",
        message: format!("invoking `{function}` needs a build with the feature `aws`"),
        retryable: false,
    })
}

/// On Azure Functions: the timer trigger of the monitoring schedule.
#[cfg(feature = "azure")]
async fn custom_handler(config: FunctionConfig, port: u16) -> Result<(), lambda_runtime::Error> {
    let config = std::sync::Arc::new(config);
    mlinfra_core::custom_handler::run_events(port, "monitor", config, |config, _, _| async move {
        handle(&config, "").await
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
        handle(config, &e.context.invoked_function_arn).await
    }))
    .await
}
