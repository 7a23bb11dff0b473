//! A Lambda executor on this machine: a function's packaged `bootstrap` runs as a child process
//! behind a Runtime API served here ([`runtime`]), as Lambda runs it (its configuration as
//! environment, its working directory the package's). Warm instances are reused; more start up
//! to the function's concurrency limit; an invocation past the function's timeout kills its
//! instance and fails with `Task timed out after N seconds`, as on Lambda; each instance's
//! output is passed on line by line, prefixed with the function and the instance.
//!
//! The outcome of an invocation is what Lambda's `Invoke` API gives: the function's response,
//! or a function error (its own, a timeout, an init error or an exit) as a
//! `{"errorType", "errorMessage"}` body.

pub mod deployed;
pub mod events;
pub mod gateway;
pub mod runtime;

use std::collections::VecDeque;
use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, watch};

use runtime::{Invocation, Reply, Runtime};

/// Where a line of an instance's output goes: `(instance label, line)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// A sink that writes each line to standard error as `[label] line`.
pub fn stderr_sink() -> LogSink {
    Arc::new(|label, line| eprintln!("[{label}] {line}"))
}

/// How to run one function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's name (as deployed, e.g. `heart-disease-predict`).
    pub name: String,
    /// The `bootstrap` executable.
    pub bootstrap: PathBuf,
    /// The function's environment (its configuration; credentials and region included).
    pub env: Vec<(String, String)>,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// At most this many instances at once.
    pub concurrency: usize,
    /// The ARN it is invoked as.
    pub arn: String,
}

/// What an invocation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response payload.
    Response(Bytes),
    /// A function error (Lambda's `X-Amz-Function-Error: Unhandled`): its `{"errorType",
    /// "errorMessage"}` body.
    Error(FunctionFailure),
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionFailure {
    /// The error type (`Runtime.ExitError`, `Sandbox.Timedout`, or the function's own).
    pub error_type: String,
    pub message: String,
    /// Whether the function itself answered with the error (as opposed to its instance
    /// failing: a timeout, a crash, an init error), after which the instance stays warm.
    pub handled: bool,
}

impl FunctionFailure {
    /// The body Lambda gives for it.
    pub fn body(&self) -> serde_json::Value {
        json!({"errorType": self.error_type, "errorMessage": self.message})
    }
}

impl std::fmt::Display for FunctionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// One running instance of the function.
struct Instance {
    label: String,
    pid: u32,
    runtime: Arc<Runtime>,
    queue: mpsc::UnboundedSender<Invocation>,
    /// Set with the exit status when the process ends.
    exited: watch::Receiver<Option<String>>,
}

impl Instance {
    fn kill(&self) {
        signal(self.pid, "KILL");
    }
}

/// Send `sig` to the process `pid` (no `unsafe` here: through `kill(1)`).
fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs one function: its warm instances and the limit on how many run at once.
pub struct Executor {
    spec: FunctionSpec,
    idle: Mutex<VecDeque<Instance>>,
    slots: Semaphore,
    started: AtomicUsize,
    logs: LogSink,
}

impl Executor {
    pub fn new(spec: FunctionSpec, logs: LogSink) -> Executor {
        let slots = Semaphore::new(spec.concurrency.max(1));
        Executor {
            spec,
            idle: Mutex::default(),
            slots,
            started: AtomicUsize::new(0),
            logs,
        }
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// How many instances have been started (cold starts).
    pub fn cold_starts(&self) -> usize {
        self.started.load(Ordering::Relaxed)
    }

    /// Invoke the function with `payload` and wait for its outcome. `Err` only when no instance
    /// could be started at all (the `bootstrap` cannot be run).
    pub async fn invoke(&self, request_id: &str, payload: Bytes) -> Result<Outcome, String> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| "the executor is stopping".to_string())?;
        let warm = self.idle.lock().ok().and_then(|mut idle| {
            // An instance that ended while idle is gone (Lambda starts another).
            idle.retain(|i| i.exited.borrow().is_none());
            idle.pop_front()
        });
        let instance = match warm {
            Some(i) => i,
            None => self.start().await?,
        };
        let reply = instance.runtime.expect(request_id);
        let deadline = runtime::now_ms() + self.spec.timeout.as_millis();
        let sent = instance.queue.send(Invocation {
            id: request_id.to_string(),
            payload,
            deadline_ms: deadline,
            arn: self.spec.arn.clone(),
        });
        if sent.is_err() {
            return Err(format!("{}: the instance stopped", instance.label));
        }
        let mut exited = instance.exited.clone();
        let mut init_error = instance.runtime.init_error.subscribe();
        let failure = |error_type: &str, message: String| {
            Outcome::Error(FunctionFailure {
                error_type: error_type.to_string(),
                message,
                handled: false,
            })
        };
        tokio::select! {
            r = reply => {
                let outcome = match r {
                    Ok(Reply::Response(b)) => Outcome::Response(b),
                    Ok(Reply::Error { error_type, body }) => Outcome::Error(function_error(error_type, &body)),
                    Err(_) => failure("Runtime.Unknown", "the instance dropped the invocation".into()),
                };
                if let Ok(mut idle) = self.idle.lock() {
                    idle.push_back(instance);
                }
                Ok(outcome)
            }
            _ = tokio::time::sleep(self.spec.timeout) => {
                instance.kill();
                (self.logs)(&instance.label, &format!("{request_id} Task timed out after {:.2} seconds; instance stopped", self.spec.timeout.as_secs_f64()));
                Ok(failure("Sandbox.Timedout", format!(
                    "{} {request_id} Task timed out after {:.2} seconds",
                    mlinfra_core::clock::now_rfc3339(),
                    self.spec.timeout.as_secs_f64()
                )))
            }
            e = init_error.wait_for(Option::is_some) => {
                let (t, body) = e.ok().and_then(|e| e.clone()).unwrap_or_default();
                instance.kill();
                let f = function_error(t, body.to_string().as_bytes());
                Ok(failure(&f.error_type, f.message))
            }
            s = exited.wait_for(Option::is_some) => {
                let status = s.ok().and_then(|s| s.clone()).unwrap_or_default();
                // An init error reported before the exit is the reason.
                if let Some((t, body)) = instance.runtime.init_error.borrow().clone() {
                    let f = function_error(t, body.to_string().as_bytes());
                    return Ok(failure(&f.error_type, f.message));
                }
                Ok(failure("Runtime.ExitError", format!("RequestId: {request_id} Error: Runtime exited with error: {status}")))
            }
        }
    }

    /// Start an instance; it initialises while its first event waits for it.
    async fn start(&self) -> Result<Instance, String> {
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let label = format!("{} {n}", self.spec.name);
        let (tx, rx) = mpsc::unbounded_channel();
        let runtime = Runtime::start(rx)
            .await
            .map_err(|e| format!("cannot serve a Runtime API: {e}"))?;
        // The package's directory is the working directory (Lambda's `/var/task`).
        let bootstrap = std::path::absolute(&self.spec.bootstrap)
            .unwrap_or_else(|_| self.spec.bootstrap.clone());
        let dir = bootstrap
            .parent()
            .map_or_else(|| PathBuf::from("/"), PathBuf::from);
        let mut c = Command::new(&bootstrap);
        c.env_clear()
            .current_dir(&dir)
            .envs(lambda_env(&self.spec, &runtime.addr.to_string(), n))
            .envs(self.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::NotFound {
                "\nhint: build the functions with `mlinfra build`"
            } else {
                ""
            };
            format!("cannot run `{}`: {e}{hint}", bootstrap.display())
        })?;
        let pid = child.id();
        pass_output(&mut child, &self.logs, &label);
        let (exit_tx, exited) = watch::channel(None);
        let (sink, exit_label) = (Arc::clone(&self.logs), label.clone());
        std::thread::spawn(move || {
            let status = child
                .wait()
                .map_or_else(|e| e.to_string(), |s| s.to_string());
            sink(&exit_label, &format!("instance ended ({status})"));
            let _ = exit_tx.send(Some(status));
        });
        Ok(Instance {
            label,
            pid,
            runtime,
            queue: tx,
            exited,
        })
    }

    /// The extensions the warm instances registered (their names).
    pub fn extensions(&self) -> Vec<String> {
        let Ok(idle) = self.idle.lock() else {
            return Vec::new();
        };
        idle.iter()
            .flat_map(|i| {
                i.runtime
                    .extensions
                    .lock()
                    .map(|e| e.clone())
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Stop every warm instance as Lambda does: the shutdown event to its extensions and
    /// SIGTERM, then SIGKILL after `grace`. Returns how each ended (`exit status: 0`, or
    /// `killed` when it outlived the grace).
    pub async fn shutdown(&self, grace: Duration) -> Vec<String> {
        let instances: Vec<Instance> = self
            .idle
            .lock()
            .map(|mut i| i.drain(..).collect())
            .unwrap_or_default();
        for i in &instances {
            i.runtime.shutdown.send_replace(true);
            signal(i.pid, "TERM");
        }
        let mut ends = Vec::new();
        for mut i in instances {
            let ended = tokio::time::timeout(grace, async {
                i.exited
                    .wait_for(Option::is_some)
                    .await
                    .ok()
                    .and_then(|s| s.clone())
            })
            .await;
            match ended {
                Ok(Some(status)) => ends.push(status),
                _ => {
                    i.kill();
                    ends.push("killed".to_string());
                }
            }
        }
        ends
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if let Ok(idle) = self.idle.lock() {
            for i in idle.iter() {
                i.kill();
            }
        }
    }
}

/// A function error from the body the function posted (`{"errorType", "errorMessage"}`).
fn function_error(header: Option<String>, body: &[u8]) -> FunctionFailure {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    FunctionFailure {
        error_type: v["errorType"]
            .as_str()
            .map(str::to_string)
            .or(header)
            .unwrap_or_else(|| "Unhandled".to_string()),
        message: v["errorMessage"]
            .as_str()
            .map_or_else(|| String::from_utf8_lossy(body).to_string(), str::to_string),
        handled: true,
    }
}

/// The variables Lambda sets for a `provided.al2023` function.
fn lambda_env(spec: &FunctionSpec, api: &str, instance: usize) -> Vec<(String, String)> {
    let region = spec
        .env
        .iter()
        .find(|(k, _)| k == "AWS_REGION")
        .map_or("us-east-1".to_string(), |(_, v)| v.clone());
    let day = mlinfra_core::clock::now_rfc3339();
    let day = day.get(..10).unwrap_or("1970-01-01").replace('-', "/");
    let task_root = std::path::absolute(&spec.bootstrap)
        .unwrap_or_else(|_| spec.bootstrap.clone())
        .parent()
        .map_or_else(String::new, |p| p.display().to_string());
    [
        ("AWS_LAMBDA_RUNTIME_API", api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{day}/[$LATEST]{instance:032x}"),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        (
            "AWS_EXECUTION_ENV",
            "AWS_Lambda_provided.al2023".to_string(),
        ),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("_HANDLER", "bootstrap".to_string()),
        ("TZ", ":UTC".to_string()),
        ("LANG", "en_US.UTF-8".to_string()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Pass a child's standard output and error on to `sink`, line by line, labelled `label`, from
/// threads that end with the streams.
pub fn pass_output(child: &mut std::process::Child, sink: &LogSink, label: &str) {
    let streams = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn std::io::Read + Send>),
    ];
    for out in streams.into_iter().flatten() {
        let (sink, label) = (Arc::clone(sink), label.to_string());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink(&label, &line);
            }
        });
    }
}

/// A request id shaped as Lambda's (a UUID v4).
pub fn request_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_function_error_keeps_the_functions_type_and_message() {
        let f = function_error(
            Some("Header.Type".into()),
            br#"{"errorType":"mlinfra.InvalidInput","errorMessage":"bad"}"#,
        );
        assert_eq!(f.error_type, "mlinfra.InvalidInput");
        assert_eq!(f.message, "bad");
        let f = function_error(Some("Header.Type".into()), b"not json");
        assert_eq!(f.error_type, "Header.Type");
        assert_eq!(f.message, "not json");
    }
}
