//! Reading typed values out of a [`Node`] tree while collecting every error.
//!
//! Decoding never stops at the first problem: each helper records a [`Diagnostic`] and returns
//! `None`, and the caller carries on with the other fields. A [`MapReader`] remembers which keys
//! the schema asked for, so [`MapReader::finish`] can report the others as unknown fields with a
//! "did you mean" hint.

use std::ops::RangeInclusive;

use indexmap::IndexMap;

use super::yaml::{Key, Node, Pos, Value};
use crate::diag::{Diagnostic, did_you_mean};

/// A value together with where it was written, for checks that run after decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub pos: Pos,
    pub len: usize,
}

/// The decoding context: the diagnostics found so far.
#[derive(Debug, Default)]
pub struct Cx {
    pub diags: Vec<Diagnostic>,
    /// Every field path the schema asked for (`api.throttle.burst`, `functions.<name>.memory_mb`),
    /// so a test can check the reference page documents each one.
    pub fields: std::collections::BTreeSet<String>,
}

/// Caret width for a node: the scalar's text where it is on one line, else one character.
pub fn node_len(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { text, quoted } if !text.contains('\n') => {
            text.chars().count() + if *quoted { 2 } else { 0 }
        }
        _ => 1,
    }
}

impl Cx {
    pub fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(node.pos, node_len(node), message));
    }

    pub fn error_hint(&mut self, node: &Node, message: impl Into<String>, hint: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(node.pos, node_len(node), message).with_hint(hint));
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Start reading a mapping at `path`.
    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<MapReader<'n>> {
        match &node.value {
            Value::Map(entries) => Some(MapReader {
                node,
                entries,
                path: path.to_string(),
                known: Vec::new(),
            }),
            _ if node.is_null() => Some(MapReader {
                node,
                entries: empty_map(),
                path: path.to_string(),
                known: Vec::new(),
            }),
            _ => {
                self.error(
                    node,
                    format!("`{path}` must be a mapping, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// The text of a scalar, whatever its kind.
    pub fn scalar<'n>(&mut self, node: &'n Node, path: &str, expected: &str) -> Option<&'n str> {
        match &node.value {
            Value::Scalar { text, .. } if !node.is_null() => Some(text),
            _ => {
                self.error(
                    node,
                    format!("`{path}` must be {expected}, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// A string; numbers and booleans written without quotes are accepted as their text only when
    /// `lenient` (names such as `1a` are strings anyway).
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar { text, quoted } if !node.is_null() => {
                let kind = super::yaml::scalar_kind(text, *quoted);
                if kind == "a string" {
                    Some(text.clone())
                } else {
                    self.error_hint(
                        node,
                        format!("`{path}` must be a string, found {kind} `{text}`"),
                        format!("quote it: \"{text}\""),
                    );
                    None
                }
            }
            _ => {
                self.error(
                    node,
                    format!("`{path}` must be a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    pub fn spanned_string(&mut self, node: &Node, path: &str) -> Option<Spanned<String>> {
        let value = self.string(node, path)?;
        Some(Spanned {
            value,
            pos: node.pos,
            len: node_len(node),
        })
    }

    pub fn uint(&mut self, node: &Node, path: &str, range: RangeInclusive<u64>) -> Option<u64> {
        let text = self.scalar(node, path, "an integer")?;
        let quoted = matches!(node.value, Value::Scalar { quoted: true, .. });
        match text.replace('_', "").parse::<u64>() {
            Ok(v) if !quoted && range.contains(&v) => Some(v),
            Ok(v) if !quoted => {
                self.error(
                    node,
                    format!(
                        "`{path}` must be between {} and {}, found {v}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            _ => {
                let kind = super::yaml::scalar_kind(text, quoted);
                self.error(
                    node,
                    format!(
                        "`{path}` must be an integer between {} and {}, found {kind} `{text}`",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub fn float(&mut self, node: &Node, path: &str, range: RangeInclusive<f64>) -> Option<f64> {
        let text = self.scalar(node, path, "a number")?;
        let quoted = matches!(node.value, Value::Scalar { quoted: true, .. });
        match text.parse::<f64>() {
            Ok(v) if !quoted && v.is_finite() && range.contains(&v) => Some(v),
            Ok(v) if !quoted && v.is_finite() => {
                self.error(
                    node,
                    format!(
                        "`{path}` must be between {} and {}, found {v}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            _ => {
                let kind = super::yaml::scalar_kind(text, quoted);
                self.error(
                    node,
                    format!(
                        "`{path}` must be a number between {} and {}, found {kind} `{text}`",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        let text = self.scalar(node, path, "`true` or `false`")?;
        match text {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => {
                let hint = match text {
                    "yes" | "on" | "y" => {
                        Some("YAML 1.2 booleans are `true` or `false`: write `true`")
                    }
                    "no" | "off" | "n" => {
                        Some("YAML 1.2 booleans are `true` or `false`: write `false`")
                    }
                    _ => None,
                };
                let d = Diagnostic::new(
                    node.pos,
                    node_len(node),
                    format!("`{path}` must be `true` or `false`, found `{text}`"),
                )
                .with_hint_opt(hint.map(str::to_string));
                self.push(d);
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub fn one_of(
        &mut self,
        node: &Node,
        path: &str,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        let text = self.scalar(node, path, "a string")?;
        if let Some(c) = choices.iter().find(|c| **c == text) {
            return Some(c);
        }
        let list = choices
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint =
            did_you_mean(text, choices.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        let d = Diagnostic::new(
            node.pos,
            node_len(node),
            format!("`{path}` must be one of {list}, found `{text}`"),
        )
        .with_hint_opt(hint);
        self.push(d);
        None
    }

    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            _ => {
                self.error(
                    node,
                    format!("`{path}` must be a list, found {}", node.kind()),
                );
                None
            }
        }
    }

    /// A list decoded item by item; a bad item is reported and left out.
    pub fn list<T>(
        &mut self,
        node: &Node,
        path: &str,
        mut item: impl FnMut(&mut Self, &Node, &str) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.seq(node, path)?;
        let before = self.diags.len();
        let out: Vec<T> = items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| item(self, n, &format!("{path}[{i}]")))
            .collect();
        (self.diags.len() == before).then_some(out)
    }
}

/// Read an optional mapping at `path` (absent: every field its default).
pub fn section<'n>(n: Option<&'n Node>, path: &str, cx: &mut Cx) -> Option<MapReader<'n>> {
    match n {
        Some(n) => cx.map(n, path),
        None => Some(MapReader::absent(path)),
    }
}

/// A field path with user-chosen names replaced: `functions.etl.memory_mb` →
/// `functions.<name>.memory_mb`, `alerts[1].name` → `alerts[].name`.
pub fn generic_path(path: &str) -> String {
    let mut parts: Vec<String> = path.split('.').map(str::to_string).collect();
    for p in parts.iter_mut() {
        if let Some(b) = p.find('[') {
            p.truncate(b);
            p.push_str("[]");
        }
    }
    if parts.len() > 2 && matches!(parts[0].as_str(), "functions" | "schedules") {
        parts[1] = "<name>".to_string();
    }
    parts.join(".")
}

fn empty_map() -> &'static IndexMap<String, (Key, Node)> {
    static EMPTY: std::sync::OnceLock<IndexMap<String, (Key, Node)>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(IndexMap::new)
}

/// Reads the fields of one mapping; remembers which keys the schema knows.
pub struct MapReader<'n> {
    pub node: &'n Node,
    entries: &'n IndexMap<String, (Key, Node)>,
    path: String,
    known: Vec<&'static str>,
}

impl<'n> MapReader<'n> {
    /// A reader for a section the file leaves out: every field takes its default.
    pub fn absent(path: &str) -> MapReader<'static> {
        static NULL: std::sync::OnceLock<Node> = std::sync::OnceLock::new();
        MapReader {
            node: NULL.get_or_init(|| Node {
                pos: Pos::default(),
                value: Value::Scalar {
                    text: String::new(),
                    quoted: false,
                },
            }),
            entries: empty_map(),
            path: path.to_string(),
            known: Vec::new(),
        }
    }

    /// Whether the mapping sets `key` (to anything but null).
    pub fn node_has(&self, key: &str) -> bool {
        self.entries.get(key).is_some_and(|(_, n)| !n.is_null())
    }

    /// The dotted path of a field of this mapping.
    pub fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An optional field; an explicit null counts as absent.
    pub fn opt(&mut self, key: &'static str) -> Option<&'n Node> {
        self.known.push(key);
        self.entries
            .get(key)
            .map(|(_, n)| n)
            .filter(|n| !n.is_null())
    }

    /// A required field: reports it missing at the mapping's position.
    pub fn req(&mut self, cx: &mut Cx, key: &'static str) -> Option<&'n Node> {
        let found = self.opt(key);
        if found.is_none() {
            let message = if self.path.is_empty() {
                format!("missing required field `{key}`")
            } else {
                format!("missing required field `{key}` in `{}`", self.path)
            };
            let len = match &self.node.value {
                Value::Map(m) => m.values().next().map_or(1, |(k, _)| k.text.chars().count()),
                _ => 1,
            };
            let hint = match key {
                "lake" => Some("add a `lake:` section with the data lake's `bucket:` name"),
                "dataset" => Some("add a `dataset:` section with `source:` and `label:`"),
                "column" => Some("name the label column, for example `column: num`"),
                "bucket" => Some("name the data lake bucket, for example `bucket: my-stack-lake`"),
                "source" => {
                    Some("point to the training data, for example `source: data/train.csv`")
                }
                _ => None,
            };
            cx.push(
                Diagnostic::new(self.node.pos, len, message)
                    .with_hint_opt(hint.map(str::to_string)),
            );
        }
        found
    }

    /// Every entry, for mappings whose keys are names chosen by the user.
    pub fn entries(&self) -> impl Iterator<Item = (&'n Key, &'n Node)> + 'n {
        self.entries.values().map(|(k, n)| (k, n))
    }

    /// Report the keys the schema did not ask for.
    pub fn finish(self, cx: &mut Cx) {
        for k in &self.known {
            cx.fields.insert(generic_path(&self.path(k)));
        }
        for (key, _) in self.entries.values() {
            if self.known.contains(&key.text.as_str()) {
                continue;
            }
            let hint = did_you_mean(&key.text, self.known.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    let list = self
                        .known
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("expected one of {list}")
                });
            let where_ = if self.path.is_empty() {
                String::new()
            } else {
                format!(" in `{}`", self.path)
            };
            cx.push(
                Diagnostic::new(
                    key.pos,
                    key.text.chars().count(),
                    format!("unknown field `{}`{where_}", key.text),
                )
                .with_hint(hint),
            );
        }
    }
}
