//! The application layer of mlinfra, shared by the CLI and the four functions (`etl`, `train`,
//! `predict`, `monitor`): the function configuration contract ([`config`]), the ML pipeline
//! (data, statistics, schema, training, ONNX export, scoring), the model registry over its
//! [`registry::Store`]s, the jobs over a [`lake::Lake`] ([`jobs`]), serving ([`serving`]),
//! monitoring ([`monitor`]) and delivery of alerts ([`notify`]). Each entry point (a CLI verb, a
//! Lambda `main`, `mlinfra serve`) builds these from the stack or from its configuration and
//! calls them. The cloud implementations sit behind features: `s3` (the lake in S3), `dynamodb`
//! (the registry in DynamoDB), `sns` (alerts to SNS), `lambda` (the Lambda runtime glue).

pub mod any;
#[cfg(any(
    feature = "s3",
    feature = "dynamodb",
    feature = "sns",
    feature = "invoke"
))]
pub mod aws_env;
#[cfg(feature = "azure")]
pub mod azure;
pub mod clock;
pub mod cloud_error;
pub mod config;
#[cfg(feature = "custom-handler")]
pub mod custom_handler;
pub mod error;
pub mod function;
pub mod html;
pub mod jobs;
pub mod keys;
pub mod lake;
#[cfg(feature = "s3")]
pub mod lake_s3;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "scoring")]
pub mod mlflow;
pub mod monitor;
pub mod notify;
pub mod pipeline;
pub mod registry;
#[cfg(feature = "lambda")]
pub mod runtime;
pub mod serving;
pub mod tracking;
pub mod urlencoding;

pub use mlinfra_ml::{
    data, drift, explain, metrics, model, par, rng, schema, stats, transform, tune, validate,
};
pub use mlinfra_onnx as onnx;
#[cfg(feature = "scoring")]
pub use mlinfra_onnx::scorer;

pub use config::{ConfigError, FunctionConfig, ServingConfig};
pub use error::FunctionError;
pub use function::FunctionName;
