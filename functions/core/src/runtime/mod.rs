//! How a function binary runs (feature `lambda`): its configuration read and checked, its
//! [`Platform`] (lake, registry, notifier) opened once at start, then each event handed to a use
//! case, on AWS Lambda (the Runtime API) or, with the feature `custom-handler`, as an Azure
//! Functions custom handler. A failure at start is reported as Lambda's init error. The
//! binaries' `main`s are this plus the use case they run.

pub mod handlers;
#[cfg(feature = "scoring")]
pub mod predict;

use std::future::Future;
use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use serde_json::Value;

use crate::any::{AnyLake, AnyStore};
use crate::notify::AnyNotifier;
use crate::{FunctionConfig, FunctionError};

/// What a function works on, opened once per execution environment.
pub struct Platform {
    pub config: FunctionConfig,
    pub lake: AnyLake,
    pub store: AnyStore,
}

impl Platform {
    /// The lake and registry `config` names ([`crate::any::open`]).
    pub async fn open(config: FunctionConfig) -> Result<Platform, FunctionError> {
        let (lake, store) = crate::any::open(&config).await?;
        Ok(Platform {
            config,
            lake,
            store,
        })
    }

    /// Where this function's alerts go: the stack's SNS topic (in the account and region of
    /// `function_arn`), or the log.
    pub fn notifier(&self, function_arn: &str) -> AnyNotifier {
        AnyNotifier::for_function(&self.config, function_arn)
    }
}

/// The function's configuration and platform, or the process ends with the error reported as
/// Lambda's init error. `git_revision` is the binary's (`option_env!("MLINFRA_GIT_REV")`), for
/// the run records it writes.
pub async fn start(git_revision: Option<&'static str>) -> Arc<Platform> {
    crate::pipeline::CodeVersion::set_git_revision(git_revision);
    let config = crate::lambda::config_or_exit(|c| crate::any::check(c).map(|_| ()));
    match Platform::open(config).await {
        Ok(p) => Arc::new(p),
        Err(e) => {
            crate::lambda::init_failed(&e);
            std::process::exit(1);
        }
    }
}

/// A use case's answer to one event, boxed.
type BoxedAnswer = std::pin::Pin<Box<dyn Future<Output = Result<Value, FunctionError>> + Send>>;

/// One event, as the platform that runs the function delivered it.
#[derive(Debug, Clone)]
pub enum Event {
    /// A Lambda invocation: its payload and the ARN it was invoked by.
    Lambda {
        payload: Value,
        function_arn: String,
    },
    /// An Azure Functions trigger's invocation: its `Data` and `Metadata`.
    Azure { data: Value, metadata: Value },
}

impl Event {
    /// The ARN of the invoked function (empty on Azure).
    pub fn function_arn(&self) -> &str {
        match self {
            Event::Lambda { function_arn, .. } => function_arn,
            Event::Azure { .. } => "",
        }
    }
}

/// Run `handler` on every event until the environment ends: as a custom handler when Azure
/// Functions started the process, else on the Lambda Runtime API.
pub async fn run<H, F>(
    function: &'static str,
    platform: Arc<Platform>,
    handler: H,
) -> Result<(), lambda_runtime::Error>
where
    H: Fn(Arc<Platform>, Event) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Value, FunctionError>> + Send + 'static,
{
    // The use case's future behind a pointer: its type (deep, for a training) stays out of the
    // runtime's.
    let handler = move |p: Arc<Platform>, e: Event| -> BoxedAnswer { Box::pin(handler(p, e)) };
    #[cfg(feature = "custom-handler")]
    if let Some(port) = crate::custom_handler::port() {
        let handler = handler.clone();
        crate::custom_handler::run_events(port, function, platform, move |p, data, metadata| {
            handler(p, Event::Azure { data, metadata })
        })
        .await?;
        return Ok(());
    }
    let _ = function;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Value>| {
        let (platform, handler) = (Arc::clone(&platform), handler.clone());
        handler(
            platform,
            Event::Lambda {
                payload: e.payload,
                function_arn: e.context.invoked_function_arn,
            },
        )
    }))
    .await
}

/// An S3 event notification: the records of new objects (the `etl` function's event).
#[derive(Debug, Deserialize)]
pub struct S3Event {
    #[serde(rename = "Records")]
    pub records: Vec<S3EventRecord>,
}

/// One record of an [`S3Event`].
#[derive(Debug, Deserialize)]
pub struct S3EventRecord {
    pub s3: S3Entity,
}

/// The bucket and object of an [`S3EventRecord`].
#[derive(Debug, Deserialize)]
pub struct S3Entity {
    pub object: S3Object,
}

/// The object of an [`S3Entity`]: its key as S3 encodes it in events.
#[derive(Debug, Deserialize)]
pub struct S3Object {
    pub key: String,
}

impl S3Event {
    /// The lake keys of the event's objects, decoded (`%XX` and `+`), in order.
    pub fn keys(payload: Value) -> Result<Vec<String>, FunctionError> {
        let event: S3Event = serde_json::from_value(payload).map_err(|e| {
            FunctionError::invalid_event(format!(
                "expected an S3 event notification with `Records` of `s3.object.key`: {e}"
            ))
        })?;
        Ok(event
            .records
            .iter()
            .map(|r| crate::urlencoding::decode(&r.s3.object.key))
            .collect())
    }
}

/// What starts a training: EventBridge's scheduled event, or a direct invocation such as the
/// monitor's `{"reason": "drift"}` (the `train` function's event).
#[derive(Debug, Default, Deserialize)]
pub struct TrainEvent {
    #[serde(rename = "detail-type")]
    pub detail_type: Option<String>,
    pub reason: Option<String>,
}

impl TrainEvent {
    /// Why this training runs: `schedule`, the invoker's reason, or `invocation`.
    pub fn reason(payload: Value) -> String {
        let e: TrainEvent = serde_json::from_value(payload).unwrap_or_default();
        match (e.detail_type.as_deref(), e.reason) {
            (Some("Scheduled Event"), _) => "schedule".to_string(),
            (_, Some(r)) => r,
            _ => "invocation".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::{S3Event, TrainEvent};

    #[test]
    fn s3_event_keys_are_decoded_and_a_record_without_a_key_is_refused() {
        let e = json!({"Records": [{"s3": {"object": {"key": "raw/week+2%2C+heart.csv"}}}]});
        assert_eq!(S3Event::keys(e).unwrap(), vec!["raw/week 2, heart.csv"]);
        let bad = S3Event::keys(json!({"Records": [{"s3": {}}]})).unwrap_err();
        assert_eq!(bad.error_type, "mlinfra.InvalidEvent");
        assert!(bad.message.contains("s3.object.key"), "{}", bad.message);
        assert!(S3Event::keys(json!({"detail": {}})).is_err());
    }

    #[test]
    fn a_training_says_why_it_runs() {
        let scheduled = json!({"detail-type": "Scheduled Event", "source": "aws.events"});
        assert_eq!(TrainEvent::reason(scheduled), "schedule");
        assert_eq!(TrainEvent::reason(json!({"reason": "drift"})), "drift");
        assert_eq!(TrainEvent::reason(json!({})), "invocation");
        assert_eq!(TrainEvent::reason(json!("not an object")), "invocation");
    }
}
