//! The `predict` function's handler: the same code runs as a Lambda behind API Gateway and
//! in-process behind `mlinfra serve`.
//!
//! Routes: `POST /predict` (`?stage=staging` for the Staging version, `?explain=true` for each
//! prediction's explanation: [`crate::explain`]), `POST /feedback`,
//! `GET /health`; the Open Inference Protocol v2 under `/v2` ([`inference`]). The Production (and Staging) models are loaded from the registry's pointers,
//! their sha256 checked, kept in memory, and re-checked at most every `refresh`; a new version
//! replaces the old one atomically between requests. Anything a client sends wrong is a 4xx that
//! names each invalid field; never a 500.

pub mod api;
#[cfg(feature = "scoring")]
pub mod inference;
#[cfg(feature = "scoring")]
pub mod logs;
#[cfg(feature = "scoring")]
pub mod openapi;
#[cfg(feature = "scoring")]
pub mod served;
#[cfg(feature = "scoring")]
mod service;
#[cfg(feature = "scoring")]
pub mod sources;

pub use api::{ProxyRequest, ProxyResponse, RequestContext};
#[cfg(feature = "scoring")]
pub use service::*;
