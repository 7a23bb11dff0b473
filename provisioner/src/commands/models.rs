//! `mlinfra models list|show|register|request|approve|reject|rollback|audit|sync`: the model
//! registry of any environment (a directory locally, the stack's DynamoDB table on
//! `aws`/`localstack`, a blob container on `azurite`; [`crate::app::platform`]), its workflow
//! `mlinfra_core::registry`'s, the SageMaker mirror brought in step after every change.

use std::fmt::Write as _;

use mlinfra_core::any::AnyLake;
use mlinfra_core::lake::LocalLake;
use mlinfra_core::registry::{
    Event, ModelDoc, Registry, RegistryError, RollbackOutcome, Stage, Store,
};
use serde_json::json;

use super::{Context, Failure};
use crate::app::platform::{Who, platform};
use crate::cli::{Global, ModelsArgs, ModelsCommand, OutputFormat};
use crate::report::{num, table};

fn fail(e: RegistryError) -> Failure {
    Failure::new(e.to_string())
}

fn list_text(doc: &ModelDoc) -> String {
    let rows: Vec<Vec<String>> = doc
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                v.stage.to_string(),
                v.metrics.get("roc_auc").map_or(String::new(), |x| num(*x)),
                v.run_id.clone(),
                v.created_by.clone(),
                v.created_at.clone(),
            ]
        })
        .collect();
    let mut t = format!("model `{}`\n\n", doc.model);
    t.push_str(&table(
        &[
            "version",
            "stage",
            "roc_auc",
            "run",
            "created by",
            "created at",
        ],
        &rows,
    ));
    let pending: Vec<_> = doc
        .requests
        .iter()
        .filter(|r| r.status == mlinfra_core::registry::RequestStatus::Pending)
        .collect();
    if !pending.is_empty() {
        t.push_str("\npending requests:\n");
        for r in pending {
            let _ = writeln!(
                t,
                "  {}  version {} {} -> {}{}  by {} at {}{}",
                r.id,
                r.version,
                r.from,
                r.to,
                if r.rollback { " (rollback)" } else { "" },
                r.requested_by,
                r.requested_at,
                if r.comment.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.comment)
                }
            );
        }
    }
    t
}

fn audit_csv(events: &[Event]) -> String {
    let mut w = csv_writer();
    let _ = w.write_record([
        "seq",
        "at",
        "actor",
        "action",
        "model",
        "version",
        "from",
        "to",
        "comment",
        "request",
        "model_sha256",
        "run_id",
        "data_hash",
    ]);
    for e in events {
        let stage = |s: Option<Stage>| s.map_or(String::new(), |s| s.to_string());
        let _ = w.write_record([
            e.seq.to_string(),
            e.at.clone(),
            e.actor.clone(),
            e.action.to_string(),
            e.model.clone(),
            e.version.to_string(),
            stage(e.from),
            stage(e.to),
            e.comment.clone(),
            e.request.clone().unwrap_or_default(),
            e.model_sha256.clone(),
            e.run_id.clone(),
            e.data_hash.clone(),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

fn audit_text(events: &[Event]) -> String {
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let moved = match (e.from, e.to) {
                (Some(f), Some(t)) if f != t => format!("{f} -> {t}"),
                (_, Some(t)) => t.to_string(),
                _ => String::new(),
            };
            vec![
                e.seq.to_string(),
                e.at.clone(),
                e.actor.clone(),
                e.action.to_string(),
                format!("v{}", e.version),
                moved,
                e.request.clone().unwrap_or_default(),
                e.comment.clone(),
            ]
        })
        .collect();
    table(
        &[
            "seq", "at", "actor", "action", "version", "stage", "request", "comment",
        ],
        &rows,
    )
}

pub async fn run(g: &Global, args: &ModelsArgs) -> Result<i32, Failure> {
    let cx = Context::any_env(g)?;
    if cx.env == crate::stack::EnvKind::Local {
        let reg = crate::app::platform::local_registry(&cx)?;
        let lake = AnyLake::Local(LocalLake::new(cx.root.join("lake")));
        return act(
            &cx,
            args,
            reg,
            &lake,
            Who::Named(args.identity.actor.clone()),
            None,
        )
        .await;
    }
    let (lake, reg, who) = platform(&cx, &args.identity.actor).await?;
    let mirror = crate::app::mirror::sagemaker(&cx).await?;
    act(&cx, args, reg, &lake, who, mirror.as_ref()).await
}

async fn act<S: Store>(
    cx: &Context,
    args: &ModelsArgs,
    reg: Registry<S>,
    lake: &AnyLake,
    who: Who,
    mirror: Option<&crate::app::mirror::SageMaker>,
) -> Result<i32, Failure> {
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| cx.loaded.stack.model.name.clone());
    let m = model.as_str();
    let who = || who.get();
    let mut code = 0;
    match &args.command {
        ModelsCommand::List => {
            // The stack's own model without versions is a state, not an error: none yet. Another
            // name that the registry does not know is likely a typo, and an error.
            let doc = match reg.doc(m).await {
                Ok(doc) => doc,
                Err(RegistryError::UnknownModel(_)) if m == cx.loaded.stack.model.name => {
                    ModelDoc::new(m)
                }
                Err(e) => return Err(fail(e)),
            };
            let text = if doc.versions.is_empty() {
                format!(
                    "model `{m}` has no versions yet: `mlinfra pipeline run` trains one and registers it when it is blessed\n"
                )
            } else {
                list_text(&doc)
            };
            cx.out.result(text, &doc);
        }
        ModelsCommand::Show { version } => {
            let doc = reg.doc(m).await.map_err(fail)?;
            let v = match version {
                Some(n) => doc.version(*n).cloned().ok_or_else(|| {
                    fail(RegistryError::UnknownVersion {
                        model: m.to_string(),
                        version: *n,
                        available: doc.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>().join(", "),
                    })
                })?,
                None => doc
                    .in_stage(Stage::Production)
                    .cloned()
                    .ok_or_else(|| Failure::new(format!("model `{m}` has no Production version; name one: `mlinfra models show VERSION`")))?,
            };
            let mut t = String::new();
            let _ = writeln!(t, "model      {m}");
            let _ = writeln!(t, "version    {} ({})", v.version, v.stage);
            let _ = writeln!(t, "artifact   {}", v.artifact_uri);
            let _ = writeln!(t, "sha256     {}", v.sha256);
            let _ = writeln!(t, "run        {}", v.run_id);
            let _ = writeln!(t, "data       {}", v.data_hash);
            let _ = writeln!(t, "schema     {}", v.schema_version);
            let _ = writeln!(t, "created    {} by {}", v.created_at, v.created_by);
            for (k, x) in &v.metrics {
                let _ = writeln!(t, "{k:<10} {}", num(*x));
            }
            let card = mlinfra_core::jobs::import::card_of(lake, &v).await?;
            if let Some((c, source)) = &card {
                let features: Vec<String> = c.input.features.iter().map(|f| f.name.clone()).collect();
                let _ = writeln!(t, "imported   from {}", source.as_deref().unwrap_or("?"));
                let _ = writeln!(
                    t,
                    "card       {}, {} features ({}){}",
                    c.task.name(),
                    features.len(),
                    features.join(", "),
                    if c.output.classes.is_empty() {
                        String::new()
                    } else {
                        format!(", classes {}", c.output.classes.join(", "))
                    }
                );
            }
            let mut shown = serde_json::to_value(&v).unwrap_or_default();
            if let Some((c, source)) = &card {
                shown["card"] = serde_json::to_value(c).unwrap_or_default();
                shown["imported_from"] = serde_json::to_value(source).unwrap_or_default();
            }
            match mirror {
                Some(s) => {
                    let state = s.state(&reg, m).await;
                    let _ = writeln!(t, "sagemaker  {}", state.line());
                    shown["sagemaker_mirror"] = serde_json::to_value(&state).unwrap_or_default();
                    cx.out.result(t, &shown);
                }
                None => cx.out.result(t, &shown),
            }
        }
        ModelsCommand::Import(a) => {
            code = import(cx, a, &reg, lake, m, &who).await?;
        }
        ModelsCommand::Register { run } => {
            let c = mlinfra_core::jobs::runs::candidate(lake, m, run)
                .await
                .map_err(|e| Failure::new(e.to_string()))?;
            let v = reg.register(m, c, &who()?).await.map_err(fail)?;
            cx.out.result(format!("Registered `{m}` version {} ({}) from run {run}.\n", v.version, v.stage), &v);
        }
        ModelsCommand::Request { version, to, message } => {
            let to: Stage = to.parse().map_err(Failure::new)?;
            let r = reg.request(m, *version, to, message, &who()?).await.map_err(fail)?;
            let text = match r.status {
                mlinfra_core::registry::RequestStatus::Pending => format!(
                    "Requested `{}`: version {} {} -> {}. Someone other than {} approves it with `mlinfra models approve {}`.\n",
                    r.id, r.version, r.from, r.to, r.requested_by, r.id
                ),
                _ => format!("Version {} moved to {} (automatic by policy).\n", r.version, r.to),
            };
            cx.out.result(text, &r);
        }
        ModelsCommand::Approve { request, message } | ModelsCommand::Reject { request, message } => {
            let approve = matches!(args.command, ModelsCommand::Approve { .. });
            let actor = who()?;
            let r = if approve {
                reg.approve(m, request, message, &actor).await
            } else {
                reg.reject(m, request, message, &actor).await
            }
            .map_err(fail)?;
            let mut text = format!(
                "{} `{}` (version {} {} -> {}) requested by {}.\n",
                if approve { "Approved" } else { "Rejected" },
                r.id,
                r.version,
                r.from,
                r.to,
                r.requested_by
            );
            if approve && r.to == Stage::Production {
                let doc = reg.doc(m).await.map_err(fail)?;
                if let Some(old) = doc.versions.iter().filter(|v| v.stage == Stage::Archived).max_by_key(|v| v.version) {
                    let _ = writeln!(text, "Version {} is in Production; version {} is archived.", r.version, old.version);
                }
            }
            cx.out.result(text, &r);
        }
        ModelsCommand::Rollback { message } => match reg.rollback(m, message, &who()?).await.map_err(fail)? {
            RollbackOutcome::Done(v) => {
                cx.out.result(format!("Rolled back: version {v} is in Production again (emergency rollback).\n"), &json!({"rolled_back_to": v}))
            }
            RollbackOutcome::Requested(r) => cx.out.result(
                format!(
                    "Requested rollback `{}` to version {}. Someone other than {} approves it with `mlinfra models approve {}`.\n",
                    r.id, r.version, r.requested_by, r.id
                ),
                &r,
            ),
        },
        ModelsCommand::Sync => match mirror {
            None => cx.out.result(
                format!("Nothing to sync: the registry of `{}` has no mirror (`registry.sagemaker_mirror` applies to --env aws|localstack).\n", cx.env.as_str()),
                &json!({"mirror": null}),
            ),
            Some(s) => {
                let done = s.sync(&reg, m).await.map_err(|e| {
                    Failure::new(format!("the SageMaker mirror could not be brought in step: {e}\nhint: the registry is unchanged; run `mlinfra models sync` again once SageMaker is reachable"))
                })?;
                cx.out.result(
                    format!(
                        "SageMaker is in step with the registry of `{m}`: {} package(s) created, {} status(es) updated.\n",
                        done.created.len(),
                        done.updated.len()
                    ),
                    &done,
                );
            }
        },
        ModelsCommand::Audit => {
            let events = reg.store.audit(m).await.map_err(fail)?;
            match cx.out.format {
                OutputFormat::Csv => crate::output::print(audit_csv(&events)),
                _ => cx.out.result(audit_text(&events), &events),
            }
        }
    }
    let changed = matches!(
        args.command,
        ModelsCommand::Register { .. }
            | ModelsCommand::Import(_)
            | ModelsCommand::Request { .. }
            | ModelsCommand::Approve { .. }
            | ModelsCommand::Reject { .. }
            | ModelsCommand::Rollback { .. }
    );
    if changed && let Some(s) = mirror {
        s.follow(&reg, m).await;
    }
    Ok(code)
}

/// `mlinfra models import FILE`: the card written from the graph when there is none (nothing
/// registered), else the import use case ([`mlinfra_core::jobs::import`]) and its outcome.
async fn import<S: Store>(
    cx: &Context,
    a: &crate::cli::ImportModelArgs,
    reg: &Registry<S>,
    lake: &AnyLake,
    model: &str,
    who: &dyn Fn() -> Result<String, Failure>,
) -> Result<i32, Failure> {
    use mlinfra_core::jobs::import::{self, Evaluated};
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p)
            .map_err(|e| Failure::new(format!("cannot read the {what} `{}`: {e}", p.display())))
    };
    let bytes = read(&a.onnx, "model file")?;
    let card_path = a
        .card
        .clone()
        .unwrap_or_else(|| a.onnx.with_extension("card.yaml"));
    if a.card.is_none() && !card_path.exists() {
        let imported = mlinfra_core::onnx::import::Imported::load(&bytes)
            .map_err(|e| Failure::new(format!("`{}`: {e}", a.onnx.display())))?;
        let name = a
            .onnx
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        std::fs::write(
            &card_path,
            crate::card::render(&imported.infer_card(), &name),
        )
        .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", card_path.display())))?;
        return Err(Failure::new(format!(
            "wrote the card `{}`, inferred from the graph of `{}`; nothing is registered yet\nhint: check the card (the inputs' names and types; the classes, or a regression's value), then import again with labelled data: `mlinfra models import {} --data EVAL.csv --label COLUMN`",
            crate::stack::shown(&card_path),
            crate::stack::shown(&a.onnx),
            crate::stack::shown(&a.onnx),
        )));
    }
    let src = String::from_utf8(read(&card_path, "model card")?).map_err(|_| {
        Failure::new(format!(
            "the model card `{}` is not UTF-8 text",
            card_path.display()
        ))
    })?;
    let card =
        crate::card::parse(&crate::stack::shown(&card_path), &src).map_err(Failure::rendered)?;
    let (Some(data), Some(label)) = (&a.data, &a.label) else {
        return Err(Failure::new(format!(
            "importing needs labelled data to evaluate the model on\nhint: `mlinfra models import {} --data EVAL.csv --label COLUMN`",
            crate::stack::shown(&a.onnx)
        )));
    };
    let data_bytes = read(data, "evaluation data")?;
    // A text model's tokenizer file, named by the card relative to itself.
    let tokenizer = match &card.input.text {
        Some(t) => {
            let path = card_path
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(&t.tokenizer);
            Some(read(&path, "tokenizer file (`input.text.tokenizer`)")?)
        }
        None => None,
    };
    // An image model's pictures, by their paths relative to the evaluation manifest.
    let pictures = crate::app::input::pictures_under(
        data.parent()
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf(),
    );
    let actor = &who()?;
    let settings = crate::app::settings::jobs(&cx.loaded.stack)?;
    let what = import::ToImport {
        model,
        bytes: &bytes,
        card: &card,
        tokenizer: tokenizer.as_deref(),
        pictures: &pictures,
        data: &data_bytes,
        data_name: &crate::stack::shown(data),
        label,
        policy: &settings.pipeline.policy,
        interval_level: cx.loaded.stack.model.interval_level,
        actor,
    };
    let out = import::import(lake, reg, &what).await?;
    let mut t = String::new();
    for r in &out.rewrites {
        let _ = writeln!(t, "rewrote   {r}");
    }
    match &out.evaluation {
        Evaluated::Classification(e) => {
            let _ = writeln!(
                t,
                "evaluated {} rows: roc_auc {}  accuracy {}  f1 {}  log_loss {}",
                e.rows,
                num(e.roc_auc),
                num(e.accuracy),
                num(e.f1_score),
                num(e.log_loss)
            );
        }
        Evaluated::Regression(e) => {
            let _ = writeln!(
                t,
                "evaluated {} rows: rmse {}  mae {}  r2 {}  mape {}",
                e.rows,
                num(e.rmse),
                num(e.mae),
                num(e.r2),
                num(e.mape)
            );
        }
    }
    if let Some(i) = &out.interval {
        let _ = writeln!(
            t,
            "interval  {}%: value ± {} (calibrated on {} rows; covers {} of {} other rows)",
            num(i.level * 100.0),
            num(i.half_width),
            i.calibration_rows,
            num(i.coverage),
            i.checked_rows
        );
    }
    if let Some(why) = &out.interval_missing {
        let _ = writeln!(t, "interval  none: {why}");
    }
    let b = &out.blessing;
    let _ = writeln!(
        t,
        "blessing  {}: {}",
        if b.blessed { "blessed" } else { "not blessed" },
        b.reason
    );
    let code = match &out.registered {
        Some(v) => {
            let _ = writeln!(
                t,
                "registry  registered `{model}` version {} ({}) by {actor}",
                v.version, v.stage
            );
            let _ = writeln!(
                t,
                "hint: `mlinfra models request {} --to production --as {actor}`, then another person approves",
                v.version
            );
            0
        }
        None => {
            let _ = writeln!(t, "registry  nothing registered");
            1
        }
    };
    cx.out.result(t, &out);
    Ok(code)
}
