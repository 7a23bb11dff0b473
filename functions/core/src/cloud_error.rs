//! Cloud SDK errors as one sentence for people. The SDKs' errors nest a transport error in a
//! dispatch failure in an operation error, and their `Debug` forms are hundreds of characters of
//! structure; what a user needs is the cause at the bottom and what to do about it.

use std::error::Error;

/// What went wrong below a cloud call, once its error chain is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// No credentials could be found by the default chain.
    NoCredentials,
    /// The endpoint could not be reached; the reason in a few words (`connection refused`).
    Unreachable(String),
    /// Anything else: the innermost message of the chain.
    Other(String),
}

/// The messages of an error and its sources, outermost first.
pub fn chain(e: &(dyn Error + 'static)) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out
}

/// Read an error chain.
///
/// ```
/// use mlinfra_core::cloud_error::{Cause, cause};
/// let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
/// assert_eq!(cause(&refused), Cause::Unreachable("connection refused".into()));
/// ```
pub fn cause(e: &(dyn Error + 'static)) -> Cause {
    let messages = chain(e);
    let all = messages.join(": ").to_ascii_lowercase();
    if all.contains("credential") && !all.contains("invalid") && !all.contains("signature") {
        return Cause::NoCredentials;
    }
    let reasons = [
        ("connection refused", "connection refused"),
        ("dns error", "the host name does not resolve"),
        ("failed to lookup address", "the host name does not resolve"),
        (
            "name or service not known",
            "the host name does not resolve",
        ),
        ("timed out", "the connection timed out"),
        ("timeout", "the connection timed out"),
        ("connection reset", "the connection was reset"),
        ("network is unreachable", "the network is unreachable"),
        ("certificate", "its TLS certificate is not trusted"),
        ("tcp connect error", "the connection failed"),
        ("io error", "the connection failed"),
    ];
    if let Some((_, reason)) = reasons.iter().find(|(k, _)| all.contains(k)) {
        return Cause::Unreachable((*reason).to_string());
    }
    let innermost = messages
        .iter()
        .rev()
        .find(|m| !m.trim().is_empty())
        .cloned()
        .unwrap_or_default();
    Cause::Other(innermost)
}

/// Whether trying a failed call again can help: yes for throttling, timeouts and the service's
/// own failures (5xx), and for a call that got no answer at all (`status` `None`: a dropped
/// connection, an endpoint down); no for an answer that refuses the request itself (denied, not
/// found, malformed, a conflict).
///
/// ```
/// use mlinfra_core::cloud_error::retryable;
/// assert!(retryable(Some(503), Some("SlowDown")));
/// assert!(retryable(None, None));
/// assert!(!retryable(Some(403), Some("AccessDenied")));
/// assert!(retryable(Some(400), Some("RequestTimeout")));
/// ```
pub fn retryable(status: Option<u16>, code: Option<&str>) -> bool {
    const TRANSIENT: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "SlowDown",
        "RequestTimeout",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServerBusy",
        "OperationTimedOut",
    ];
    if code.is_some_and(|c| TRANSIENT.contains(&c)) {
        return true;
    }
    match status {
        None => true,
        Some(s) => s == 408 || s == 429 || s >= 500,
    }
}

/// What an error answer that carries no code and no message means, from its HTTP status alone.
/// A `HEAD` request's answer has no body, so a denied `HeadObject` or `HeadBucket` says only
/// `403`. Returns the code and the sentence to show.
pub fn bare_status(status: u16) -> (&'static str, &'static str) {
    match status {
        403 => (
            "AccessDenied",
            "access denied: the credentials in use are not allowed this call on it, or are not \
             known to this endpoint",
        ),
        404 => ("NotFound", "not found"),
        400 => (
            "BadRequest",
            "the service refused the request without saying why",
        ),
        _ => (
            "HttpError",
            "the service answered with an error and no details",
        ),
    }
}

/// An AWS SDK call's failure as one sentence: `service:Call: message (Code)` for an error the
/// service answered, else what stopped the call (no credentials, an unreachable endpoint).
#[cfg(feature = "s3")]
pub fn sdk_message<E>(
    service: &str,
    name: &str,
    call: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + Error + 'static,
{
    use aws_sdk_s3::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let (bare_code, bare_message) = bare_status(s.raw().status().as_u16());
            let s = s.err();
            format!(
                "{service}:{call}: {} ({})",
                s.message().unwrap_or(bare_message),
                s.code().unwrap_or(bare_code)
            )
        }
        other => match cause(other) {
            Cause::NoCredentials => format!(
                "{service}:{call}: no AWS credentials found: set `AWS_PROFILE` (or `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`), or run `aws configure`"
            ),
            Cause::Unreachable(reason) => {
                format!("{service}:{call}: cannot reach {name}: {reason}")
            }
            Cause::Other(m) => format!("{service}:{call}: {m}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn Error + 'static>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn the_cause_is_read_from_the_bottom_of_the_chain() {
        let e = Wrap(
            "dispatch failure",
            Box::new(Wrap(
                "io error",
                Box::new(std::io::Error::other(
                    "tcp connect error: Connection refused (os error 111)",
                )),
            )),
        );
        assert_eq!(cause(&e), Cause::Unreachable("connection refused".into()));
        let e = Wrap(
            "dispatch failure",
            Box::new(std::io::Error::other(
                "the credential provider was not enabled: no providers in chain provided credentials",
            )),
        );
        assert_eq!(cause(&e), Cause::NoCredentials);
        let e = Wrap(
            "unhandled error",
            Box::new(std::io::Error::other("Access Denied")),
        );
        assert_eq!(cause(&e), Cause::Other("Access Denied".into()));
    }
}
