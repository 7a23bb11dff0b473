//! The command line: clap types only. Each verb is implemented in `commands/<verb>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::stack::EnvKind;

/// One declarative stack file to a serverless ML platform: provision, train, approve, serve,
/// monitor. On this machine by default (`--env local`: nothing to install), or on AWS.
#[derive(Debug, Parser)]
#[command(name = "mlinfra", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Stack file [default: the only `*.yaml` in `stacks/`, or `mlinfra.yaml`]
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        env = "MLINFRA_STACK_FILE",
        value_name = "FILE"
    )]
    pub file: Option<PathBuf>,
    /// Environment to act on [default: the stack's `default_env`, else `local`]
    #[arg(long, global = true, env = "MLINFRA_ENV", value_enum)]
    pub env: Option<EnvKind>,
    /// Output format of results on stdout
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Print more detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Print only results and errors, no progress
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The AWS-compatible endpoint of `--env localstack` [default: the stack's, else
    /// http://localhost:4566]
    #[arg(
        long,
        global = true,
        env = "AWS_ENDPOINT_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub endpoint: Option<String>,
    /// Where `mlinfra build` writes, and `up`, `invoke` and `serve` read, the functions' packages
    /// (`<fn>/bootstrap.zip`; with `--target azure`, `<fn>/functionapp.zip`)
    #[arg(
        long,
        global = true,
        env = "MLINFRA_ARTIFACTS",
        value_name = "DIR",
        default_value = "target/lambda"
    )]
    pub artifacts: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data file: CSV with a header row, or Parquet
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "ci",
        requires = "label"
    )]
    pub data: Option<PathBuf>,
    /// The column to predict
    #[arg(long, value_name = "COLUMN", requires = "data")]
    pub label: Option<String>,
    /// Also write the project's CI/CD for the stack (alone: for the existing stack file):
    /// `.github/workflows/mlinfra.yml` and `.pre-commit-config.yaml`
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub ci: Option<CiSystem>,
    /// The stack's name [default: from the data file's name]
    #[arg(long)]
    pub name: Option<String>,
    /// The positive class of a label with two values [default: the rarer one for text; the
    /// larger one for numbers]
    #[arg(long, value_name = "VALUE", conflicts_with = "positive_when")]
    pub positive: Option<String>,
    /// Make a numeric label binary: positive when this holds, e.g. "> 0"
    #[arg(long, value_name = "CONDITION")]
    pub positive_when: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CiSystem {
    /// GitHub Actions (GitLab: see docs/ci.md)
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    /// A self-contained HTML page (`data stats|schema|validate` only)
    Html,
    /// Comma-separated values (`models audit` only)
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented stack file (`mlinfra.yaml`, or `-f FILE`) inferred from a CSV or
    /// Parquet file: the label's task, the categorical columns, a search space; never overwrites
    Init(InitArgs),
    /// Check a stack file without touching the network; report every error at once
    Validate,
    /// Show what `up` would change, without changing anything
    Diff(DiffArgs),
    /// Build and package the functions: for Lambda (`bootstrap.zip`) or, with `--target azure`, as Azure Functions apps (`functionapp.zip`)
    Build(BuildArgs),
    /// Create or update the platform to match the stack file
    Up(UpArgs),
    /// Delete everything `up` created (the data lake's contents are kept unless --delete-data)
    Down(DownArgs),
    /// Show the recorded state: resources, serial, last change, lock
    Status,
    /// Print the stack's outputs (data lake, registry, API URL, API key file)
    Outputs(OutputsArgs),
    /// Break a stale state lock left by an interrupted `up` or `down`
    Unlock(UnlockArgs),
    /// Look at a dataset: statistics, inferred schema, anomalies against a schema
    #[command(subcommand)]
    Data(DataCommand),
    /// Run the ML pipeline on the local environment
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Training runs: every execution with who started it, its scores, its blessing and what
    /// became of it in the registry
    #[command(subcommand)]
    Runs(RunsCommand),
    /// The model registry: versions, stage transitions approved by a second person, audit trail
    Models(ModelsArgs),
    /// Serve the API on this machine: the local API gateway in front of the `predict` function
    Serve(ServeArgs),
    /// Batch prediction: a CSV or Parquet file in, each row's label, confidence and
    /// probabilities out
    Predict(PredictArgs),
    /// The prediction API's description
    #[command(subcommand)]
    Api(ApiCommand),
    /// The platform in another tool's format, generated from the stack file
    #[command(subcommand)]
    Export(ExportCommand),
    /// Train on the curated data now, register the model if blessed, request its promotion
    Retrain(RetrainArgs),
    /// Drift, accuracy and alerts for the served traffic; retraining when the policy says so
    #[command(subcommand)]
    Monitor(MonitorCommand),
    /// Run one function's packaged `bootstrap` here, as Lambda runs it, with the environment's
    /// configuration of it; print its response and its logs
    Invoke(InvokeArgs),
    /// The console's accounts: people who sign in to `mlinfra serve`'s console (passwords read
    /// from standard input, stored as Argon2id hashes with the environment's secrets)
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account; its password is the first line of standard input
    Add { name: String },
    /// Set an account's password (the first line of standard input)
    Passwd { name: String },
    /// Remove an account
    Remove { name: String },
    /// List the accounts
    List,
    /// API tokens of an account, for programs (MLflow's client reads MLFLOW_TRACKING_TOKEN)
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for an account; it is printed once and stored only as a hash
    Create { name: String },
    /// List the tokens (their ids, never the tokens), of one account or of all
    List { name: Option<String> },
    /// Revoke a token by its id (`mlinfra_...`, as listed) or the token itself
    Revoke { id: String },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("payload").required(true).args(["event", "schedule", "s3_key"])))]
pub struct InvokeArgs {
    /// The function: etl, train, predict or monitor
    pub function: String,
    /// The event, a JSON file (e.g. an API Gateway proxy event for `predict`)
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// The scheduled event of one of the stack's schedules (`retrain`, `monitor`)
    #[arg(long, value_name = "NAME")]
    pub schedule: Option<String>,
    /// An S3 `ObjectCreated` event for this key of the lake (e.g. `raw/2026-11-30/new.csv`)
    #[arg(long, value_name = "KEY")]
    pub s3_key: Option<String>,
    /// Run the package in `--artifacts` even when it is not the deployed code
    #[arg(long)]
    pub local_build: bool,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Every training execution, oldest first
    List,
    /// One run: its record, its search, and every execution of it
    Show {
        /// Run id (or a unique prefix of one), or an execution id
        id: String,
    },
    /// Runs side by side: parameters, scores and evaluation metrics
    Compare {
        /// Two or more run ids (or unique prefixes)
        #[arg(num_args = 2.., required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct RetrainArgs {
    #[command(flatten)]
    pub identity: Identity,
}

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// Compare the window's traffic with the training data, record the report, alert, and
    /// retrain when drift or accuracy violate the stack's policy (once per cooldown)
    Check(MonitorCheckArgs),
    /// The monitoring report, without acting on it: `--out report.html` (a page with charts),
    /// `--out report.json`, or to stdout with `--output text|json|html`
    Report(MonitorReportArgs),
    /// Leave a time range of traffic (a load test, an incident) out of every later monitoring
    /// run; without `--from`/`--to`, list the ranges left out
    Ignore(MonitorIgnoreArgs),
}

#[derive(Debug, Args)]
pub struct MonitorIgnoreArgs {
    /// Start of the range, RFC 3339 (`2026-11-28T10:00:00Z`)
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of the range, RFC 3339, inclusive
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Why (kept with the range)
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub identity: Identity,
}

#[derive(Debug, Args)]
pub struct MonitorCheckArgs {
    /// Record and alert, but do not start retraining even when it is due
    #[arg(long)]
    pub no_retrain: bool,
    /// Exit 0 when no threshold is crossed, 2 when one is, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct MonitorReportArgs {
    /// Write it to FILE: HTML when it ends in `.html`, JSON otherwise
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build only these functions [default: all]
    #[arg(long = "function", value_name = "NAME")]
    pub functions: Vec<String>,
    /// Where the packages run: `lambda` (`bootstrap.zip`, for `--env aws|localstack`) or
    /// `azure` (`functionapp.zip`, custom handlers with their triggers from the stack file, for
    /// `--env azure|azurite`)
    #[arg(long, value_enum, default_value = "lambda")]
    pub target: crate::build::Target,
    /// The cargo profile to build with (`dev` builds quickly, unoptimised)
    #[arg(long, value_name = "NAME", default_value = "release")]
    pub profile: String,
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Print the OpenAPI 3 document of the API, generated from the Production model's schema
    Spec,
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// The Azure Resource Manager template of the platform (`--env azure`): storage account and
    /// containers, function apps with managed identities, role assignments, alerts
    Arm {
        /// Write the template to FILE instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// The inputs of the Terraform module `terraform/aws` as JSON, from the stack file (names,
    /// schedules, memory, timeouts, thresholds, alerts, the packages in `--artifacts`)
    Terraform {
        /// Write the inputs to FILE (e.g. `mlinfra.json`) instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// CSV with a header row, or Parquet, holding the model's features (other columns are
    /// ignored)
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// `FILE.csv`, `FILE.parquet` or `sqlite://FILE.db` (table `predictions`) [default: CSV on
    /// stdout]. Named `--out` because the global `--output` selects the result format.
    #[arg(long, value_name = "TARGET")]
    pub out: Option<String>,
    /// Which model: `production` or `staging`
    #[arg(long, default_value = "production", value_parser = ["production", "staging"])]
    pub stage: String,
    /// Add each row's explanation: `base` and a `shap_<feature>` column per feature, the SHAP
    /// values of the margin (`base + Σ shap_ = margin`)
    #[arg(long)]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port [default: the stack's `environments.local.port`]
    #[arg(long)]
    pub port: Option<u16>,
    /// Re-check the registry this often [default: the stack's `api.model_refresh_s`]
    #[arg(long, value_name = "SECONDS")]
    pub refresh_seconds: Option<u64>,
    /// `--env localstack|aws`: serve plain HTTP instead of HTTPS
    #[arg(long)]
    pub plain_http: bool,
    /// `--env localstack|aws`: the HTTPS certificate (PEM) [default: a self-signed one made at
    /// start, written to the environment's `serve/cert.pem`]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// `--env localstack|aws`: the certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// `--env localstack|aws`: run the packages in `--artifacts` even when they are not the
    /// deployed code
    #[arg(long)]
    pub local_build: bool,
    /// `--env localstack|aws`: at most this many instances of a function at once
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct Identity {
    /// Who is acting (the local environment's identity; on AWS the caller's identity is used)
    #[arg(long = "as", env = "MLINFRA_USER", value_name = "NAME", global = true)]
    pub actor: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportModelArgs {
    /// The ONNX file
    #[arg(value_name = "FILE")]
    pub onnx: PathBuf,
    /// The model card (YAML) [default: FILE with the extension `.card.yaml`, written from the
    /// graph when it does not exist]
    #[arg(long, value_name = "CARD")]
    pub card: Option<PathBuf>,
    /// Labelled data to evaluate the model on (CSV with a column per feature of the card)
    #[arg(long, value_name = "CSV", requires = "label")]
    pub data: Option<PathBuf>,
    /// The label column of --data
    #[arg(long, value_name = "COLUMN", requires = "data")]
    pub label: Option<String>,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Registered model name [default: the stack's `model.name`]
    #[arg(long, global = true, value_name = "NAME")]
    pub model: Option<String>,
    #[command(flatten)]
    pub identity: Identity,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every version with its stage, metrics and pending requests
    List,
    /// One version in detail (the Production version by default)
    Show {
        /// Version number
        version: Option<u64>,
    },
    /// Register a pipeline run's model as a new version (its checksum is verified)
    Register {
        /// Run id, as `mlinfra pipeline run` printed it
        #[arg(long)]
        run: String,
    },
    /// Import an ONNX model trained elsewhere (scikit-learn, XGBoost, LightGBM): without a card,
    /// write the card inferred from its graph and register nothing; with one, check it against
    /// the graph, evaluate the model on labelled data, bless it and register it
    Import(ImportModelArgs),
    /// Request a version's transition to staging or production
    Request {
        /// Version number
        version: u64,
        /// Target stage
        #[arg(long, value_parser = ["staging", "production"])]
        to: String,
        /// Why
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// Approve a pending request (someone other than its requester)
    Approve {
        /// Request id, such as `r3`
        request: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// Reject a pending request (someone other than its requester)
    Reject {
        request: String,
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// Bring back the most recently archived Production version (approval needed unless the
    /// stack allows emergency rollback)
    Rollback {
        #[arg(short, long, default_value = "")]
        message: String,
    },
    /// The audit trail: every event with who, when, from → to, model sha256, run and data
    Audit,
    /// Bring the registry's mirror (`registry.sagemaker_mirror`) in step with the registry
    Sync,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Per-feature statistics: counts, missing, mean, std, quantiles, histograms, categories
    Stats(DataArgs),
    /// The schema inferred from the data (or the stack's curated schema)
    Schema(DataArgs),
    /// Anomalies of the data against the schema (inferred from the stack's dataset, or --schema)
    Validate(ValidateDataArgs),
    /// Add a file to the data lake's raw/ and run ETL on it: validated rows become a new
    /// curated data version; a file that fails validation is moved to raw/quarantine/
    Ingest(IngestArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// CSV or Parquet file with the dataset's columns, label included
    #[arg(value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Debug, Args)]
pub struct DataArgs {
    /// CSV file with a header row, or Parquet [default: the stack's `dataset.source`]
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Label column [default: the stack's `dataset.label.column`]
    #[arg(long, value_name = "COL")]
    pub label: Option<String>,
}

#[derive(Debug, Args)]
pub struct ValidateDataArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Schema JSON to check against [default: the stack's `dataset.schema`, else inferred from
    /// the stack's `dataset.source`]
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Validate, split, tune, train, evaluate and export a model; write every artifact to the
    /// lake; register the model when it is blessed
    Run(PipelineRunArgs),
}

#[derive(Debug, Args)]
pub struct PipelineRunArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub identity: Identity,
    /// Do not register the model, even when blessed
    #[arg(long)]
    pub no_register: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Apply without asking for confirmation (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Delete without asking for confirmation (required when stdin is not a terminal)
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Also delete the data lake's and the registry's contents
    #[arg(long)]
    pub delete_data: bool,
}

#[derive(Debug, Args)]
pub struct OutputsArgs {
    /// Print only this output's value
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Break the lock even if its holder still seems to be running
    #[arg(long)]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Clap's own consistency checks (conflicting names, bad defaults): panics here, not at a user.
    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
