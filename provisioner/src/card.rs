//! The model card file of `mlinfra models import` (YAML): read with the stack's parser, so that
//! its errors point at the line and column, every one at once; and written, commented, from
//! the card inferred from a graph, for the user to check. The card itself is
//! [`mlinfra_core::onnx::card::Card`].

use std::fmt::Write as _;

use mlinfra_core::onnx::card::{Card, Feature, FeatureKind, Input, Output, Task, VERSION};

use crate::diag::{Diagnostic, render_all};
use crate::stack::decode::{Cx, section};
use crate::stack::yaml::{self, Node, Value};

/// Read a card from `src` (the file `file`); the rendered diagnostics on failure.
pub fn parse(file: &str, src: &str) -> Result<Card, String> {
    let root = yaml::parse(src).map_err(|errs| {
        let diags: Vec<Diagnostic> = errs
            .into_iter()
            .map(|e| Diagnostic::new(e.pos, e.len, e.message).with_hint_opt(e.hint))
            .collect();
        render_all(&diags, file, src)
    })?;
    let mut cx = Cx::default();
    match decode(&root, &mut cx) {
        Some(card) if cx.diags.is_empty() => Ok(card),
        _ => {
            let mut diags = cx.diags;
            diags.sort_by_key(|d| (d.line, d.column));
            diags.dedup();
            Err(render_all(&diags, file, src))
        }
    }
}

/// A scalar's text: class names may be written as numbers (`0`, `1`).
fn text(cx: &mut Cx, n: &Node, path: &str) -> Option<String> {
    match &n.value {
        Value::Scalar { text, .. } if !n.is_null() => Some(text.clone()),
        _ => {
            cx.error(n, format!("`{path}` must be a name, found {}", n.kind()));
            None
        }
    }
}

fn decode(root: &Node, cx: &mut Cx) -> Option<Card> {
    let mut m = cx.map(root, "")?;
    let version = m.req(cx, "card").and_then(|n| {
        let v = cx.uint(n, "card", 1..=u64::from(u32::MAX))?;
        if v != u64::from(VERSION) {
            cx.error_hint(
                n,
                format!("`card` is {v}: this mlinfra reads card version {VERSION}"),
                "write the card again with `mlinfra models import FILE` (without --card)",
            );
            return None;
        }
        Some(VERSION)
    });
    let task = m
        .req(cx, "task")
        .and_then(|n| cx.one_of(n, "task", Task::NAMES))
        .map(|t| {
            if t == "regression" {
                Task::Regression
            } else {
                Task::Classification
            }
        });
    let input = {
        let mut i = section(m.req(cx, "input"), "input", cx)?;
        let tensor = i.opt("tensor").map(|n| cx.string(n, "input.tensor"));
        let features = i.req(cx, "features").and_then(|n| {
            cx.list(n, "input.features", |cx, n, p| {
                let mut f = cx.map(n, p)?;
                let name = f
                    .req(cx, "name")
                    .and_then(|n| text(cx, n, &format!("{p}.name")));
                let kind = f
                    .req(cx, "type")
                    .and_then(|n| cx.one_of(n, &format!("{p}.type"), FeatureKind::NAMES))
                    .map(|k| {
                        if k == "text" {
                            FeatureKind::Text
                        } else {
                            FeatureKind::Number
                        }
                    });
                f.finish(cx);
                Some(Feature {
                    name: name?,
                    kind: kind?,
                })
            })
        });
        i.finish(cx);
        Input {
            features: features?,
            tensor: match tensor {
                Some(t) => Some(t?),
                None => None,
            },
        }
    };
    let output = {
        let mut o = section(m.req(cx, "output"), "output", cx)?;
        let probabilities = o
            .opt("probabilities")
            .map(|n| cx.string(n, "output.probabilities"));
        let value = o.opt("value").map(|n| cx.string(n, "output.value"));
        let classes = o.opt("classes").map(|n| cx.list(n, "output.classes", text));
        o.finish(cx);
        Output {
            probabilities: match probabilities {
                Some(p) => Some(p?),
                None => None,
            },
            classes: match classes {
                Some(c) => c?,
                None => Vec::new(),
            },
            value: match value {
                Some(v) => Some(v?),
                None => None,
            },
        }
    };
    m.finish(cx);
    let card = Card {
        version: version?,
        task: task?,
        input,
        output,
    };
    let at = |key: &str| root_pos(root, key);
    match card.task {
        Task::Classification if card.output.classes.is_empty() => cx.push(Diagnostic::new(
            at("output"),
            1,
            "a classification's `output.classes` must name its classes, in the order of the probabilities",
        )),
        Task::Regression if card.output.value.is_none() => cx.push(Diagnostic::new(
            at("output"),
            1,
            "a regression's `output` must name its `value` output",
        )),
        _ => {}
    }
    Some(card)
}

/// Where `key` of the root mapping is written (the start of the file when it is not).
fn root_pos(root: &Node, key: &str) -> crate::stack::yaml::Pos {
    match &root.value {
        Value::Map(entries) => entries.get(key).map_or(root.pos, |(k, _)| k.pos),
        _ => root.pos,
    }
}

/// A YAML string, quoted when plain text would read as something else.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The card as a commented YAML file, for `model` (the ONNX file's name).
pub fn render(card: &Card, model: &str) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# The model card of `{model}`, inferred from its graph by `mlinfra models import`.\n# Check it (the features' names and types, the classes), then import again with it:\n#   mlinfra models import {model} --card THIS_FILE --data EVAL.csv --label COLUMN --as NAME"
    );
    let _ = writeln!(t, "card: {VERSION}");
    let _ = writeln!(
        t,
        "task: {}   # classification | regression",
        card.task.name()
    );
    t.push_str("input:\n");
    match &card.input.tensor {
        Some(x) => {
            let _ = writeln!(
                t,
                "  # The graph takes every feature as one float tensor [N, {}], its columns in this\n  # order: name them as requests will.\n  tensor: {}",
                card.input.features.len(),
                quoted(x)
            );
        }
        None => t.push_str("  # One graph input per feature, named after it.\n"),
    }
    t.push_str("  features:\n");
    for f in &card.input.features {
        let kind = match f.kind {
            FeatureKind::Number => "number",
            FeatureKind::Text => "text",
        };
        let _ = writeln!(
            t,
            "    - name: {}\n      type: {kind}   # number | text",
            quoted(&f.name)
        );
    }
    t.push_str("output:\n");
    if let Some(p) = &card.output.probabilities {
        let _ = writeln!(t, "  probabilities: {}", quoted(p));
        let classes: Vec<String> = card.output.classes.iter().map(|c| quoted(c)).collect();
        let _ = writeln!(
            t,
            "  # The class names, in the order of the probabilities' columns.\n  classes: [{}]",
            classes.join(", ")
        );
    }
    if let Some(v) = &card.output.value {
        let _ = writeln!(t, "  value: {}", quoted(v));
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn card() -> Card {
        Card {
            version: VERSION,
            task: Task::Classification,
            input: Input {
                features: vec![
                    Feature {
                        name: "age".into(),
                        kind: FeatureKind::Number,
                    },
                    Feature {
                        name: "cp".into(),
                        kind: FeatureKind::Text,
                    },
                ],
                tensor: None,
            },
            output: Output {
                probabilities: Some("output_probability".into()),
                classes: vec!["0".into(), "1".into()],
                value: None,
            },
        }
    }

    #[test]
    fn a_rendered_card_reads_back_as_itself() {
        let c = card();
        assert_eq!(parse("m.card.yaml", &render(&c, "m.onnx")).unwrap(), c);
        let mut r = c.clone();
        r.task = Task::Regression;
        r.input.tensor = Some("X".into());
        r.output = Output {
            value: Some("variable".into()),
            ..Output::default()
        };
        assert_eq!(parse("m.card.yaml", &render(&r, "m.onnx")).unwrap(), r);
    }

    #[test]
    fn every_error_of_a_card_is_positioned() {
        let src = "card: 1\ntask: clasification\ninput:\n  features:\n    - name: age\n      type: numeric\n  tensr: X\noutput:\n  classes: [0, 1]\n";
        let e = parse("m.card.yaml", src).unwrap_err();
        assert!(e.contains("m.card.yaml:2:7"), "{e}");
        assert!(e.contains("did you mean `classification`?"), "{e}");
        assert!(e.contains("m.card.yaml:6:13"), "{e}");
        assert!(e.contains("`tensr`"), "{e}");
        let e = parse("m.card.yaml", "card: 2\n").unwrap_err();
        assert!(e.contains("this mlinfra reads card version 1"), "{e}");
    }
}
