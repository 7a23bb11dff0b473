//! Shared library of the mlinfra functions (`etl`, `train`, `predict`, `monitor`).
//!
//! The provisioner writes each function's configuration with these types and the functions read
//! it back, so the contract between them lives in one place. Later issues add the payloads, the
//! dataset and statistics code, training, ONNX export and the registry client here.

pub mod cloud_error;
pub mod config;
pub mod data;
pub mod drift;
pub mod error;
pub mod function;
pub mod jobs;
pub mod lake;
#[cfg(feature = "s3")]
pub mod lake_s3;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod metrics;
pub mod model;
pub mod monitor;
pub mod onnx;
pub mod pipeline;
pub mod registry;
pub mod rng;
pub mod schema;
pub mod scorer;
pub mod serving;
pub mod stats;
pub mod transform;
pub mod tune;
pub mod validate;

pub use config::{ConfigError, FunctionConfig, ServingConfig};
pub use error::FunctionError;
pub use function::FunctionName;
