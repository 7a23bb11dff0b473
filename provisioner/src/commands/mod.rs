//! The verbs: thin adapters from the flags to the application layer ([`crate::app`]) and back
//! to text or JSON. Each returns the process exit code or a [`Failure`] that `main` prints. No
//! verb imports another: what two verbs share lives in the application layer.

pub mod build;
pub mod data;
pub mod diff;
pub mod down;
pub mod export;
pub mod init;
pub mod invoke;
pub mod models;
pub mod monitor;
pub mod outputs;
pub mod pipeline;
pub mod predict;
pub mod runs;
pub mod serve;
pub mod status;
pub mod unlock;
pub mod up;
pub mod users;
pub mod validate;

use std::io::IsTerminal as _;

pub use crate::app::apply::interrupt_flag;
pub use crate::app::{Context, Failure, default_stack_file, desired_graph, load_stack};

/// Ask the user to confirm, or refuse when nobody can answer.
pub fn confirm(question: &str, yes: bool, flag_hint: &str) -> Result<bool, Failure> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(format!(
            "refusing to continue without confirmation: standard input is not a terminal\nhint: review the plan, then run `{flag_hint}`"
        )));
    }
    eprint!("{question} Only `yes` is accepted: ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read the answer: {e}")))?;
    Ok(line.trim() == "yes")
}
