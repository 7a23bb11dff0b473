//! `mlinfra`: one declarative stack file to a serverless ML platform.
//!
//! The binary's `main` only parses flags and dispatches to [`commands`]. The pure parts (the
//! [`stack`] schema and the [`engine`]'s planning) are usable as a library and tested as such.

pub mod diag;
pub mod stack;
