//! The numerics of mlinfra's ML pipeline, the layer at the bottom: reading data into typed
//! columns ([`data`]), statistics and the schema inferred from them ([`stats`], [`schema`]),
//! validation against a schema ([`validate`]), the preprocessing ([`transform`]), the models
//! ([`model`]: logistic regression, gradient-boosted trees), the hyperparameter search
//! ([`tune`]), the evaluation metrics ([`metrics`]), drift statistics ([`drift`]) and exact
//! explanations ([`explain`]).
//!
//! Pure and synchronous: no async runtime, no ONNX runtime, no cloud SDK. Work is spread over
//! cores with [`par`] and randomness comes from [`rng`], so that results are the same on every
//! machine. The ONNX export and scoring sit above this crate (`mlinfra-onnx`), the jobs, the
//! registry and the cloud adapters above that (`mlinfra-core`).

pub mod data;
pub mod drift;
pub mod explain;
pub mod metrics;
pub mod model;
mod names;
pub mod par;
pub mod rng;
pub mod schema;
pub mod stats;
pub mod transform;
pub mod tune;
pub mod validate;
