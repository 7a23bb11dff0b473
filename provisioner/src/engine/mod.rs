//! The engine: stack → desired resource graph → plan against recorded and live state → apply.
//!
//! Planning never mutates anything. Applying runs steps in dependency order, independent steps
//! concurrently, and saves the state after every step, so an interrupted `up` leaves state that
//! the next `up` completes from.

pub mod apply;
pub mod graph;
pub mod hooks;
pub mod lock;
pub mod plan;
pub mod state;
pub mod store;

pub use graph::{Graph, Resource, ResourceKind};
pub use plan::{Action, Change, Plan, Step};
pub use state::{ResourceState, State};

#[cfg(test)]
mod tests;
