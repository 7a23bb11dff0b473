//! The `monitor` function as an AWS Lambda (`provided.al2023`, a `bootstrap` binary).
//!
//! On its daily EventBridge event (or any invocation): drift of the window's traffic against
//! the training data, accuracy and F1 from feedback, the report and an alert in the lake
//! (`mlinfra_core::jobs::monitor`). The metrics go to the log in CloudWatch's embedded metric
//! format, where the alarms `mlinfra up` creates (→ SNS) watch them. When the policy asks for
//! retraining (and the cooldown allows), the training runs in this invocation (invoking the
//! `train` function asynchronously instead is not built yet). Lake and registry: the S3 bucket
//! and the DynamoDB table of the `aws`/`localstack` environments, or a local environment's
//! directories (`mlinfra_core::jobs::open`).

use lambda_runtime::{LambdaEvent, service_fn};
use mlinfra_core::jobs::{self, monitor, train};
use mlinfra_core::{FunctionConfig, FunctionError};
use serde_json::{Value, json};

async fn handle(config: &FunctionConfig) -> Result<Value, FunctionError> {
    let (lake, store) = jobs::open(config).await?;
    let settings = jobs::settings(&lake).await?;
    let now = jobs::now();
    let m = monitor::run(&lake, &store, &settings.monitor_job(now, true)).await?;
    for line in mlinfra_core::monitor::export::emf_lines(&settings.stack, &m.report, now * 1000) {
        println!("{line}");
    }
    if let Some(a) = &m.alert {
        eprintln!("alert: {}", a.summary);
    }
    let mut retrained = Value::Null;
    if m.retrain {
        let reason = m.report.decision.retrain_reasons.join(", ");
        let t = train::retrain(
            &lake,
            &settings.registry(store),
            &settings.train_job(monitor::ACTOR, &reason),
        )
        .await?;
        let note = train::notify(&lake, &t, &settings.pipeline.model_name, &reason, now).await?;
        eprintln!("notify: {}", note.summary);
        retrained = json!({
            "run_id": t.out.run.run_id,
            "registered_version": t.registered.as_ref().map(|v| v.version),
            "not_registered": t.not_registered,
            "request": t.request,
        });
    }
    Ok(json!({
        "report": m.report_key,
        "dataset_drift": m.report.dataset.drifted,
        "drifted_features": m.report.dataset.drifted_features,
        "violations": m.report.decision.violations,
        "alert": m.alert.map(|a| a.id),
        "retrain": m.retrain,
        "retrained": retrained,
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let config = mlinfra_core::lambda::config_or_exit(jobs::check_sources);
    let config = &config;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        handle(config).await
    }))
    .await
}
