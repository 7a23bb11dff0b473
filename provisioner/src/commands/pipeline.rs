//! `mlinfra pipeline run`: the whole chain, run here on the environment's data: every artifact
//! written to its data lake (the local directory, or S3 on `aws`/`localstack`), a blessed model
//! registered in its registry (DynamoDB in the cloud).
//!
//! ```text
//! raw/<file>                                   the input, as given
//! curated/<data>/data.csv, split.json          the data and its train/eval rows
//! artifacts/statistics/<data>.json             StatisticsGen
//! artifacts/schema/<version>.json              SchemaGen
//! artifacts/anomalies/<data>.json              ExampleValidator
//! artifacts/runs/<run>/run.json                the run record (deterministic)
//! artifacts/runs/<run>/search.json, evaluation.json, timings.json
//! models/<model>/<run>/model.onnx, model.json  the exported model and its in-memory form
//! ```

use mlinfra_core::metrics::Evaluated;
use std::fmt::Write as _;

use mlinfra_core::any::AnyLake;
use mlinfra_core::jobs::JobError;
use mlinfra_core::jobs::train::{self, FileRunError};
use mlinfra_core::lake::Lake as _;
use serde_json::json;

use super::{Context, Failure};
use crate::app::input::{as_csv, data_path, read_bytes};
use crate::cli::{Global, PipelineCommand, PipelineRunArgs};
use crate::report::num;

/// Where an object of the lake is, as people read it: a path for a local lake, else its URI.
fn at(lake: &AnyLake, key: &str) -> String {
    let uri = lake.uri(key);
    mlinfra_core::lake::file_path(&uri).map_or(uri, |p| p.display().to_string())
}

pub async fn run(g: &Global, cmd: &PipelineCommand) -> Result<i32, Failure> {
    let PipelineCommand::Run(args) = cmd;
    run_pipeline(g, args).await
}

async fn run_pipeline(g: &Global, run_args: &PipelineRunArgs) -> Result<i32, Failure> {
    let args = &run_args.data;
    let cx = Context::any_env(g)?;
    let stack = &cx.loaded.stack;
    let (lake, registry, who) =
        crate::app::platform::platform(&cx, &run_args.identity.actor).await?;
    let mirror = crate::app::mirror::sagemaker(&cx).await?;
    let cfg = crate::app::settings::pipeline(stack, args.label.as_deref())?;
    let path = data_path(args, Some(stack))?;
    let raw = read_bytes(&path)?;
    let bytes = as_csv(&path, &raw)?;
    cx.out.progress(format!(
        "running the pipeline on `{}` ({} bytes)",
        crate::stack::shown(&path),
        raw.len()
    ));
    let register = !run_args.no_register;
    // Who registers must be known; the run record names whoever it can.
    let actor = if register {
        who.get()?
    } else {
        who.get().unwrap_or_else(|_| "unknown".into())
    };
    let job = train::Job {
        cfg: &cfg,
        actor: &actor,
        register,
        request_production: false,
        reason: "pipeline run",
        memory: None,
    };
    let file_name = path
        .file_name()
        .map_or("data.csv".into(), |n| n.to_string_lossy().to_string());
    // The same use-case as `retrain` and the train function, on this file.
    let t = match train::train_on_file(&lake, &registry, &file_name, &raw, &bytes, &job).await {
        Ok(t) => t,
        Err(FileRunError::Anomalies { anomalies: a, key }) => {
            return Err(Failure::new(format!(
                "`{}`: {} anomalies block training: {}\nhint: see `{}`, or `mlinfra data validate --data {}`",
                crate::stack::shown(&path),
                a.errors().count(),
                a.errors()
                    .map(|x| x.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
                at(&lake, &key),
                crate::stack::shown(&path)
            )));
        }
        Err(FileRunError::Job(JobError::Pipeline(e))) => {
            return Err(Failure::new(format!(
                "`{}`: {e}",
                crate::stack::shown(&path)
            )));
        }
        Err(FileRunError::Job(e)) => return Err(Failure::new(e.to_string())),
    };
    let out = &t.out;
    let run = &out.run.run_id;
    let e = &out.evaluation;
    let best = &out.search.trials[out.search.best];
    let mut text = String::new();
    let non_finite = match out.non_finite_targets.as_slice() {
        [] => String::new(),
        lines => format!(
            ", {} with a label that is not a finite number dropped (line {})",
            lines.len(),
            lines
                .iter()
                .take(10)
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
                + if lines.len() > 10 { ", ..." } else { "" }
        ),
    };
    let _ = writeln!(
        text,
        "data      {} rows ({} without a label dropped{non_finite}), {}",
        out.run.rows, out.dropped_unlabelled, out.data_hash
    );
    if out.split.train_classes.is_empty() {
        let _ = writeln!(
            text,
            "split     {} train / {} eval",
            out.split.train, out.split.eval
        );
    } else {
        let _ = writeln!(
            text,
            "split     {} train / {} eval (classes {:?} / {:?})",
            out.split.train, out.split.eval, out.split.train_classes, out.split.eval_classes
        );
    }
    let _ = writeln!(
        text,
        "schema    {} ({} warnings)",
        out.run.schema_version,
        out.anomalies.anomalies.len()
    );
    let _ = writeln!(
        text,
        "search    {} trials, {}-fold CV {}: best {} = {}{}",
        out.search.trials.len(),
        cfg.search.folds,
        cfg.search.metric,
        serde_json::to_string(&best.params).unwrap_or_default(),
        num(best.score),
        best.stopped_at.map_or(String::new(), |r| format!(
            "; early stopping kept {r} rounds"
        ))
    );
    match e {
        Evaluated::Classification(e) => {
            let _ = writeln!(
                text,
                "eval      roc_auc {}  accuracy {}  f1 {}  log_loss {}  brier {}  ece {}",
                num(e.roc_auc),
                num(e.accuracy),
                num(e.f1_score),
                num(e.log_loss),
                num(e.brier),
                num(e.ece)
            );
        }
        Evaluated::Regression(e) => {
            let _ = writeln!(
                text,
                "eval      rmse {}  mae {}  r2 {}  mape {}",
                num(e.rmse),
                num(e.mae),
                num(e.r2),
                num(e.mape)
            );
        }
    }
    if let Some(i) = &out.run.interval {
        let _ = writeln!(
            text,
            "interval  {:.0}%: value ± {} (calibrated on {} out-of-fold errors); covers {:.1}% of the {} eval rows",
            i.level * 100.0,
            num(i.half_width),
            i.calibration_rows,
            i.coverage * 100.0,
            i.checked_rows
        );
    }
    let _ = writeln!(
        text,
        "blessing  {}: {}",
        if out.run.blessing.blessed {
            "blessed"
        } else {
            "not blessed"
        },
        out.run.blessing.reason
    );
    let _ = writeln!(
        text,
        "model     {}",
        at(
            &lake,
            &format!("models/{}/{run}/model.onnx", cfg.model_name)
        )
    );
    match (&t.registered, &t.not_registered) {
        (Some(v), _) => {
            let _ = writeln!(
                text,
                "registry  registered as version {} ({}) by {actor}",
                v.version, v.stage
            );
        }
        (None, Some(why)) if !out.run.blessing.blessed => {
            let _ = writeln!(text, "registry  not registered: {why}");
        }
        (None, Some(why)) if register => {
            let _ = writeln!(text, "registry  {why}");
        }
        _ => {}
    }
    let _ = writeln!(
        text,
        "run       {} ({} ms)",
        at(&lake, &mlinfra_core::keys::run_record(run)),
        num(out.timings.total_ms.round())
    );
    let mut artifacts = t.keys.clone();
    artifacts.push(mlinfra_core::keys::CURATED_LATEST.to_string());
    cx.out.result(
        text,
        &json!({
            "run": out.run,
            "registered_version": t.registered.as_ref().map(|v| v.version),
            "split": {"train": out.split.train, "eval": out.split.eval},
            "artifacts": artifacts.iter().map(|k| at(&lake, k)).collect::<Vec<_>>(),
            "timings": out.timings,
        }),
    );
    if t.registered.is_some()
        && let Some(s) = &mirror
    {
        s.follow(&registry, &stack.model.name).await;
    }
    Ok(0)
}
