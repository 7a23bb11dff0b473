//! The user's own training code (the stack's `training:`), for a model imported from another
//! tool: run as a subprocess on the curated data, what it writes imported through the same
//! path as `mlinfra models import` (evaluation, blessing, Staging), and Production requested;
//! a person other than the one who retrained approves it. Its command line, exit status,
//! duration and the end of its output are kept as the run's record in the lake.
//!
//! On `local` it runs here, under `retrain` and `serve`'s schedule. Elsewhere it is a SageMaker
//! training job with the user's image, which is not built yet: the error says so.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mlinfra_core::jobs::{self, import};
use mlinfra_core::lake::Lake;
use mlinfra_core::registry::{Registry, Stage, Store};
use serde::Serialize;
use serde_json::json;

use crate::app::{Context, Failure};
use crate::stack::Stack;
use crate::stack::schema::{EnvKind, Training};

/// How much of the command's output the run's record keeps (its end).
const OUTPUT_TAIL: usize = 16 * 1024;

/// What one run of the training command did: the run's record.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    pub command: Vec<String>,
    pub started_at: u64,
    pub seconds: f64,
    /// `None` when it was stopped (the timeout) or killed by a signal.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// The end of what it wrote.
    pub stdout: String,
    pub stderr: String,
    /// The curated data it was given (`sha256:`).
    pub data_hash: String,
    pub output_dir: String,
}

/// The end of `bytes` as text, at most [`OUTPUT_TAIL`] bytes.
fn tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(OUTPUT_TAIL);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// Where a stack trains: its file's directory (the command's working directory) and the local
/// environment's directory (each run's data, output and logs under `training/<time>/`).
pub struct Place<'a> {
    pub stack: &'a Stack,
    pub stack_dir: PathBuf,
    pub root: PathBuf,
}

impl<'a> Place<'a> {
    /// The place of `cx`'s stack; an error on an environment other than `local`.
    pub fn of(cx: &'a Context) -> Result<Place<'a>, Failure> {
        if cx.env != EnvKind::Local {
            return Err(Failure::new(format!(
                "`training.command` runs on the `local` environment only: on `{}` it is to run as a SageMaker training job with your image, which this mlinfra does not build yet",
                cx.env.as_str()
            )));
        }
        Ok(Place {
            stack: &cx.loaded.stack,
            stack_dir: cx.loaded.dir().to_path_buf(),
            root: cx.root.clone(),
        })
    }
}

/// Run `training.command` once and import what it wrote. The text and JSON of the outcome;
/// `progress` hears what is under way.
pub async fn retrain<S: Store>(
    place: &Place<'_>,
    lake: &impl Lake,
    registry: &Registry<S>,
    training: &Training,
    actor: &str,
    reason: &str,
    progress: &dyn Fn(String),
) -> Result<(String, serde_json::Value), Failure> {
    let stack = place.stack;
    let latest: Option<jobs::CuratedPointer> =
        jobs::read_json(lake, mlinfra_core::keys::CURATED_LATEST)
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
    let Some(latest) = latest else {
        return Err(Failure::new(
            "there is no curated data to train on yet\nhint: `mlinfra data ingest FILE` (or `mlinfra pipeline run`)",
        ));
    };
    let data = lake
        .get(&latest.key)
        .await
        .map_err(|e| Failure::new(e.to_string()))?
        .ok_or_else(|| {
            Failure::new(format!(
                "the curated data `{}` is not in the lake",
                lake.uri(&latest.key)
            ))
        })?;
    let started_at = jobs::now();
    let dir = place.root.join("training").join(started_at.to_string());
    let output = dir.join("output");
    std::fs::create_dir_all(&output)
        .map_err(|e| Failure::new(format!("cannot create `{}`: {e}", output.display())))?;
    let data_path = dir.join("data.csv");
    std::fs::write(&data_path, &data)
        .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", data_path.display())))?;
    let workdir = place.stack_dir.clone();
    progress(format!(
        "running the training command ({}) on {} rows",
        training.command.join(" "),
        latest.rows
    ));
    let run = run_command(
        training,
        &workdir,
        &[
            ("MLINFRA_DATA", abs(&data_path)),
            ("MLINFRA_LABEL", stack.dataset.label.column.clone()),
            ("MLINFRA_OUTPUT", abs(&output)),
        ],
        started_at,
        &latest.data_hash,
        &output,
    )?;
    let record_key = format!("artifacts/training/{started_at:011}.json");
    let record = serde_json::to_vec_pretty(&run).unwrap_or_default();
    lake.put(&record_key, &record)
        .await
        .map_err(|e| Failure::new(e.to_string()))?;
    if run.timed_out || run.exit_code != Some(0) {
        let why = if run.timed_out {
            format!(
                "was stopped after {} s (`training.timeout_s`)",
                training.timeout_s
            )
        } else {
            match run.exit_code {
                Some(c) => format!("exited with status {c}"),
                None => "was killed by a signal".into(),
            }
        };
        return Err(Failure::new(format!(
            "the training command {why}; nothing is registered\n{}\nhint: its record is `{}`",
            run.stderr.trim_end(),
            lake.uri(&record_key)
        )));
    }
    // What it wrote, imported as `mlinfra models import` would.
    let read = |name: &str| {
        let p = output.join(name);
        std::fs::read(&p).map_err(|e| {
            Failure::new(format!(
                "the training command wrote no `{}` ({e}): it writes `model.onnx` and `model.card.yaml` into $MLINFRA_OUTPUT",
                p.display()
            ))
        })
    };
    let bytes = read("model.onnx")?;
    let card_src = String::from_utf8(read("model.card.yaml")?)
        .map_err(|_| Failure::new("`model.card.yaml` is not UTF-8 text"))?;
    let card_path = output.join("model.card.yaml");
    let card = crate::card::parse(&card_path.display().to_string(), &card_src)
        .map_err(Failure::rendered)?;
    let tokenizer = match &card.input.text {
        Some(t) => Some(read(&t.tokenizer)?),
        None => None,
    };
    let eval = output.join("eval.csv");
    let (eval_bytes, eval_name) = if eval.exists() {
        (read("eval.csv")?, eval.display().to_string())
    } else {
        (data.clone(), lake.uri(&latest.key))
    };
    // An image model's pictures, by their paths relative to the output directory.
    let pictures = crate::app::input::pictures_under(output.clone());
    let settings = crate::app::settings::jobs(stack)?;
    let model = &stack.model.name;
    let what = import::ToImport {
        model,
        bytes: &bytes,
        card: &card,
        tokenizer: tokenizer.as_deref(),
        pictures: &pictures,
        data: &eval_bytes,
        data_name: &eval_name,
        label: &stack.dataset.label.column,
        policy: &settings.pipeline.policy,
        interval_level: stack.model.interval_level,
        actor,
    };
    let out = import::import(lake, registry, &what).await?;
    let mut request = None;
    if let Some(v) = &out.registered
        && v.stage == Stage::Staging
    {
        let r = registry
            .request(
                model,
                v.version,
                Stage::Production,
                &format!(
                    "retrained by training.command ({reason}) on {}",
                    latest.data_hash
                ),
                actor,
            )
            .await
            .map_err(|e| Failure::new(e.to_string()))?;
        request = Some(r.id);
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "trained   `{}` exited 0 in {:.1} s on {} rows (record {})",
        training.command.join(" "),
        run.seconds,
        latest.rows,
        lake.uri(&record_key)
    );
    match &out.evaluation {
        import::Evaluated::Classification(e) => {
            let _ = writeln!(
                text,
                "evaluated {} rows: roc_auc {:.4}  accuracy {:.4}",
                e.rows, e.roc_auc, e.accuracy
            );
        }
        import::Evaluated::Regression(e) => {
            let _ = writeln!(
                text,
                "evaluated {} rows: rmse {}  mae {}  r2 {:.4}",
                e.rows,
                crate::report::num(e.rmse),
                crate::report::num(e.mae),
                e.r2
            );
        }
    }
    let b = &out.blessing;
    let _ = writeln!(
        text,
        "blessing  {}: {}",
        if b.blessed { "blessed" } else { "not blessed" },
        b.reason
    );
    match &out.registered {
        Some(v) => {
            let _ = writeln!(
                text,
                "registry  registered as version {} ({}) by {actor}",
                v.version, v.stage
            );
        }
        None => {
            let _ = writeln!(text, "registry  not registered");
        }
    }
    if let Some(r) = &request {
        let _ = writeln!(
            text,
            "promotion requested Production as {r}; it waits for approval by someone other than {actor}\nhint: `mlinfra models approve {r} --as NAME`"
        );
    }
    let value = json!({
        "training": run,
        "record": lake.uri(&record_key),
        "import": out,
        "registered_version": out.registered.as_ref().map(|v| v.version),
        "request": request,
        "reason": reason,
    });
    Ok((text, value))
}

fn abs(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// Run the command in `workdir` with the stack's environment and `vars`, its output into files
/// beside `output`, stopped after the timeout.
fn run_command(
    training: &Training,
    workdir: &Path,
    vars: &[(&str, String)],
    started_at: u64,
    data_hash: &str,
    output: &Path,
) -> Result<TrainingRun, Failure> {
    let logs: PathBuf = output.parent().map(Path::to_path_buf).unwrap_or_default();
    let open = |name: &str| {
        std::fs::File::create(logs.join(name))
            .map_err(|e| Failure::new(format!("cannot write `{}`: {e}", logs.join(name).display())))
    };
    let (out_file, err_file) = (open("stdout.log")?, open("stderr.log")?);
    let mut cmd = std::process::Command::new(&training.command[0]);
    cmd.args(&training.command[1..])
        .current_dir(workdir)
        .envs(&training.environment)
        .envs(vars.iter().map(|(k, v)| (*k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(out_file)
        .stderr(err_file);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        Failure::new(format!(
            "cannot start the training command `{}`: {e}\nhint: `training.command` is the program and its arguments, run in `{}`",
            training.command[0],
            workdir.display()
        ))
    })?;
    let limit = Duration::from_secs(training.timeout_s);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() >= limit => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => {
                return Err(Failure::new(format!(
                    "waiting for the training command: {e}"
                )));
            }
        }
    };
    let read = |name: &str| {
        let mut b = Vec::new();
        if let Ok(mut f) = std::fs::File::open(logs.join(name)) {
            let _ = f.read_to_end(&mut b);
        }
        tail(&b)
    };
    Ok(TrainingRun {
        command: training.command.clone(),
        started_at,
        seconds: start.elapsed().as_secs_f64(),
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        stdout: read("stdout.log"),
        stderr: read("stderr.log"),
        data_hash: data_hash.to_string(),
        output_dir: output.display().to_string(),
    })
}
