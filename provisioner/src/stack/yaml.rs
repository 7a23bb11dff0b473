//! A YAML document as a tree of nodes that remember where they were written.
//!
//! `serde` deserializers stop at the first error and forget positions; the stack validator needs
//! every error at once, each with a line and column. So the file is parsed into [`Node`]s from the
//! parser's marked events, and the schema is checked by walking this tree (see `decode`).
//! Duplicate keys, anchors/aliases and tags are rejected here: a stack file is plain data.

use std::fmt;

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in the source: 1-based line and column, and the byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Self {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// One node of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A mapping key: its text and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub pos: Pos,
}

/// What a node holds. Scalars keep their text and whether they were quoted, so `"1"` stays a
/// string while `1` is a number.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { text: String, quoted: bool },
    Seq(Vec<Node>),
    Map(IndexMap<String, (Key, Node)>),
}

impl Node {
    /// The kind of node, as the error messages name it.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { text, quoted } => scalar_kind(text, *quoted),
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// True for an explicit null (`~`, `null`, or nothing after the colon).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, quoted: false } if is_null_text(text))
    }
}

fn is_null_text(t: &str) -> bool {
    matches!(t, "" | "~" | "null" | "Null" | "NULL")
}

/// How YAML 1.2's core schema reads an unquoted scalar.
pub fn scalar_kind(text: &str, quoted: bool) -> &'static str {
    if quoted {
        return "a string";
    }
    if is_null_text(text) {
        "null"
    } else if matches!(text, "true" | "false" | "True" | "False" | "TRUE" | "FALSE") {
        "a boolean"
    } else if text.parse::<i64>().is_ok() {
        "an integer"
    } else if text.parse::<f64>().is_ok() && !text.chars().any(|c| c.is_alphabetic()) {
        "a number"
    } else {
        "a string"
    }
}

/// A problem found while reading the YAML itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    /// Caret width.
    pub len: usize,
    pub message: String,
    pub hint: Option<String>,
}

/// Parse one YAML document into a [`Node`] tree. An empty document is an empty mapping.
pub fn parse(src: &str) -> Result<Node, Vec<SyntaxError>> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    if let Err(e) = parser.load(&mut builder, true) {
        let info = e.info().to_string();
        let hint = if info.contains("tab") {
            Some("YAML indentation must use spaces, not tabs".to_string())
        } else if info.contains("mapping values are not allowed") {
            Some("a value containing `: ` must be quoted, or a key is indented wrongly".to_string())
        } else {
            None
        };
        let pos: Pos = (*e.marker()).into();
        let hint = hint.or_else(|| unclosed_bracket(src, pos.line));
        return Err(vec![SyntaxError {
            pos,
            len: 1,
            message: format!("invalid YAML: {info}"),
            hint,
        }]);
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    match builder.docs.len() {
        0 => Ok(Node {
            pos: Pos { line: 1, col: 1 },
            value: Value::Map(IndexMap::new()),
        }),
        1 => Ok(builder.docs.remove(0)),
        _ => Err(vec![SyntaxError {
            pos: builder.second_doc.unwrap_or_default(),
            len: 3,
            message: "a stack file holds one YAML document, found several".to_string(),
            hint: Some("split the documents into separate stack files".to_string()),
        }]),
    }
}

/// A hint for a syntax error caused by a `[` or `{` left open on an earlier line.
fn unclosed_bracket(src: &str, error_line: usize) -> Option<String> {
    let lines: Vec<&str> = src.lines().take(error_line).collect();
    lines.iter().enumerate().rev().find_map(|(i, line)| {
        let code = line.split(" #").next().unwrap_or(line);
        let open = code.matches('[').count() + code.matches('{').count();
        let close = code.matches(']').count() + code.matches('}').count();
        (open > close).then(|| format!("the `[` or `{{` on line {} is never closed", i + 1))
    })
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, IndexMap<String, (Key, Node)>, Option<Key>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    docs: Vec<Node>,
    errors: Vec<SyntaxError>,
    second_doc: Option<Pos>,
}

impl Builder {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if !self.docs.is_empty() && self.second_doc.is_none() {
                    self.second_doc = Some(node.pos);
                }
                self.docs.push(node);
            }
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => {
                    let text = match &node.value {
                        Value::Scalar { text, .. } => text.clone(),
                        _ => {
                            self.errors.push(SyntaxError {
                                pos: node.pos,
                                len: 1,
                                message: format!(
                                    "a mapping key must be a plain name, found {}",
                                    node.kind()
                                ),
                                hint: None,
                            });
                            format!("\u{0}complex@{}", node.pos)
                        }
                    };
                    *pending = Some(Key {
                        text,
                        pos: node.pos,
                    });
                }
                Some(key) => {
                    if let Some((first, _)) = entries.get(&key.text) {
                        self.errors.push(SyntaxError {
                            pos: key.pos,
                            len: key.text.chars().count(),
                            message: format!("duplicate key `{}`", key.text),
                            hint: Some(format!(
                                "`{}` is already set at line {}",
                                key.text, first.pos.line
                            )),
                        });
                    } else {
                        entries.insert(key.text.clone(), (key, node));
                    }
                }
            },
        }
    }

    fn reject(&mut self, pos: Pos, what: &str) {
        self.errors.push(SyntaxError {
            pos,
            len: 1,
            message: format!("{what} are not supported in stack files"),
            hint: Some("write the value out in full".to_string()),
        });
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos: Pos = mark.into();
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                if anchor > 0 {
                    self.reject(pos, "anchors");
                }
                if tag.is_some() {
                    self.reject(pos, "tags");
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_node(Node {
                    pos,
                    value: Value::Scalar { text, quoted },
                });
            }
            Event::SequenceStart(anchor, tag) => {
                if anchor > 0 {
                    self.reject(pos, "anchors");
                }
                if tag.is_some() {
                    self.reject(pos, "tags");
                }
                self.stack.push(Frame::Seq(pos, Vec::new()));
            }
            Event::MappingStart(anchor, tag) => {
                if anchor > 0 {
                    self.reject(pos, "anchors");
                }
                if tag.is_some() {
                    self.reject(pos, "tags");
                }
                self.stack.push(Frame::Map(pos, IndexMap::new(), None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(pos, items)) => Node {
                        pos,
                        value: Value::Seq(items),
                    },
                    Some(Frame::Map(pos, entries, _)) => Node {
                        // The parser marks a block mapping where its first value starts; its
                        // first key is where a reader looks for it.
                        pos: entries.values().next().map_or(pos, |(k, _)| k.pos),
                        value: Value::Map(entries),
                    },
                    None => return,
                };
                self.push_node(node);
            }
            Event::Alias(_) => {
                self.reject(pos, "aliases");
                self.push_node(Node {
                    pos,
                    value: Value::Scalar {
                        text: String::new(),
                        quoted: false,
                    },
                });
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &IndexMap<String, (Key, Node)> {
        match &node.value {
            Value::Map(m) => m,
            other => panic!("expected a mapping, got {other:?}"),
        }
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let doc = parse("version: 1\nlake:\n  bucket: abc\n").expect("valid yaml");
        let top = map(&doc);
        let (k, _) = &top["lake"];
        assert_eq!(k.pos, Pos { line: 2, col: 1 });
        let (k, v) = &map(&top["lake"].1)["bucket"];
        assert_eq!(k.pos, Pos { line: 3, col: 3 });
        assert_eq!(v.pos, Pos { line: 3, col: 11 });
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let doc = parse("a: \"1\"\nb: 1\nc: 1.5\nd: true\ne:\n").expect("valid yaml");
        let m = map(&doc);
        assert_eq!(m["a"].1.kind(), "a string");
        assert_eq!(m["b"].1.kind(), "an integer");
        assert_eq!(m["c"].1.kind(), "a number");
        assert_eq!(m["d"].1.kind(), "a boolean");
        assert!(m["e"].1.is_null());
    }

    #[test]
    fn duplicate_keys_are_errors_with_both_lines() {
        let errs = parse("a: 1\nb: 2\na: 3\n").expect_err("duplicate");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].message, "duplicate key `a`");
        assert_eq!(errs[0].pos.line, 3);
        assert_eq!(
            errs[0].hint.as_deref(),
            Some("`a` is already set at line 1")
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errs = parse("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(
            errs[0].message.starts_with("invalid YAML"),
            "{}",
            errs[0].message
        );
        assert!(errs[0].pos.line >= 1);
    }

    #[test]
    fn aliases_and_multiple_documents_are_rejected() {
        assert!(parse("a: &x 1\nb: *x\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn empty_document_is_an_empty_mapping() {
        assert_eq!(map(&parse("").expect("empty ok")).len(), 0);
    }
}
