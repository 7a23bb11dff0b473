//! The application layer of the `mlinfra` binary, shared by every entry point (the CLI verbs in
//! [`crate::commands`], `serve` and its console): what an environment is made of ([`Context`]),
//! the platform of its lake, registry and acting person ([`platform`]), the stack as the use
//! cases' settings ([`settings`]), the data a user names ([`input`]), applying a plan
//! ([`apply`]), the platform's outputs, training runs (the pipeline's, and those the user's
//! code logs through the MLflow API: [`tracked`]), the user's own training code ([`training`])
//! and the SageMaker mirror. The use cases
//! themselves (ETL, training, monitoring, the registry's workflow, serving) are
//! `mlinfra_core`'s, the same ones the deployed functions run. Nothing here prints a result or
//! imports a verb.

pub mod apply;
mod context;
pub mod input;
pub mod mirror;
pub mod outputs;
pub mod platform;
pub mod runs;
pub mod settings;
pub mod tracked;
pub mod training;

pub use context::{Context, Failure, default_stack_file, desired_graph, load_stack};
