//! The use case each function runs on an event, over its [`Platform`]: the ETL of new `raw/`
//! objects, a retraining, the monitor's check and what its policy asks for, and the prediction
//! service. Their answers are the functions' responses (the log of an invocation, what
//! `mlinfra invoke` prints).

use serde_json::{Value, json};

use super::{Event, Platform, S3Event, TrainEvent};
use crate::FunctionError;
use crate::jobs::{self, etl, monitor, train};

/// `etl`: each new object (the S3 event's records, or the blob trigger's blob) validated and
/// curated, or quarantined with an alert; the answer lists what happened to each, in order.
pub async fn etl(p: &Platform, event: Event) -> Result<Value, FunctionError> {
    let keys = match event {
        Event::Lambda { payload, .. } => S3Event::keys(payload)?,
        #[cfg(feature = "custom-handler")]
        Event::Azure { metadata, .. } => vec![crate::custom_handler::blob_key(&metadata)?],
        #[cfg(not(feature = "custom-handler"))]
        Event::Azure { .. } => {
            return Err(FunctionError::invalid_event(
                "a blob trigger needs a build with the feature `azure`",
            ));
        }
    };
    let settings = jobs::settings(&p.lake).await?;
    let mut out = vec![];
    for key in &keys {
        let job = settings.etl_job(jobs::now());
        let done = etl::ingest_and_notify(&p.lake, key, &job, &crate::notify::LogNotifier).await?;
        out.push(serde_json::to_value(&done).unwrap_or(Value::Null));
    }
    Ok(json!({ "objects": out }))
}

/// `train`: one retraining on the current curated data (the weekly schedule's event, the timer
/// on Azure, or an invocation such as the monitor's), its notification delivered.
pub async fn train(p: &Platform, event: Event) -> Result<Value, FunctionError> {
    let reason = match &event {
        Event::Lambda { payload, .. } => TrainEvent::reason(payload.clone()),
        Event::Azure { data, .. } => {
            #[cfg(feature = "custom-handler")]
            if crate::custom_handler::past_due(data) {
                eprintln!("the retraining timer is past due: running now");
            }
            let _ = data;
            "schedule".to_string()
        }
    };
    let settings = jobs::settings(&p.lake).await?;
    let r = train::retrain_and_notify(
        &p.lake,
        &settings.registry(p.store.clone()),
        &train::Job {
            memory: Some(("train", p.config.memory_mb)),
            ..settings.train_job(train::SCHEDULE_ACTOR, &reason)
        },
        &p.notifier(event.function_arn()),
        jobs::now(),
    )
    .await?;
    let t = &r.trained;
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
        "notification": r.note.id,
        "notification_delivered": r.delivered,
    }))
}

/// `monitor`: drift of the window's traffic against the training data, accuracy and F1 from
/// feedback, the report and an alert in the lake; the metrics to the log in CloudWatch's
/// embedded metric format; the alert delivered. When the policy asks for retraining (and the
/// cooldown allows), `train` is invoked asynchronously at its alias `live`; without a train
/// function (a local environment, Azure) the retraining runs in this invocation.
pub async fn monitor(p: &Platform, event: Event) -> Result<Value, FunctionError> {
    let settings = jobs::settings(&p.lake).await?;
    let notifier = p.notifier(event.function_arn());
    let now = jobs::now();
    let job = settings.monitor_job(now, true);
    let (m, delivered) = monitor::run_and_notify(&p.lake, &p.store, &job, &notifier).await?;
    for line in crate::monitor::export::emf_lines(&settings.stack, &m.report, now * 1000) {
        println!("{line}");
    }
    let reason = m.report.decision.retrain_reasons.join(", ");
    let retrained = match (&m.retrain, &p.config.retrain_function) {
        (false, _) => Value::Null,
        (true, Some(function)) => invoke_train(function, &reason).await?,
        (true, None) => {
            let r = train::retrain_and_notify(
                &p.lake,
                &settings.registry(p.store.clone()),
                &train::Job {
                    memory: Some(("monitor", p.config.memory_mb)),
                    ..settings.train_job(monitor::ACTOR, &reason)
                },
                &notifier,
                now,
            )
            .await?;
            let t = &r.trained;
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
#[cfg(feature = "invoke")]
async fn invoke_train(function: &str, reason: &str) -> Result<Value, FunctionError> {
    let aws = crate::aws_env::AwsEnv::for_function()?;
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

#[cfg(not(feature = "invoke"))]
async fn invoke_train(function: &str, _: &str) -> Result<Value, FunctionError> {
    Err(FunctionError {
        error_type: "mlinfra.NotBuilt",
        message: format!("invoking `{function}` needs a build with the feature `aws`"),
        retryable: false,
    })
}
