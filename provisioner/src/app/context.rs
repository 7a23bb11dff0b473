//! What every entry point needs first: find and load the stack file, pick the environment, and
//! reach its provider and state ([`Context`]); the desired graph of the platform; and
//! [`Failure`], the error a user reads.

use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::engine::graph::{self, Graph};
use crate::engine::state::{FileStore, State};
use crate::engine::store::{Lock, Store};
use crate::output::Out;
use crate::providers::AnyProvider;
use crate::providers::aws::{AwsProvider, AwsSettings};
use crate::providers::azure::AzuriteProvider;
use crate::providers::local::LocalProvider;
use crate::stack::{self, EnvKind, Loaded};

/// An error for the user, with what to do about it apart: printed as `error: <message>` and
/// `hint: <hint>` lines, or with `--output json` as one object (see [`Failure::to_json`]).
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub hint: Option<String>,
    /// The exit code; `-1` for a message that is already fully rendered.
    pub code: i32,
}

impl Failure {
    /// A failure whose text may end in `\nhint: ...` (as the layers below write their errors):
    /// the hint is taken apart from the message.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let (message, hint) = match text.split_once("\nhint: ") {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (text, None),
        };
        Failure {
            message,
            hint,
            code: 1,
        }
    }

    /// The same failure with another exit code.
    pub fn with_code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    /// A message that is already fully rendered (stack diagnostics).
    pub fn rendered(text: String) -> Self {
        Failure {
            message: text,
            hint: None,
            code: -1,
        }
    }

    /// The message with its hint lines, as one text (to wrap in another message).
    pub fn text(&self) -> String {
        match &self.hint {
            Some(h) => format!("{}\nhint: {h}", self.message),
            None => self.message.clone(),
        }
    }

    /// The exit code the process ends with.
    pub fn exit_code(&self) -> i32 {
        if self.code == -1 { 1 } else { self.code }
    }

    /// As people read it: `error: <message>` then `hint: <hint>`, ending in a newline.
    pub fn to_text(&self) -> String {
        if self.code == -1 {
            return self.message.clone();
        }
        format!("error: {}\n", self.text())
    }

    /// As `--output json` writes it: `{"error": {"message", "hint", "exit_code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"error": {
            "message": self.message,
            "hint": self.hint,
            "exit_code": self.exit_code(),
        }})
    }
}

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(e.to_string())
    }
}

/// Find the stack file when `-f` is not given.
pub fn default_stack_file() -> Result<PathBuf, Failure> {
    for name in ["mlinfra.yaml", "mlinfra.yml", "stack.yaml"] {
        if Path::new(name).is_file() {
            return Ok(PathBuf::from(name));
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("stacks")
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failure::new(
            "no stack file: none given with `-f`, no `mlinfra.yaml` here and no `stacks/*.yaml`\nhint: pass one with `-f stacks/heart-disease.yaml`",
        )),
        _ => Err(Failure::new(format!(
            "several stack files in `stacks/`: {}\nhint: choose one with `-f`",
            found
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Load the stack named by the flags, rendering its diagnostics on failure.
pub fn load_stack(g: &Global) -> Result<Loaded, Failure> {
    let path = match &g.file {
        Some(p) => p.clone(),
        None => default_stack_file()?,
    };
    stack::load(&path).map_err(|e| Failure::rendered(e.render()))
}

/// Everything a verb that acts on an environment needs.
pub struct Context {
    pub loaded: Loaded,
    pub env: EnvKind,
    pub out: Out,
    /// The local environment's directory.
    pub root: PathBuf,
    /// `--endpoint` (or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// `--artifacts`: where the functions' packages are.
    pub artifacts: PathBuf,
}

impl Context {
    /// `up` and `down` refuse an environment whose infrastructure Terraform owns.
    pub fn refuse_if_terraform(&self, verb: &str) -> Result<(), Failure> {
        if self.env == EnvKind::Aws
            && self.loaded.stack.environments.aws.managed_by == stack::schema::ManagedBy::Terraform
        {
            return Err(Failure::new(format!(
                "`environments.aws.managed_by` is `terraform`: Terraform creates and changes this environment's infrastructure, so `mlinfra {verb}` leaves it alone\nhint: run `terraform apply` (or `destroy`) in the root module that uses terraform/aws, with the inputs `mlinfra export terraform --out mlinfra.json` writes; `mlinfra diff --env aws` compares what is deployed with the stack"
            )));
        }
        Ok(())
    }

    /// For the verbs that manage a platform on any environment.
    pub fn any_env(g: &Global) -> Result<Context, Failure> {
        let loaded = load_stack(g)?;
        let env = g.env.unwrap_or(loaded.stack.default_env);
        let root = match &loaded.stack.environments.local.dir {
            Some(d) => PathBuf::from(d),
            None => Path::new(".mlinfra").join(&loaded.stack.name),
        };
        Ok(Context {
            loaded,
            env,
            out: Out::new(g),
            root,
            endpoint: g.endpoint.clone(),
            artifacts: g.artifacts.clone(),
        })
    }

    /// The stack against its data file (see [`stack::data::check`]): warnings are printed, an
    /// error (a label or categorical column the file lacks) stops the command.
    pub fn check_data(&self) -> Result<(), Failure> {
        let data = stack::data::check(&self.loaded);
        for w in &data.warnings {
            self.out.warn(w);
        }
        if data.errors.is_empty() {
            return Ok(());
        }
        let file = self.loaded.path.display().to_string();
        let src = std::fs::read_to_string(&self.loaded.path).unwrap_or_default();
        Err(Failure::rendered(crate::diag::render_all(
            &data.errors,
            &file,
            &src,
        )))
    }

    /// How the AWS provider connects for this environment.
    pub fn aws_settings(&self) -> Result<AwsSettings, Failure> {
        let stack = &self.loaded.stack;
        let (env, region, endpoint, profile) = match self.env {
            EnvKind::Localstack => (
                "localstack",
                stack.environments.localstack.region.clone(),
                Some(
                    self.endpoint
                        .clone()
                        .filter(|e| !e.is_empty())
                        .unwrap_or_else(|| stack.environments.localstack.endpoint.clone()),
                ),
                None,
            ),
            EnvKind::Local => {
                return Err(Failure::new(
                    "the `local` environment has no AWS settings: it runs on this machine",
                ));
            }
            EnvKind::Azurite => {
                return Err(Failure::new(
                    "the `azurite` environment is Azure's storage, not AWS\nhint: use `--env localstack` or `--env aws` for this command",
                ));
            }
            EnvKind::Aws => {
                let region = stack
                    .environments
                    .aws
                    .region
                    .clone()
                    .or_else(|| std::env::var("AWS_REGION").ok())
                    .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                    .ok_or_else(|| {
                        Failure::new(
                            "no AWS region: `environments.aws.region` is not set in the stack and neither is `AWS_REGION`\nhint: add `region: eu-west-1` (for example) under `environments.aws`",
                        )
                    })?;
                (
                    "aws",
                    region,
                    self.endpoint.clone().filter(|e| !e.is_empty()),
                    stack.environments.aws.profile.clone(),
                )
            }
        };
        Ok(AwsSettings {
            env,
            region,
            endpoint,
            profile,
            stack: stack.name.clone(),
            model: stack.model.name.clone(),
            bucket: stack.lake.bucket.clone(),
            artifacts: self.artifacts.clone(),
        })
    }

    /// The AWS provider of `--env localstack|aws`, after checking that an emulator's endpoint
    /// answers.
    pub async fn aws_provider(&self) -> Result<AwsProvider, Failure> {
        let settings = self.aws_settings()?;
        if let Some(ep) = &settings.endpoint {
            crate::providers::aws::probe(ep).map_err(Failure::new)?;
        }
        Ok(AwsProvider::new(settings).await)
    }

    /// The storage account of `--env azurite`: `AZURE_STORAGE_CONNECTION_STRING` when set, else
    /// Azurite's development account at `--endpoint` (default `http://127.0.0.1:10000`). An
    /// endpoint that only came from `AWS_ENDPOINT_URL` is AWS's, and is not used here.
    pub fn azure_account(&self) -> Result<mlinfra_core::azure::Account, Failure> {
        if let Some(a) = mlinfra_core::azure::Account::from_env().map_err(|e| Failure::new(e.0))? {
            return Ok(a);
        }
        let from_aws_env = std::env::var("AWS_ENDPOINT_URL").ok();
        let endpoint = self
            .endpoint
            .as_deref()
            .filter(|e| !e.is_empty() && Some(*e) != from_aws_env.as_deref());
        Ok(mlinfra_core::azure::Account::azurite(endpoint))
    }

    /// The provider of `--env azurite`, after checking that the blob endpoint answers.
    pub async fn azurite_provider(&self) -> Result<AzuriteProvider, Failure> {
        let account = self.azure_account()?;
        crate::providers::aws::probe(&account.blob_endpoint).map_err(|e| {
            // The probe's own hint is about LocalStack.
            let first = e.lines().next().unwrap_or_default();
            Failure::new(format!(
                "{first}\nhint: start Azurite (`make azurite`, then `azurite/node_modules/.bin/azurite-blob --inMemoryPersistence`), point `--endpoint` at it, or set AZURE_STORAGE_CONNECTION_STRING"
            ))
        })?;
        let stack = &self.loaded.stack;
        AzuriteProvider::new(
            account,
            &stack.lake.bucket,
            &format!("{}-registry", stack.name),
            LocalProvider::new(self.root.join("azurite"), &stack.name, &stack.model.name),
        )
        .map_err(Failure::new)
    }

    /// The `bootstrap.zip` that `mlinfra build` made for `function` in `--artifacts`.
    pub fn package(&self, function: &str) -> Result<Vec<u8>, Failure> {
        let zip = self.artifacts.join(function).join("bootstrap.zip");
        std::fs::read(&zip).map_err(|e| {
            Failure::new(format!(
                "cannot read the `{function}` function's package `{}`: {e}\nhint: run `mlinfra build` first (or point `--artifacts` at its output)",
                zip.display()
            ))
        })
    }

    /// The provider and the state store of this environment.
    pub async fn infra(&self) -> Result<(AnyProvider, Store), Failure> {
        if self.env == EnvKind::Local {
            return Ok((
                AnyProvider::Local(self.provider()),
                std::sync::Arc::new(self.store()),
            ));
        }
        if self.env == EnvKind::Azurite {
            let p = self.azurite_provider().await?;
            let store = std::sync::Arc::new(crate::providers::azure::state::BlobState::new(
                p.lake.clone(),
                self.env.as_str(),
            ));
            return Ok((AnyProvider::Azurite(Box::new(p)), store));
        }
        let p = self.aws_provider().await?;
        let store = std::sync::Arc::new(crate::providers::aws::state::S3Store::new(
            p.clients.s3.clone(),
            &p.settings.bucket,
            self.env.as_str(),
        ));
        Ok((AnyProvider::Aws(Box::new(p)), store))
    }

    /// The desired graph; on AWS each function carries the hash of the `bootstrap.zip` to
    /// deploy (so `up` uploads only code that changed).
    pub fn desired(&self) -> Result<Graph, Failure> {
        let mut graph = desired_graph(&self.loaded.stack)?;
        if self.env == EnvKind::Localstack && !self.plain_http_endpoint().is_empty() {
            // Over plain HTTP every request would be denied by a TLS-only policy (and moto
            // denies by any conditional Deny): the lake cannot be TLS-only there.
            if let Some(lake) = graph.resources.get_mut("lake") {
                lake.props["tls_only"] = serde_json::json!(false);
            }
        }
        if self.env == EnvKind::Azurite {
            crate::providers::azure::add_defaults(&mut graph).map_err(Failure::new)?;
        }
        // The Lambda packages deployed on AWS; on `local` and `azurite` this binary runs the
        // functions.
        if matches!(self.env, EnvKind::Localstack | EnvKind::Aws) {
            for r in graph
                .resources
                .values_mut()
                .filter(|r| r.kind == crate::engine::ResourceKind::Function)
            {
                let f = r.props["function"].as_str().unwrap_or_default().to_string();
                let bytes = self.package(&f)?;
                r.props["code_sha256"] = serde_json::json!(crate::build::code_sha256(&bytes));
            }
        }
        Ok(graph)
    }

    /// The endpoint of `--env localstack` when it is plain `http://` (empty otherwise).
    pub fn plain_http_endpoint(&self) -> String {
        match self.aws_settings() {
            Ok(AwsSettings {
                endpoint: Some(ep), ..
            }) if ep.starts_with("http://") => ep,
            _ => String::new(),
        }
    }

    /// Take the state lock of this environment.
    pub async fn lock(&self, store: &Store, operation: &str) -> Result<Lock, Failure> {
        Ok(store.lock(operation).await?)
    }

    pub fn stack_name(&self) -> &str {
        &self.loaded.stack.name
    }

    pub fn store(&self) -> FileStore {
        FileStore::new(self.root.join("state.json"))
    }

    pub fn provider(&self) -> LocalProvider {
        LocalProvider::new(
            self.root.clone(),
            &self.loaded.stack.name,
            &self.loaded.stack.model.name,
        )
    }

    /// The recorded state in `store`, or an empty one.
    pub async fn state_in(&self, store: &Store) -> Result<State, Failure> {
        Ok(store
            .load(self.stack_name(), self.env.as_str())
            .await?
            .unwrap_or_else(|| State::new(self.stack_name(), self.env.as_str())))
    }

    /// The recorded state, or an empty one.
    pub fn state(&self) -> Result<State, Failure> {
        Ok(self
            .store()
            .load(self.stack_name(), self.env.as_str())?
            .unwrap_or_else(|| State::new(self.stack_name(), self.env.as_str())))
    }
}

/// The platform a stack describes: the graph of its resources, and the jobs' settings derived
/// from it (a resource like the others, in the lake, so that `diff` shows a changed threshold
/// and `down` removes it). Reads the stack's curated schema file when it names one.
pub fn desired_graph(stack: &stack::Stack) -> Result<Graph, Failure> {
    let mut graph = graph::desired(stack)?;
    let settings = serde_json::to_value(super::settings::jobs(stack)?)
        .map_err(|e| Failure::new(format!("cannot encode the jobs' settings: {e}")))?;
    graph.resources.insert(
        "settings.jobs".to_string(),
        graph::Resource {
            addr: "settings.jobs".to_string(),
            kind: crate::engine::ResourceKind::Settings,
            props: settings,
            depends_on: vec!["lake".to_string()],
        },
    );
    Ok(graph)
}
