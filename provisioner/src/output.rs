//! Output rules: results to stdout (text or JSON), progress and logs to stderr, errors as
//! `error: ...` with a `hint: ...` line when a fix is known. No colour, so output reads the same
//! in a terminal, a pipe and a CI log.

use std::fmt::Display;
use std::io::Write as _;

use serde::Serialize;

use crate::cli::{Global, OutputFormat};

/// Write a result to stdout. A closed stdout (`mlinfra api spec | head -1`) ends the command
/// quietly with exit code 0, as the reader has what it wanted; other write errors are reported.
pub fn print(text: impl Display) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = write!(stdout, "{text}").and_then(|()| stdout.flush()) {
        exit_if_closed(&e);
        let _ = writeln!(std::io::stderr(), "error: cannot write to stdout: {e}");
    }
}

/// End the process quietly when `e` says stdout's reader has gone.
pub fn exit_if_closed(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
}

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
        if !self.json() {
            return print(text);
        }
        match serde_json::to_string_pretty(value) {
            Ok(s) => print(format_args!("{s}\n")),
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: cannot encode the result as JSON: {e}"
                );
            }
        }
    }

    /// A progress line on stderr (not with `-q`).
    pub fn progress(&self, line: impl Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }

    /// A warning on stderr (also with `-q`): `warning: ...`.
    pub fn warn(&self, line: impl Display) {
        let _ = writeln!(std::io::stderr(), "warning: {line}");
    }

    /// Extra detail on stderr with `-v`.
    pub fn detail(&self, line: impl Display) {
        if self.verbose > 0 {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}
