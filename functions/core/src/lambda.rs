//! What the function binaries need of the Lambda Runtime API besides `lambda_runtime::run`:
//! reporting an initialisation failure (a missing configuration, a model source that cannot be
//! used) to `/2018-06-01/runtime/init/error`, so Lambda records the reason instead of
//! "Runtime exited", starting a function so that every such failure is reported, and the
//! shutdown signal through the Extensions API ([`on_shutdown`]).

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::FunctionError;

/// The environment variable that holds the Runtime API's `host:port`.
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// One HTTP/1.1 request to the Runtime API (`request` is the whole request text): the status
/// and the value of `header` in the answer. `timeout` bounds the wait for the answer (`None`:
/// wait as long as it takes, for an event stream).
fn runtime_call(
    api: &str,
    request: &str,
    header: &str,
    timeout: Option<Duration>,
) -> Result<(u16, Option<String>), String> {
    let mut s = TcpStream::connect(api).map_err(|e| format!("cannot reach {api}: {e}"))?;
    s.set_read_timeout(timeout).ok();
    s.write_all(request.as_bytes())
        .map_err(|e| format!("cannot send to {api}: {e}"))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("no answer from {api}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("unexpected answer from {api}: {text}"))?;
    let value = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(header)
            .then(|| v.trim().to_string())
    });
    Ok((status, value))
}

/// POST the error to `/runtime/init/error`. Returns the HTTP status Lambda answered, or why it
/// could not be sent.
pub fn report_init_error(api: &str, e: &FunctionError) -> Result<u16, String> {
    let body =
        serde_json::json!({ "errorType": e.error_type, "errorMessage": e.message }).to_string();
    let req = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        e.error_type,
        body.len()
    );
    runtime_call(api, &req, "", Some(Duration::from_secs(5))).map(|(status, _)| status)
}

/// Print an initialisation failure and report it to the Runtime API when there is one; the
/// caller then exits with status 1.
pub fn init_failed(e: &FunctionError) {
    eprintln!("{}: {}", e.error_type, e.message);
    if let Ok(api) = std::env::var(RUNTIME_API)
        && let Err(why) = report_init_error(&api, e)
    {
        eprintln!("warning: could not report the init error: {why}");
    }
}

/// The function's configuration from its environment, checked by `check`; on failure the
/// error is reported as an init error and the process exits with status 1.
pub fn config_or_exit(
    check: impl FnOnce(&crate::FunctionConfig) -> Result<(), FunctionError>,
) -> crate::FunctionConfig {
    let config = crate::FunctionConfig::from_env(|k| std::env::var(k).ok())
        .map_err(FunctionError::from)
        .and_then(|c| check(&c).map(|()| c));
    match config {
        Ok(c) => c,
        Err(e) => {
            init_failed(&e);
            std::process::exit(1);
        }
    }
}

impl From<crate::ConfigError> for FunctionError {
    fn from(e: crate::ConfigError) -> Self {
        FunctionError {
            error_type: "mlinfra.InvalidConfig",
            message: e.to_string(),
            retryable: false,
        }
    }
}

/// Run `hook` when the function's environment shuts down, before the process ends. Lambda sends
/// the runtime SIGTERM at shutdown only when an extension is registered, so this registers an
/// internal extension with no events through the Extensions API (before the first invocation;
/// call it before `lambda_runtime::run`) and waits on its event stream, which ends only with the
/// environment. Without an Extensions API (a bare Runtime API), it says so and installs the
/// signal handler alone: a SIGTERM or SIGINT still runs the hook. Call it inside the Tokio
/// runtime.
pub fn on_shutdown<F>(hook: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("warning: no shutdown signal handler: buffered work may be lost at shutdown");
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        hook().await;
        std::process::exit(0);
    });
    let Ok(api) = std::env::var(RUNTIME_API) else {
        return;
    };
    let body = r#"{"events":[]}"#;
    let register = format!(
        "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: {api}\r\nLambda-Extension-Name: mlinfra-shutdown\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let registered = runtime_call(
        &api,
        &register,
        "Lambda-Extension-Identifier",
        Some(Duration::from_secs(5)),
    );
    let id = match registered {
        Ok((200, Some(id))) => id,
        Ok((status, _)) => {
            eprintln!(
                "warning: the Extensions API answered {status} to the registration: no SIGTERM at shutdown"
            );
            return;
        }
        Err(e) => {
            eprintln!("warning: cannot register for the shutdown signal: {e}");
            return;
        }
    };
    let next = format!(
        "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: {api}\r\nLambda-Extension-Identifier: {id}\r\n\r\n"
    );
    // Answered only when the environment shuts down (an extension with no events): a thread of
    // its own waits on it.
    std::thread::spawn(move || {
        let _ = runtime_call(&api, &next, "Lambda-Extension-Event-Identifier", None);
    });
}
