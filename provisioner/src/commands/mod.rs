//! The verbs. Each returns the process exit code or a [`Failure`] that `main` prints.
//!
//! [`Context`] does what every verb needs first: find and load the stack file, pick the
//! environment, and locate its state.

pub mod data;
pub mod diff;
pub mod down;
pub mod models;
pub mod outputs;
pub mod pipeline;
pub mod predict;
pub mod serve;
pub mod status;
pub mod unlock;
pub mod up;
pub mod validate;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use crate::cli::Global;
use crate::engine::state::{FileStore, State};
use crate::output::Out;
use crate::providers::local::LocalProvider;
use crate::stack::{self, EnvKind, Loaded};

/// An error for the user: printed as `error: ...` (and its hint lines), exit code 1.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }

    /// A message that is already fully rendered (stack diagnostics).
    pub fn rendered(text: String) -> Self {
        Failure {
            message: text,
            code: -1,
        }
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
}

impl Context {
    pub fn new(g: &Global) -> Result<Context, Failure> {
        let loaded = load_stack(g)?;
        let env = g.env.unwrap_or(loaded.stack.default_env);
        if env != EnvKind::Local {
            return Err(Failure::new(format!(
                "the `{}` environment is not available in this build of mlinfra yet: it comes with the AWS provider\nhint: use `--env local` (the default), which needs nothing installed",
                env.as_str()
            )));
        }
        let root = match &loaded.stack.environments.local.dir {
            Some(d) => PathBuf::from(d),
            None => Path::new(".mlinfra").join(&loaded.stack.name),
        };
        Ok(Context {
            loaded,
            env,
            out: Out::new(g),
            root,
        })
    }

    pub fn stack_name(&self) -> &str {
        &self.loaded.stack.name
    }

    pub fn store(&self) -> FileStore {
        FileStore::new(self.root.join("state.json"))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join("state.lock")
    }

    pub fn provider(&self) -> LocalProvider {
        LocalProvider::new(
            self.root.clone(),
            &self.loaded.stack.name,
            &self.loaded.stack.model.name,
        )
    }

    /// The recorded state, or an empty one.
    pub fn state(&self) -> Result<State, Failure> {
        Ok(self
            .store()
            .load(self.stack_name(), self.env.as_str())?
            .unwrap_or_else(|| State::new(self.stack_name(), self.env.as_str())))
    }
}

/// Ask the user to confirm, or refuse when nobody can answer.
pub fn confirm(question: &str, yes: bool, flag_hint: &str) -> Result<bool, Failure> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(format!(
            "refusing to continue without confirmation: standard input is not a terminal\nhint: review the plan, then run `{flag_hint}`"
        )));
    }
    eprint!("{question} Only `yes` is accepted: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    Ok(line.trim() == "yes")
}

/// A flag set at Ctrl-C (SIGINT): the applier then starts no new step, lets the running ones
/// finish, records them and returns. The handler is registered before this returns, so there is
/// no window in which Ctrl-C kills the process mid-apply.
pub fn interrupt_flag() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::Ordering;
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let notice = move || {
        f.store(true, Ordering::SeqCst);
        eprintln!(
            "\ninterrupt received: finishing the steps already running and saving the state..."
        );
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::interrupt()) {
            Ok(mut sig) => {
                tokio::spawn(async move {
                    if sig.recv().await.is_some() {
                        notice();
                    }
                });
            }
            Err(e) => eprintln!(
                "warning: cannot handle Ctrl-C ({e}); an interrupt will stop mlinfra at once"
            ),
        }
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            notice();
        }
    });
    flag
}
