//! The stack file, version 1: its types and how each is read from the YAML tree.
//!
//! Every field is documented in `docs/stack.md`; a test keeps that page and this schema in step.
//! Optional fields have the defaults written here; unknown fields are errors.

use indexmap::IndexMap;
use mlinfra_core::FunctionName;
use mlinfra_core::metrics::Metric;
use mlinfra_core::model::Family;
use serde::Serialize;

use super::decode::{Cx, Spanned, node_len, section};
use super::names::{check_bucket, check_name};
use super::schedule::Schedule;
use super::yaml::{Node, Value};
use crate::diag::{Diagnostic, did_you_mean};

/// The only stack file version this mlinfra reads.
pub const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stack {
    pub version: u64,
    pub name: String,
    pub description: Option<String>,
    pub default_env: EnvKind,
    pub environments: Environments,
    pub lake: Lake,
    pub dataset: Dataset,
    pub model: Model,
    pub promotion: Promotion,
    pub registry: RegistrySpec,
    /// Every function, in [`FunctionName::ALL`] order, with defaults where the file is silent.
    pub functions: IndexMap<FunctionName, FunctionSpec>,
    pub schedules: IndexMap<String, ScheduleSpec>,
    pub api: Api,
    pub monitoring: Monitoring,
    pub alerts: Vec<Alert>,
    /// The user's own training code, for a model imported from another tool (`None`: mlinfra
    /// trains the stack's model itself).
    pub training: Option<Training>,
}

/// `training:`: the program that trains an imported model again on the curated data. It runs
/// in the stack file's directory with `MLINFRA_DATA` (the curated data, a CSV file),
/// `MLINFRA_LABEL` (its label column) and `MLINFRA_OUTPUT` (an empty directory) set, and
/// writes `model.onnx` and `model.card.yaml` there (with the files the card names), and
/// `eval.csv` to evaluate on (else the curated data is).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Training {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// How long it may run before it is stopped (seconds).
    pub timeout_s: u64,
    /// Variables set for it, besides the machine's.
    pub environment: IndexMap<String, String>,
}

/// Where a stack is deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EnvKind {
    /// This machine: a directory, nothing to install.
    Local,
    /// An AWS-compatible endpoint (LocalStack, the moto server).
    Localstack,
    /// Real AWS through the standard credential chain.
    Aws,
    /// Azure's storage emulated by Azurite (or any account from
    /// `AZURE_STORAGE_CONNECTION_STRING`), the functions run here by `serve`.
    Azurite,
}

impl EnvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvKind::Local => "local",
            EnvKind::Localstack => "localstack",
            EnvKind::Aws => "aws",
            EnvKind::Azurite => "azurite",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environments {
    pub local: LocalEnv,
    pub localstack: LocalstackEnv,
    pub aws: AwsEnv,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalEnv {
    /// Directory of the local environment; default `.mlinfra/<stack>`.
    pub dir: Option<String>,
    /// Port of `mlinfra serve`.
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocalstackEnv {
    pub endpoint: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsEnv {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Who creates and changes the infrastructure (`environments.aws.managed_by`).
    pub managed_by: ManagedBy,
}

/// Who owns an environment's infrastructure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedBy {
    /// `mlinfra up` and `down`.
    Mlinfra,
    /// The Terraform module in `terraform/aws/`: `up` and `down` refuse; every other verb finds
    /// the resources by the same names.
    Terraform,
}

impl ManagedBy {
    pub const NAMES: [&'static str; 2] = ["mlinfra", "terraform"];
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lake {
    pub bucket: String,
    /// Days to keep prediction logs under `predictions/`.
    pub prediction_log_days: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub source: String,
    pub missing_values: Vec<String>,
    pub label: Label,
    pub categorical: Vec<String>,
    pub schema: Option<String>,
    pub split: Split,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub column: String,
    /// Binary task when set: the label is positive when this holds. Multiclass when absent
    /// (and `positive` is absent).
    pub positive_when: Option<Condition>,
    /// Binary task over a label of two values (text or numbers): this one is positive.
    pub positive: Option<String>,
}

/// A comparison of a numeric label with a threshold, such as `> 0`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    pub op: mlinfra_core::data::Compare,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Split {
    pub eval_fraction: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub name: String,
    /// What the model predicts: a class of the label (`classification`) or its value
    /// (`regression`, served from models imported with `models import`).
    pub task: Task,
    /// A regression's prediction interval coverage (`model.interval_level`, default 0.9).
    pub interval_level: f64,
    /// The error a regression's trees minimise (`model.loss`, default `squared_error`).
    pub loss: Loss,
    pub families: Vec<Family>,
    pub tuning: Tuning,
}

pub use mlinfra_core::model::Loss;
pub use mlinfra_core::onnx::card::Task;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tuning {
    pub strategy: mlinfra_core::tune::Strategy,
    pub trials: u64,
    pub folds: u64,
    pub metric: Metric,
    pub seed: u64,
    /// A regression's trees stop after this many rounds without improvement on the
    /// validation fold (`model.tuning.early_stopping_rounds`; 0: off).
    pub early_stopping_rounds: u64,
    pub logistic_regression: LrSpace,
    /// A regression's linear family's penalties (`model.tuning.ridge.l2`).
    pub ridge: LrSpace,
    pub gradient_boosted_trees: GbtSpace,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LrSpace {
    pub l2: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GbtSpace {
    pub max_depth: Vec<u64>,
    pub learning_rate: Vec<f64>,
    pub rounds: Vec<u64>,
    pub min_leaf: Vec<u64>,
}

/// How a version enters a stage (`promotion.staging`, `promotion.production`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// As soon as it is registered (Staging) or requested.
    Automatic,
    /// When a second person approves the request.
    Approval,
}

impl Approval {
    pub const NAMES: [&'static str; 2] = ["automatic", "approval"];

    fn parse(s: &str) -> Option<Approval> {
        match s {
            "automatic" => Some(Approval::Automatic),
            "approval" => Some(Approval::Approval),
            _ => None,
        }
    }
}

/// How API callers authenticate (`api.auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// An API key in `x-api-key`, checked by API Gateway (or `mlinfra serve`).
    ApiKey,
    /// No authentication.
    None,
}

impl Auth {
    pub const NAMES: [&'static str; 2] = ["api_key", "none"];

    fn parse(s: &str) -> Option<Auth> {
        match s {
            "api_key" => Some(Auth::ApiKey),
            "none" => Some(Auth::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Promotion {
    pub metric: Metric,
    pub min_metric: f64,
    pub min_improvement: f64,
    pub staging: Approval,
    pub production: Approval,
    pub emergency_rollback: bool,
}

/// The model registry's options (`registry:`). DynamoDB (or the local store) is the registry;
/// these only add mirrors of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RegistrySpec {
    /// Mirror every version into the SageMaker Model Registry (`--env aws|localstack`; needs
    /// mlinfra built with the `sagemaker` feature).
    pub sagemaker_mirror: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub memory_mb: u64,
    pub timeout_s: u64,
    pub depends_on: Vec<FunctionName>,
    /// Where `depends_on` was written, for the cycle check.
    #[serde(skip)]
    pub depends_on_at: Vec<Spanned<String>>,
    #[serde(skip)]
    pub key_at: Option<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleSpec {
    pub expression: String,
    #[serde(skip)]
    pub parsed: Option<Schedule>,
    pub function: FunctionName,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Api {
    pub stage: String,
    pub auth: Auth,
    pub throttle: Throttle,
    pub quota_per_day: Option<u64>,
    pub max_batch: u64,
    pub model_refresh_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throttle {
    pub rate_per_second: u64,
    pub burst: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Monitoring {
    pub window_days: u64,
    pub sample_rate: f64,
    pub drift: Drift,
    pub min_accuracy: f64,
    pub min_f1: f64,
    /// A regression's thresholds on its feedback: the largest RMSE and MAE, the smallest share
    /// of true values inside their intervals (0: no limit).
    pub max_rmse: f64,
    pub max_mae: f64,
    pub min_coverage: f64,
    pub max_latency_p99_ms: u64,
    pub max_error_rate: f64,
    pub retrain_on: Vec<String>,
    pub cooldown_hours: u64,
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub psi: f64,
    pub ks_p_value: f64,
    pub wasserstein: f64,
    pub jensen_shannon: f64,
    pub chi2_p_value: f64,
    pub dataset_drift_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub name: String,
    #[serde(flatten)]
    pub target: AlertTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertTarget {
    Email(String),
    Webhook(String),
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decode a whole stack. Returns `None` when any error was recorded in `cx`.
pub fn decode(root: &Node, cx: &mut Cx) -> Option<Stack> {
    let mut m = cx.map(root, "")?;
    let before = cx.diags.len();

    let version = match m.req(cx, "version") {
        Some(n) => decode_version(n, cx),
        None => None,
    };
    if version.is_none() && cx.diags.len() > before {
        // An unsupported version: the rest of the file follows another schema.
        let unsupported = cx
            .diags
            .last()
            .is_some_and(|d| d.message.starts_with("unsupported"));
        if unsupported {
            return None;
        }
    }
    let name = m.req(cx, "name").and_then(|n| {
        let s = cx.string(n, "name")?;
        named(cx, n, "stack name", &s)
    });
    let description = m
        .opt("description")
        .and_then(|n| cx.string(n, "description"));
    let default_env = m
        .opt("default_env")
        .map(|n| cx.one_of(n, "default_env", &["local", "localstack", "aws", "azurite"]))
        .unwrap_or(Some("local"))
        .map(|s| match s {
            "localstack" => EnvKind::Localstack,
            "aws" => EnvKind::Aws,
            "azurite" => EnvKind::Azurite,
            _ => EnvKind::Local,
        });
    let environments = decode_environments(m.opt("environments"), cx);
    let lake = m.req(cx, "lake").and_then(|n| decode_lake(n, cx));
    let dataset = m.req(cx, "dataset").and_then(|n| decode_dataset(n, cx));
    let model = decode_model(m.opt("model"), name.as_deref(), cx);
    // As written, even when the rest of `model` has errors.
    let task = match root_path(root, &["model", "task"]).map(|n| &n.value) {
        Some(Value::Scalar { text, .. }) if text == "regression" => Task::Regression,
        _ => Task::Classification,
    };
    let promotion = decode_promotion(m.opt("promotion"), task, cx);
    if task == Task::Regression {
        // A regression predicts the label's value: nothing says which rows are a class.
        let label = root_path(root, &["dataset", "label"]);
        for key in ["positive_when", "positive"] {
            if let Some(n) = label.and_then(|l| root_path(l, &[key])) {
                cx.error_hint(
                    n,
                    format!("`dataset.label.{key}` makes the label a class; `model.task` is `regression`, which predicts the label's value"),
                    format!("remove `dataset.label.{key}`, or set `model.task: classification`"),
                );
            }
        }
    }
    let registry = decode_registry(m.opt("registry"), cx);
    let functions = decode_functions(m.opt("functions"), cx);
    let schedules = decode_schedules(m.opt("schedules"), cx);
    let api = decode_api(m.opt("api"), cx);
    let alerts = m
        .opt("alerts")
        .map(|n| decode_alerts(n, cx))
        .unwrap_or(Some((Vec::new(), Vec::new())));
    let monitoring = decode_monitoring(m.opt("monitoring"), cx);
    let training = match m.opt("training") {
        Some(n) => Some(decode_training(n, cx)),
        None => {
            // Absent: nothing to read, but its fields are the schema's all the same.
            let mut absent = super::decode::MapReader::absent("training");
            for key in ["command", "timeout_s", "environment"] {
                absent.opt(key);
            }
            absent.finish(cx);
            None
        }
    };
    m.finish(cx);

    let (alerts, alert_names) = alerts?;
    let (monitoring, monitoring_refs) = monitoring?;
    for r in &monitoring_refs {
        if !alert_names.iter().any(|a| a == &r.value) {
            let hint = did_you_mean(&r.value, alert_names.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| "declare it under `alerts:` with a `name`".to_string());
            cx.push(
                Diagnostic::new(r.pos, r.len, format!("unknown alert `{}`", r.value))
                    .with_hint(hint),
            );
        }
    }
    if let Some(functions) = &functions {
        check_cycles(functions, cx);
    }
    let stack = Stack {
        version: version?,
        name: name?,
        description,
        default_env: default_env?,
        environments: environments?,
        lake: lake?,
        dataset: dataset?,
        model: model?,
        promotion: promotion?,
        registry: registry?,
        functions: functions?,
        schedules: schedules?,
        api: api?,
        monitoring,
        alerts,
        training: match training {
            Some(t) => Some(t?),
            None => None,
        },
    };
    cx.diags.is_empty().then_some(stack)
}

fn decode_version(n: &Node, cx: &mut Cx) -> Option<u64> {
    match &n.value {
        Value::Scalar {
            text,
            quoted: false,
        } if text.parse::<u64>().is_ok() => {
            let v: u64 = text.parse().ok()?;
            if v == VERSION {
                Some(v)
            } else {
                cx.error_hint(
                    n,
                    format!(
                        "unsupported stack version `{v}`, this mlinfra reads version {VERSION}"
                    ),
                    if v > VERSION {
                        "this file is for a newer mlinfra: upgrade mlinfra".to_string()
                    } else {
                        format!("write `version: {VERSION}`")
                    },
                );
                None
            }
        }
        _ => {
            cx.error_hint(
                n,
                format!(
                    "`version` must be the integer {VERSION}, found {}",
                    n.kind()
                ),
                format!("write `version: {VERSION}`"),
            );
            None
        }
    }
}

fn named(cx: &mut Cx, n: &Node, what: &str, s: &str) -> Option<String> {
    match check_name(what, s) {
        Ok(()) => Some(s.to_string()),
        Err((msg, hint)) => {
            cx.push(Diagnostic::new(n.pos, node_len(n), msg).with_hint_opt(hint));
            None
        }
    }
}

fn or<T>(v: Option<Option<T>>, default: T) -> Option<T> {
    v.unwrap_or(Some(default))
}

fn decode_environments(n: Option<&Node>, cx: &mut Cx) -> Option<Environments> {
    let mut m = section(n, "environments", cx)?;
    let local = {
        let mut l = section(m.opt("local"), "environments.local", cx)?;
        let dir = l.opt("dir").map(|n| cx.string(n, "environments.local.dir"));
        let port = or(
            l.opt("port")
                .map(|n| cx.uint(n, "environments.local.port", 1..=65535)),
            8080,
        );
        l.finish(cx);
        Some(LocalEnv {
            dir: dir.unwrap_or(Some(String::new())).filter(|s| !s.is_empty()),
            port: u16::try_from(port?).ok()?,
        })
    };
    let localstack = {
        let mut l = section(m.opt("localstack"), "environments.localstack", cx)?;
        let endpoint = or(
            l.opt("endpoint").map(|n| {
                let s = cx.string(n, "environments.localstack.endpoint")?;
                if s.starts_with("http://") || s.starts_with("https://") {
                    Some(s)
                } else {
                    cx.error_hint(
                        n,
                        format!(
                            "`environments.localstack.endpoint` must be an http(s) URL, found `{s}`"
                        ),
                        format!("write `http://{s}`"),
                    );
                    None
                }
            }),
            "http://localhost:4566".to_string(),
        );
        let region = or(
            l.opt("region")
                .map(|n| cx.string(n, "environments.localstack.region")),
            "us-east-1".to_string(),
        );
        l.finish(cx);
        Some(LocalstackEnv {
            endpoint: endpoint?,
            region: region?,
        })
    };
    let aws = {
        let mut l = section(m.opt("aws"), "environments.aws", cx)?;
        let region = l
            .opt("region")
            .map(|n| cx.string(n, "environments.aws.region"));
        let profile = l
            .opt("profile")
            .map(|n| cx.string(n, "environments.aws.profile"));
        let managed_by = l
            .opt("managed_by")
            .map(|n| cx.one_of(n, "environments.aws.managed_by", &ManagedBy::NAMES));
        l.finish(cx);
        Some(AwsEnv {
            managed_by: match managed_by {
                Some(Some("terraform")) => ManagedBy::Terraform,
                Some(None) => return None,
                _ => ManagedBy::Mlinfra,
            },
            region: region
                .unwrap_or(Some(String::new()))
                .filter(|s| !s.is_empty()),
            profile: profile
                .unwrap_or(Some(String::new()))
                .filter(|s| !s.is_empty()),
        })
    };
    m.finish(cx);
    Some(Environments {
        local: local?,
        localstack: localstack?,
        aws: aws?,
    })
}

fn decode_lake(n: &Node, cx: &mut Cx) -> Option<Lake> {
    let mut m = cx.map(n, "lake")?;
    let bucket = m.req(cx, "bucket").and_then(|n| {
        let s = cx.string(n, "lake.bucket")?;
        match check_bucket(&s) {
            Ok(()) => Some(s),
            Err((msg, hint)) => {
                cx.push(Diagnostic::new(n.pos, node_len(n), msg).with_hint_opt(hint));
                None
            }
        }
    });
    let days = or(
        m.opt("prediction_log_days")
            .map(|n| cx.uint(n, "lake.prediction_log_days", 1..=3650)),
        90,
    );
    m.finish(cx);
    Some(Lake {
        bucket: bucket?,
        prediction_log_days: days?,
    })
}

fn string_list(
    n: Option<&Node>,
    path: &str,
    default: Vec<String>,
    cx: &mut Cx,
) -> Option<Vec<String>> {
    match n {
        None => Some(default),
        Some(n) => cx.list(n, path, |cx, n, p| cx.string(n, p)),
    }
}

fn decode_dataset(n: &Node, cx: &mut Cx) -> Option<Dataset> {
    let mut m = cx.map(n, "dataset")?;
    let source = m
        .req(cx, "source")
        .and_then(|n| cx.string(n, "dataset.source"));
    let missing = match m.opt("missing_values") {
        None => Some(vec!["?".to_string(), String::new()]),
        Some(n) => cx.list(n, "dataset.missing_values", |cx, n, p| match &n.value {
            Value::Scalar { text, .. } => Some(text.clone()),
            _ => {
                cx.error(n, format!("`{p}` must be a string, found {}", n.kind()));
                None
            }
        }),
    };
    let label = m.req(cx, "label").and_then(|n| {
        let mut l = cx.map(n, "dataset.label")?;
        let column = l
            .req(cx, "column")
            .and_then(|n| cx.string(n, "dataset.label.column"));
        let positive_when = l.opt("positive_when").map(|n| decode_condition(n, cx));
        let positive = l.opt("positive").map(|n| {
            cx.scalar(n, "dataset.label.positive", "the positive class's value")
                .map(|s| s.trim().to_string())
        });
        if let (Some(_), Some(n)) = (&positive_when, l.opt("positive")) {
            cx.error_hint(
                n,
                "`dataset.label.positive` and `dataset.label.positive_when` both say which rows are positive",
                "keep `positive_when` to compare a numeric label, or `positive` to name one of two values",
            );
        }
        l.finish(cx);
        Some(Label {
            column: column?,
            positive_when: match positive_when {
                None => None,
                Some(c) => Some(c?),
            },
            positive: match positive {
                None => None,
                Some(c) => Some(c?),
            },
        })
    });
    let categorical = string_list(m.opt("categorical"), "dataset.categorical", Vec::new(), cx);
    let schema = m.opt("schema").map(|n| cx.string(n, "dataset.schema"));
    let split = {
        let mut s = section(m.opt("split"), "dataset.split", cx)?;
        let f = or(
            s.opt("eval_fraction")
                .map(|n| cx.float(n, "dataset.split.eval_fraction", 0.05..=0.5)),
            0.2,
        );
        let seed = or(
            s.opt("seed")
                .map(|n| cx.uint(n, "dataset.split.seed", 0..=u64::MAX)),
            42,
        );
        s.finish(cx);
        Some(Split {
            eval_fraction: f?,
            seed: seed?,
        })
    };
    m.finish(cx);
    Some(Dataset {
        source: source?,
        missing_values: missing?,
        label: label?,
        categorical: categorical?,
        schema: match schema {
            None => None,
            Some(s) => Some(s?),
        },
        split: split?,
    })
}

fn decode_condition(n: &Node, cx: &mut Cx) -> Option<Condition> {
    let text = cx.scalar(
        n,
        "dataset.label.positive_when",
        "a condition such as `> 0`",
    )?;
    let t = text.trim();
    let parsed = mlinfra_core::data::Compare::ALL
        .into_iter()
        .find_map(|op| t.strip_prefix(op.symbol()).map(|r| (op, r.trim())));
    match parsed.map(|(op, rest)| (op, rest.parse::<f64>())) {
        Some((op, Ok(value))) if value.is_finite() => Some(Condition { op, value }),
        _ => {
            cx.error_hint(
                n,
                format!("`dataset.label.positive_when` must be a comparison such as `> 0`, found `{text}`"),
                "use one of `>`, `>=`, `<`, `<=`, `==`, `!=` and a number, quoted: \"> 0\"",
            );
            None
        }
    }
}

/// The node at `path` under a mapping `n`.
fn root_path<'a>(n: &'a Node, path: &[&str]) -> Option<&'a Node> {
    path.iter().try_fold(n, |n, key| match &n.value {
        Value::Map(m) => m.get(*key).map(|(_, v)| v),
        _ => None,
    })
}

/// A metric of `task` at `path`: a metric of the other task is named as such.
fn task_metric(n: &Node, path: &str, task: Task, cx: &mut Cx) -> Option<&'static str> {
    let names: Vec<&'static str> = Metric::ALL
        .iter()
        .filter(|m| m.is_regression() == (task == Task::Regression))
        .map(|m| m.name())
        .collect();
    if let Value::Scalar { text, .. } = &n.value
        && let Ok(m) = text.parse::<Metric>()
        && !names.contains(&m.name())
    {
        // The task the metric scores, which the stack could name instead.
        let its = if m.is_regression() {
            Task::Regression
        } else {
            Task::Classification
        }
        .name();
        cx.error_hint(
            n,
            format!(
                "`{path}` `{m}` scores a {its}; `model.task` is `{}`",
                task.name()
            ),
            format!(
                "use one of {}, or set `model.task: {its}`",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    }
    cx.one_of(n, path, &names)
}

/// The metric of `task` that the search and the policy read unless the stack names one.
fn default_metric(task: Task) -> &'static str {
    match task {
        Task::Classification => "roc_auc",
        Task::Regression => "rmse",
    }
}

/// A regression's setting in a classification's stack: the error `message`, with the hint
/// that says what to do; no value.
fn not_for_classification<T>(cx: &mut Cx, n: &Node, message: &str) -> Option<T> {
    cx.error_hint(n, message, "remove it, or set `model.task: regression`");
    None
}

fn decode_model(n: Option<&Node>, stack_name: Option<&str>, cx: &mut Cx) -> Option<Model> {
    let mut m = section(n, "model", cx)?;
    let task = or(
        m.opt("task")
            .map(|n| cx.one_of(n, "model.task", Task::NAMES)),
        "classification",
    );
    let task = match task? {
        "regression" => Task::Regression,
        _ => Task::Classification,
    };
    let interval_level = match m.opt("interval_level") {
        None => Some(0.9),
        Some(n) if task == Task::Classification => not_for_classification(
            cx,
            n,
            "`model.interval_level` is the coverage of a regression's prediction interval; `model.task` is `classification`",
        ),
        Some(n) => cx.float(n, "model.interval_level", 0.5..=0.99),
    };
    let name = match m.opt("name") {
        Some(n) => cx
            .string(n, "model.name")
            .and_then(|s| named(cx, n, "model name", &s)),
        None => Some(stack_name.unwrap_or("model").to_string()),
    };
    let regression = task == Task::Regression;
    let loss = match m.opt("loss") {
        None if regression => Some(Loss::Squared),
        None => Some(Loss::LogLoss),
        Some(n) if !regression => not_for_classification(
            cx,
            n,
            "`model.loss` is the error a regression's trees minimise; `model.task` is `classification`, whose trees minimise the log loss",
        ),
        Some(n) => {
            let names: Vec<&str> = Loss::REGRESSION.iter().map(|l| l.name()).collect();
            cx.one_of(n, "model.loss", &names)
                .and_then(|s| s.parse().ok())
        }
    };
    let families = match m.opt("families") {
        None => Some(Family::for_task(regression).to_vec()),
        Some(n) => cx
            .list(n, "model.families", |cx, n, p| {
                let ours = Family::for_task(regression);
                let name = cx.string(n, p)?;
                match name.parse::<Family>() {
                    Ok(f) if ours.contains(&f) => Some(f),
                    Ok(f) => {
                        let (other, instead) = match f {
                            Family::LogisticRegression => ("classification", "ridge"),
                            _ => ("regression", "logistic_regression"),
                        };
                        cx.error_hint(
                            n,
                            format!(
                                "`{p}`: `{f}` is a {other}'s family; `model.task` is `{}`",
                                task.name()
                            ),
                            format!(
                                "use `{instead}` for its linear model, or `gradient_boosted_trees`"
                            ),
                        );
                        None
                    }
                    Err(_) => {
                        let names: Vec<&str> = ours.iter().map(|f| f.name()).collect();
                        cx.one_of(n, p, &names);
                        None
                    }
                }
            })
            .and_then(|v| {
                if v.is_empty() {
                    cx.error(n, "`model.families` must name at least one model family");
                    None
                } else {
                    Some(v)
                }
            }),
    };
    let tuning = {
        let mut t = section(m.opt("tuning"), "model.tuning", cx)?;
        let strategy = or(
            t.opt("strategy").map(|n| {
                cx.one_of(
                    n,
                    "model.tuning.strategy",
                    mlinfra_core::tune::Strategy::NAMES,
                )
            }),
            "random",
        );
        let trials = or(
            t.opt("trials")
                .map(|n| cx.uint(n, "model.tuning.trials", 1..=10_000)),
            20,
        );
        let folds = or(
            t.opt("folds")
                .map(|n| cx.uint(n, "model.tuning.folds", 2..=20)),
            5,
        );
        let metric = or(
            t.opt("metric")
                .map(|n| task_metric(n, "model.tuning.metric", task, cx)),
            default_metric(task),
        );
        let seed = or(
            t.opt("seed")
                .map(|n| cx.uint(n, "model.tuning.seed", 0..=u64::MAX)),
            42,
        );
        let early_stopping_rounds = match t.opt("early_stopping_rounds") {
            None => Some(0),
            Some(n) if !regression => not_for_classification(
                cx,
                n,
                "`model.tuning.early_stopping_rounds` stops a regression's trees; `model.task` is `classification`",
            ),
            Some(n) => cx.uint(n, "model.tuning.early_stopping_rounds", 0..=10_000),
        };
        let lr = {
            let mut s = section(
                t.opt("logistic_regression"),
                "model.tuning.logistic_regression",
                cx,
            )?;
            let l2 = float_list(
                s.opt("l2"),
                "model.tuning.logistic_regression.l2",
                0.0..=1e6,
                &[0.01, 0.1, 1.0, 10.0],
                cx,
            );
            s.finish(cx);
            Some(LrSpace { l2: l2? })
        };
        let ridge = {
            let mut s = section(t.opt("ridge"), "model.tuning.ridge", cx)?;
            let l2 = float_list(
                s.opt("l2"),
                "model.tuning.ridge.l2",
                0.0..=1e9,
                &[0.1, 1.0, 10.0, 100.0],
                cx,
            );
            s.finish(cx);
            Some(LrSpace { l2: l2? })
        };
        let gbt = {
            let p = "model.tuning.gradient_boosted_trees";
            let mut s = section(t.opt("gradient_boosted_trees"), p, cx)?;
            let max_depth = uint_list(
                s.opt("max_depth"),
                &format!("{p}.max_depth"),
                1..=16,
                &[2, 3, 4],
                cx,
            );
            let lr = float_list(
                s.opt("learning_rate"),
                &format!("{p}.learning_rate"),
                1e-4..=1.0,
                &[0.05, 0.1, 0.2],
                cx,
            );
            let rounds = uint_list(
                s.opt("rounds"),
                &format!("{p}.rounds"),
                1..=10_000,
                &[50, 100, 200],
                cx,
            );
            let min_leaf = uint_list(
                s.opt("min_leaf"),
                &format!("{p}.min_leaf"),
                1..=10_000,
                &[5, 10, 20],
                cx,
            );
            s.finish(cx);
            Some(GbtSpace {
                max_depth: max_depth?,
                learning_rate: lr?,
                rounds: rounds?,
                min_leaf: min_leaf?,
            })
        };
        t.finish(cx);
        Some(Tuning {
            strategy: strategy?.parse().ok()?,
            trials: trials?,
            folds: folds?,
            metric: metric?.parse().ok()?,
            seed: seed?,
            early_stopping_rounds: early_stopping_rounds?,
            logistic_regression: lr?,
            ridge: ridge?,
            gradient_boosted_trees: gbt?,
        })
    };
    m.finish(cx);
    Some(Model {
        name: name?,
        task,
        interval_level: interval_level?,
        loss: loss?,
        families: families?,
        tuning: tuning?,
    })
}

fn float_list(
    n: Option<&Node>,
    path: &str,
    range: std::ops::RangeInclusive<f64>,
    default: &[f64],
    cx: &mut Cx,
) -> Option<Vec<f64>> {
    match n {
        None => Some(default.to_vec()),
        Some(n) => non_empty(
            n,
            path,
            cx.list(n, path, |cx, n, p| cx.float(n, p, range.clone())),
            cx,
        ),
    }
}

fn uint_list(
    n: Option<&Node>,
    path: &str,
    range: std::ops::RangeInclusive<u64>,
    default: &[u64],
    cx: &mut Cx,
) -> Option<Vec<u64>> {
    match n {
        None => Some(default.to_vec()),
        Some(n) => non_empty(
            n,
            path,
            cx.list(n, path, |cx, n, p| cx.uint(n, p, range.clone())),
            cx,
        ),
    }
}

fn non_empty<T>(n: &Node, path: &str, v: Option<Vec<T>>, cx: &mut Cx) -> Option<Vec<T>> {
    let v = v?;
    if v.is_empty() {
        cx.error(n, format!("`{path}` must list at least one value"));
        return None;
    }
    Some(v)
}

fn decode_registry(n: Option<&Node>, cx: &mut Cx) -> Option<RegistrySpec> {
    let mut m = section(n, "registry", cx)?;
    let sagemaker_mirror = or(
        m.opt("sagemaker_mirror")
            .map(|n| cx.boolean(n, "registry.sagemaker_mirror")),
        false,
    );
    m.finish(cx);
    Some(RegistrySpec {
        sagemaker_mirror: sagemaker_mirror?,
    })
}

fn decode_promotion(n: Option<&Node>, task: Task, cx: &mut Cx) -> Option<Promotion> {
    let mut m = section(n, "promotion", cx)?;
    let metric = or(
        m.opt("metric")
            .map(|n| task_metric(n, "promotion.metric", task, cx)),
        default_metric(task),
    );
    // A classification's metrics are fractions; a regression's errors are in the label's unit
    // (R² at most 1).
    let range = match metric.and_then(|m| m.parse::<Metric>().ok()) {
        Some(Metric::R2) => -1e12..=1.0,
        Some(m) if m.is_regression() => 0.0..=1e300,
        _ => 0.0..=1.0,
    };
    let min_metric = or(
        m.opt("min_metric")
            .map(|n| cx.float(n, "promotion.min_metric", range)),
        0.0,
    );
    let min_improvement = or(
        m.opt("min_improvement")
            .map(|n| cx.float(n, "promotion.min_improvement", -1.0..=1.0)),
        0.0,
    );
    let staging = or(
        m.opt("staging")
            .map(|n| cx.one_of(n, "promotion.staging", &Approval::NAMES)),
        "automatic",
    );
    let production = or(
        m.opt("production")
            .map(|n| cx.one_of(n, "promotion.production", &Approval::NAMES)),
        "approval",
    );
    let rollback = or(
        m.opt("emergency_rollback")
            .map(|n| cx.boolean(n, "promotion.emergency_rollback")),
        false,
    );
    m.finish(cx);
    Some(Promotion {
        metric: metric?.parse().ok()?,
        min_metric: min_metric?,
        min_improvement: min_improvement?,
        staging: Approval::parse(staging?)?,
        production: Approval::parse(production?)?,
        emergency_rollback: rollback?,
    })
}

fn default_function(f: FunctionName) -> FunctionSpec {
    let (memory_mb, timeout_s) = match f {
        FunctionName::Etl => (512, 120),
        FunctionName::Train => (2048, 900),
        FunctionName::Predict => (256, 10),
        FunctionName::Monitor => (512, 300),
    };
    FunctionSpec {
        memory_mb,
        timeout_s,
        depends_on: Vec::new(),
        depends_on_at: Vec::new(),
        key_at: None,
    }
}

/// A reference to a function by name, reported with a suggestion when unknown.
fn function_ref(n: &Node, path: &str, cx: &mut Cx) -> Option<(FunctionName, Spanned<String>)> {
    let s = cx.spanned_string(n, path)?;
    match s.value.parse::<FunctionName>() {
        Ok(f) => Some((f, s)),
        Err(_) => {
            let hint = did_you_mean(&s.value, FunctionName::ALL.iter().map(|f| f.as_str()))
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| {
                    "the functions are `etl`, `train`, `predict` and `monitor`".to_string()
                });
            cx.push(
                Diagnostic::new(
                    s.pos,
                    s.len,
                    format!("unknown function `{}` in `{path}`", s.value),
                )
                .with_hint(hint),
            );
            None
        }
    }
}

fn decode_functions(n: Option<&Node>, cx: &mut Cx) -> Option<IndexMap<FunctionName, FunctionSpec>> {
    let m = section(n, "functions", cx)?;
    let mut out: IndexMap<FunctionName, FunctionSpec> = FunctionName::ALL
        .iter()
        .map(|f| (*f, default_function(*f)))
        .collect();
    let mut ok = true;
    for (key, node) in m.entries() {
        let Ok(f) = key.text.parse::<FunctionName>() else {
            let hint = did_you_mean(&key.text, FunctionName::ALL.iter().map(|f| f.as_str()))
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_else(|| {
                    "the functions are `etl`, `train`, `predict` and `monitor`".to_string()
                });
            cx.push(
                Diagnostic::new(
                    key.pos,
                    key.text.len(),
                    format!("unknown function `{}` in `functions`", key.text),
                )
                .with_hint(hint),
            );
            ok = false;
            continue;
        };
        let path = format!("functions.{f}");
        let Some(mut fm) = cx.map(node, &path) else {
            ok = false;
            continue;
        };
        let d = default_function(f);
        let memory = or(
            fm.opt("memory_mb")
                .map(|n| cx.uint(n, &format!("{path}.memory_mb"), 128..=10_240)),
            d.memory_mb,
        );
        let timeout = or(
            fm.opt("timeout_s")
                .map(|n| cx.uint(n, &format!("{path}.timeout_s"), 1..=900)),
            d.timeout_s,
        );
        let deps = match fm.opt("depends_on") {
            None => Some(Vec::new()),
            Some(n) => cx.list(n, &format!("{path}.depends_on"), |cx, n, p| {
                function_ref(n, p, cx)
            }),
        };
        fm.finish(cx);
        match (memory, timeout, deps) {
            (Some(memory_mb), Some(timeout_s), Some(deps)) => {
                out.insert(
                    f,
                    FunctionSpec {
                        memory_mb,
                        timeout_s,
                        depends_on: deps.iter().map(|(f, _)| *f).collect(),
                        depends_on_at: deps.into_iter().map(|(_, s)| s).collect(),
                        key_at: Some(Spanned {
                            value: key.text.clone(),
                            pos: key.pos,
                            len: key.text.len(),
                        }),
                    },
                );
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `depends_on` between functions must not loop; a loop is reported as its chain.
fn check_cycles(functions: &IndexMap<FunctionName, FunctionSpec>, cx: &mut Cx) {
    let mut reported = std::collections::BTreeSet::new();
    for start in functions.keys() {
        // Depth-first search that records the path, to print the chain.
        let mut path = vec![*start];
        let mut iters = vec![0usize];
        while let Some(&top) = path.last() {
            let deps = &functions[&top].depends_on;
            let i = iters.last().copied().unwrap_or(0);
            if i >= deps.len() {
                path.pop();
                iters.pop();
                continue;
            }
            if let Some(last) = iters.last_mut() {
                *last += 1;
            }
            let next = deps[i];
            if next == *start {
                let mut members: Vec<_> = path.clone();
                members.sort();
                if reported.insert(members) {
                    let chain = path
                        .iter()
                        .chain(std::iter::once(start))
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(" -> ");
                    let at = &functions[start].depends_on_at[functions[start]
                        .depends_on
                        .iter()
                        .position(|d| *d == path.get(1).copied().unwrap_or(*start))
                        .unwrap_or(0)];
                    cx.push(
                        Diagnostic::new(at.pos, at.len, format!("dependency cycle: {chain}"))
                            .with_hint("remove one of these `depends_on` entries"),
                    );
                }
            } else if !path.contains(&next) {
                path.push(next);
                iters.push(0);
            }
        }
    }
}

fn decode_schedules(n: Option<&Node>, cx: &mut Cx) -> Option<IndexMap<String, ScheduleSpec>> {
    let Some(n) = n else {
        return Some(IndexMap::from([
            (
                "retrain".to_string(),
                ScheduleSpec {
                    expression: "cron(0 3 ? * MON *)".to_string(),
                    parsed: Schedule::parse("cron(0 3 ? * MON *)").ok(),
                    function: FunctionName::Train,
                    enabled: true,
                },
            ),
            (
                "monitor".to_string(),
                ScheduleSpec {
                    expression: "rate(1 day)".to_string(),
                    parsed: Schedule::parse("rate(1 day)").ok(),
                    function: FunctionName::Monitor,
                    enabled: true,
                },
            ),
        ]));
    };
    let m = cx.map(n, "schedules")?;
    let mut out = IndexMap::new();
    let mut ok = true;
    for (key, node) in m.entries() {
        let path = format!("schedules.{}", key.text);
        if let Err((msg, hint)) = check_name("schedule name", &key.text) {
            cx.push(Diagnostic::new(key.pos, key.text.len(), msg).with_hint_opt(hint));
            ok = false;
        }
        let Some(mut sm) = cx.map(node, &path) else {
            ok = false;
            continue;
        };
        let expression = sm.req(cx, "expression").and_then(|n| {
            let s = cx.string(n, &format!("{path}.expression"))?;
            match Schedule::parse(&s) {
                Ok(p) => Some((s, p)),
                Err(e) => {
                    cx.push(Diagnostic::new(n.pos, node_len(n), e.message).with_hint_opt(e.hint));
                    None
                }
            }
        });
        let function = sm
            .req(cx, "function")
            .and_then(|n| function_ref(n, &format!("{path}.function"), cx));
        let enabled = or(
            sm.opt("enabled")
                .map(|n| cx.boolean(n, &format!("{path}.enabled"))),
            true,
        );
        sm.finish(cx);
        match (expression, function, enabled) {
            (Some((expression, parsed)), Some((function, _)), Some(enabled)) => {
                out.insert(
                    key.text.clone(),
                    ScheduleSpec {
                        expression,
                        parsed: Some(parsed),
                        function,
                        enabled,
                    },
                );
            }
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

fn decode_training(n: &Node, cx: &mut Cx) -> Option<Training> {
    let mut m = cx.map(n, "training")?;
    let command = m.req(cx, "command").and_then(|n| {
        let argv = cx.list(n, "training.command", |cx, n, p| cx.string(n, p))?;
        if argv.is_empty() || argv[0].trim().is_empty() {
            cx.error_hint(
                n,
                "`training.command` is empty",
                "give the program and its arguments: `command: [python, train.py]`",
            );
            return None;
        }
        Some(argv)
    });
    let timeout = or(
        m.opt("timeout_s")
            .map(|n| cx.uint(n, "training.timeout_s", 1..=7 * 86_400)),
        3600,
    );
    let environment = match m.opt("environment") {
        None => Some(IndexMap::new()),
        Some(n) => {
            let e = cx.map(n, "training.environment")?;
            let mut out = IndexMap::new();
            let mut ok = true;
            for (key, node) in e.entries() {
                match cx.string(node, &format!("training.environment.{}", key.text)) {
                    Some(v) => {
                        out.insert(key.text.clone(), v);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(out)
        }
    };
    m.finish(cx);
    Some(Training {
        command: command?,
        timeout_s: timeout?,
        environment: environment?,
    })
}

fn decode_api(n: Option<&Node>, cx: &mut Cx) -> Option<Api> {
    let mut m = section(n, "api", cx)?;
    let stage = match m.opt("stage") {
        None => Some("v1".to_string()),
        Some(n) => cx
            .string(n, "api.stage")
            .and_then(|s| named(cx, n, "API stage name", &s)),
    };
    let auth = or(
        m.opt("auth")
            .map(|n| cx.one_of(n, "api.auth", &Auth::NAMES)),
        "api_key",
    );
    let throttle = {
        let mut t = section(m.opt("throttle"), "api.throttle", cx)?;
        let rate = or(
            t.opt("rate_per_second")
                .map(|n| cx.uint(n, "api.throttle.rate_per_second", 1..=10_000)),
            50,
        );
        let burst = or(
            t.opt("burst")
                .map(|n| cx.uint(n, "api.throttle.burst", 1..=5_000)),
            100,
        );
        t.finish(cx);
        Some(Throttle {
            rate_per_second: rate?,
            burst: burst?,
        })
    };
    let quota = m
        .opt("quota_per_day")
        .map(|n| cx.uint(n, "api.quota_per_day", 1..=u64::from(u32::MAX)));
    let max_batch = or(
        m.opt("max_batch")
            .map(|n| cx.uint(n, "api.max_batch", 1..=100_000)),
        1000,
    );
    let refresh = or(
        m.opt("model_refresh_s")
            .map(|n| cx.uint(n, "api.model_refresh_s", 1..=86_400)),
        30,
    );
    m.finish(cx);
    Some(Api {
        stage: stage?,
        auth: Auth::parse(auth?)?,
        throttle: throttle?,
        quota_per_day: match quota {
            None => None,
            Some(q) => Some(q?),
        },
        max_batch: max_batch?,
        model_refresh_s: refresh?,
    })
}

fn decode_monitoring(n: Option<&Node>, cx: &mut Cx) -> Option<(Monitoring, Vec<Spanned<String>>)> {
    let mut m = section(n, "monitoring", cx)?;
    let window = or(
        m.opt("window_days")
            .map(|n| cx.uint(n, "monitoring.window_days", 1..=365)),
        7,
    );
    let sample = or(
        m.opt("sample_rate")
            .map(|n| cx.float(n, "monitoring.sample_rate", 0.0..=1.0)),
        1.0,
    );
    let drift = {
        let p = "monitoring.drift";
        let mut d = section(m.opt("drift"), p, cx)?;
        let mut f =
            |key: &'static str, range: std::ops::RangeInclusive<f64>, default: f64, cx: &mut Cx| {
                or(
                    d.opt(key)
                        .map(|n| cx.float(n, &format!("{p}.{key}"), range)),
                    default,
                )
            };
        let psi = f("psi", 0.0..=10.0, 0.2, cx);
        let ks = f("ks_p_value", 0.0..=1.0, 0.05, cx);
        let w = f("wasserstein", 0.0..=10.0, 0.1, cx);
        let js = f("jensen_shannon", 0.0..=1.0, 0.1, cx);
        let chi = f("chi2_p_value", 0.0..=1.0, 0.05, cx);
        let share = f("dataset_drift_share", 0.0..=1.0, 0.5, cx);
        d.finish(cx);
        Some(Drift {
            psi: psi?,
            ks_p_value: ks?,
            wasserstein: w?,
            jensen_shannon: js?,
            chi2_p_value: chi?,
            dataset_drift_share: share?,
        })
    };
    let min_accuracy = or(
        m.opt("min_accuracy")
            .map(|n| cx.float(n, "monitoring.min_accuracy", 0.0..=1.0)),
        0.75,
    );
    let min_f1 = or(
        m.opt("min_f1")
            .map(|n| cx.float(n, "monitoring.min_f1", 0.0..=1.0)),
        0.7,
    );
    let max_rmse = or(
        m.opt("max_rmse")
            .map(|n| cx.float(n, "monitoring.max_rmse", 0.0..=f64::MAX)),
        0.0,
    );
    let max_mae = or(
        m.opt("max_mae")
            .map(|n| cx.float(n, "monitoring.max_mae", 0.0..=f64::MAX)),
        0.0,
    );
    let min_coverage = or(
        m.opt("min_coverage")
            .map(|n| cx.float(n, "monitoring.min_coverage", 0.0..=1.0)),
        0.0,
    );
    let latency = or(
        m.opt("max_latency_p99_ms")
            .map(|n| cx.uint(n, "monitoring.max_latency_p99_ms", 1..=60_000)),
        100,
    );
    let error_rate = or(
        m.opt("max_error_rate")
            .map(|n| cx.float(n, "monitoring.max_error_rate", 0.0..=1.0)),
        0.01,
    );
    let retrain_on = match m.opt("retrain_on") {
        None => Some(vec!["drift".to_string(), "accuracy".to_string()]),
        Some(n) => cx.list(n, "monitoring.retrain_on", |cx, n, p| {
            cx.one_of(n, p, &["drift", "accuracy"]).map(str::to_string)
        }),
    };
    let cooldown = or(
        m.opt("cooldown_hours")
            .map(|n| cx.uint(n, "monitoring.cooldown_hours", 0..=8760)),
        24,
    );
    let alerts = match m.opt("alerts") {
        None => Some(Vec::new()),
        Some(n) => cx.list(n, "monitoring.alerts", |cx, n, p| cx.spanned_string(n, p)),
    };
    m.finish(cx);
    let alerts = alerts?;
    Some((
        Monitoring {
            window_days: window?,
            sample_rate: sample?,
            drift: drift?,
            min_accuracy: min_accuracy?,
            min_f1: min_f1?,
            max_rmse: max_rmse?,
            max_mae: max_mae?,
            min_coverage: min_coverage?,
            max_latency_p99_ms: latency?,
            max_error_rate: error_rate?,
            retrain_on: retrain_on?,
            cooldown_hours: cooldown?,
            alerts: alerts.iter().map(|s| s.value.clone()).collect(),
        },
        alerts,
    ))
}

/// Alerts, and their names for reference checks.
fn decode_alerts(n: &Node, cx: &mut Cx) -> Option<(Vec<Alert>, Vec<String>)> {
    let items = cx.seq(n, "alerts")?;
    let mut out = Vec::new();
    let mut seen: IndexMap<String, usize> = IndexMap::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let path = format!("alerts[{i}]");
        let Some(mut m) = cx.map(item, &path) else {
            ok = false;
            continue;
        };
        let name = m.req(cx, "name").and_then(|n| {
            let s = cx.string(n, &format!("{path}.name"))?;
            let s = named(cx, n, "alert name", &s)?;
            if let Some(line) = seen.get(&s) {
                cx.error_hint(
                    n,
                    format!("duplicate alert name `{s}`"),
                    format!("`{s}` is already declared at line {line}"),
                );
                return None;
            }
            seen.insert(s.clone(), n.pos.line);
            Some(s)
        });
        let email = m.opt("email").and_then(|n| {
            let s = cx.string(n, &format!("{path}.email"))?;
            if s.contains('@') && !s.starts_with('@') && !s.ends_with('@') {
                Some(AlertTarget::Email(s))
            } else {
                cx.error(
                    n,
                    format!("`{path}.email` must be an email address, found `{s}`"),
                );
                None
            }
        });
        let webhook = m.opt("webhook").and_then(|n| {
            let s = cx.string(n, &format!("{path}.webhook"))?;
            if s.starts_with("https://") || s.starts_with("http://") {
                Some(AlertTarget::Webhook(s))
            } else {
                cx.error_hint(
                    n,
                    format!("`{path}.webhook` must be an http(s) URL, found `{s}`"),
                    format!("write `https://{s}`"),
                );
                None
            }
        });
        let has_email = m.node_has("email");
        let has_webhook = m.node_has("webhook");
        m.finish(cx);
        if has_email && has_webhook {
            cx.error(
                item,
                format!("`{path}` sets both `email` and `webhook`: declare two alerts"),
            );
            ok = false;
            continue;
        }
        if !has_email && !has_webhook {
            cx.error(
                item,
                format!("`{path}` needs a target: `email` or `webhook`"),
            );
            ok = false;
            continue;
        }
        match (name, email.or(webhook)) {
            (Some(name), Some(target)) => out.push(Alert { name, target }),
            _ => ok = false,
        }
    }
    let names = seen.keys().cloned().collect();
    ok.then_some((out, names))
}
