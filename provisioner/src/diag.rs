//! Diagnostics: an error at a place in a file, with a hint, rendered like the Rust compiler does.
//!
//! ```text
//! error: unknown field `shedules`
//!   --> stacks/bad.yaml:40:1
//!    |
//! 40 | shedules:
//!    | ^^^^^^^^
//!    = hint: did you mean `schedules`?
//! ```
//! The rendering has no colour and no terminal-dependent width, so it is stable for golden tests
//! and reads the same in CI logs.

use std::fmt::Write as _;

use serde::Serialize;

use crate::stack::yaml::Pos;

/// One problem with a file, at a position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    #[serde(skip)]
    pub len: usize,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn new(pos: Pos, len: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            line: pos.line,
            column: pos.col,
            len: len.max(1),
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Render for people: message, `--> file:line:col`, the source line and a caret.
    pub fn render(&self, file: &str, src: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "error: {}", self.message);
        let gutter = self.line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(out, "{pad}--> {file}:{}:{}", self.line, self.column);
        if let Some(text) = src.lines().nth(self.line.saturating_sub(1)) {
            let text = text.trim_end();
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{} | {}", self.line, text);
            let col = self.column.saturating_sub(1);
            let width = text.chars().count();
            let len = self.len.min(width.saturating_sub(col)).max(1);
            let lead: String = text
                .chars()
                .take(col)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{pad} | {lead}{}", "^".repeat(len));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {hint}");
        }
        out
    }
}

/// Render a list of diagnostics followed by a one-line count.
pub fn render_all(diags: &[Diagnostic], file: &str, src: &str) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render(file, src));
        out.push('\n');
    }
    let n = diags.len();
    let _ = writeln!(
        out,
        "error: `{file}` is not a valid stack: {n} error{}",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// The closest candidate to a misspelled word, when one is close enough to be a likely typo.
///
/// ```
/// use mlinfra::diag::did_you_mean;
///
/// let fields = ["schedules", "monitoring", "functions"];
/// assert_eq!(did_you_mean("shedules", fields), Some("schedules"));
/// assert_eq!(did_you_mean("colour", fields), None);
/// ```
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase().replace('-', "_");
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_snippet_and_caret() {
        let src = "version: 1\nshedules:\n  x: 1\n";
        let d = Diagnostic::new(Pos { line: 2, col: 1 }, 8, "unknown field `shedules`")
            .with_hint("did you mean `schedules`?");
        assert_eq!(
            d.render("s.yaml", src),
            "error: unknown field `shedules`\n --> s.yaml:2:1\n  |\n2 | shedules:\n  | ^^^^^^^^\n  = hint: did you mean `schedules`?\n"
        );
    }

    #[test]
    fn caret_is_clamped_to_the_line() {
        let d = Diagnostic::new(Pos { line: 1, col: 4 }, 50, "x");
        assert!(d.render("f", "ab: c\n").contains("|    ^^\n"));
    }

    #[test]
    fn suggestions_only_for_close_words() {
        let fields = ["schedules", "monitoring", "api"];
        assert_eq!(did_you_mean("shedules", fields), Some("schedules"));
        assert_eq!(did_you_mean("Monitoring", fields), Some("monitoring"));
        assert_eq!(did_you_mean("zzzzzz", fields), None);
        assert_eq!(did_you_mean("apx", fields), Some("api"));
    }
}
