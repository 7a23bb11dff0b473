//! What the function binaries need of the Lambda Runtime API besides `lambda_runtime::run`:
//! reporting an initialisation failure (a missing configuration, a model source that cannot be
//! used) to `/2018-06-01/runtime/init/error`, so Lambda records the reason instead of
//! "Runtime exited", and starting a function so that every such failure is reported.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::FunctionError;

/// The environment variable that holds the Runtime API's `host:port`.
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// POST the error to `/runtime/init/error`. Returns the HTTP status Lambda answered, or why it
/// could not be sent.
pub fn report_init_error(api: &str, e: &FunctionError) -> Result<u16, String> {
    let body =
        serde_json::json!({ "errorType": e.error_type, "errorMessage": e.message }).to_string();
    let mut s = TcpStream::connect(api).map_err(|err| format!("cannot reach {api}: {err}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let req = format!(
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nLambda-Runtime-Function-Error-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        e.error_type,
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|err| format!("cannot send to {api}: {err}"))?;
    let mut head = [0u8; 64];
    let n = s
        .read(&mut head)
        .map_err(|err| format!("no answer from {api}: {err}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("unexpected answer from {api}: {line}"))
}

/// Print an initialisation failure and report it to the Runtime API when there is one; the
/// caller then exits with status 1.
pub fn init_failed(e: &FunctionError) {
    eprintln!("{}: {}", e.error_type, e.message);
    if let Ok(api) = std::env::var(RUNTIME_API) {
        if let Err(why) = report_init_error(&api, e) {
            eprintln!("warning: could not report the init error: {why}");
        }
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
