//! Output rules: results to stdout (text or JSON), progress and logs to stderr, errors as
//! `error: ...` with a `hint: ...` line when a fix is known. No colour, so output reads the same
//! in a terminal, a pipe and a CI log.

use std::fmt::Display;
use std::io::Write as _;

use serde::Serialize;

use crate::cli::{Global, OutputFormat};

#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
}

impl Out {
    pub fn new(g: &Global) -> Self {
        Out {
            format: g.output,
            quiet: g.quiet,
            verbose: g.verbose,
        }
    }

    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A result: its text form, or its JSON form with `--output json`.
    pub fn result<T: Serialize + ?Sized>(&self, text: impl Display, value: &T) {
        let mut stdout = std::io::stdout().lock();
        let _ = if self.json() {
            match serde_json::to_string_pretty(value) {
                Ok(s) => writeln!(stdout, "{s}"),
                Err(e) => writeln!(
                    std::io::stderr(),
                    "error: cannot encode the result as JSON: {e}"
                ),
            }
        } else {
            write!(stdout, "{text}")
        };
        let _ = stdout.flush();
    }

    /// A progress line on stderr (not with `-q`).
    pub fn progress(&self, line: impl Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }

    /// Extra detail on stderr with `-v`.
    pub fn detail(&self, line: impl Display) {
        if self.verbose > 0 {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
