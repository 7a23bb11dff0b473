//! `mlinfra`: one declarative stack file to a serverless ML platform.
//!
//! The binary's `main` only parses flags and dispatches to [`commands`], thin adapters over the
//! application layer ([`app`]). The pure parts (the
//! [`stack`] schema and the [`engine`]'s planning) are usable as a library and tested as such.

pub mod accounts;
pub mod alerts;
pub mod app;
pub mod build;
pub mod card;
pub mod cli;
pub mod commands;
pub mod console;
pub mod diag;
pub mod engine;
pub mod identity;
pub mod lambda;
pub mod mirror;
pub mod output;
pub mod providers;
pub mod report;
pub mod serve;
pub mod stack;
