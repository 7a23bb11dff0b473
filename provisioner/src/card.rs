//! The model card file of `mlinfra models import` (YAML): read with the stack's parser, so that
//! its errors point at the line and column, every one at once; and written, commented, from
//! the card inferred from a graph, for the user to check. The card itself is
//! [`mlinfra_core::onnx::card::Card`].

use std::fmt::Write as _;

use mlinfra_core::onnx::card::{
    Card, Channels, Feature, FeatureKind, ImageInput, Input, Layout, Output, Padding, Resize, Task,
    TextInput, VERSION,
};

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
                    .map(|k| match k {
                        "text" => FeatureKind::Text,
                        "image" => FeatureKind::Image,
                        _ => FeatureKind::Number,
                    });
                f.finish(cx);
                Some(Feature {
                    name: name?,
                    kind: kind?,
                })
            })
        });
        let text = i.opt("text").map(|n| decode_text(n, cx));
        let image = i.opt("image").map(|n| decode_image(n, cx));
        i.finish(cx);
        Input {
            features: features?,
            tensor: match tensor {
                Some(t) => Some(t?),
                None => None,
            },
            text: match text {
                Some(t) => Some(t?),
                None => None,
            },
            image: match image {
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
        let logits = o.opt("logits").map(|n| cx.string(n, "output.logits"));
        let value = o.opt("value").map(|n| cx.string(n, "output.value"));
        let classes = o.opt("classes").map(|n| cx.list(n, "output.classes", text));
        o.finish(cx);
        Output {
            probabilities: match probabilities {
                Some(p) => Some(p?),
                None => None,
            },
            logits: match logits {
                Some(l) => Some(l?),
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

/// The `input.text` section of a text model.
fn decode_text(n: &Node, cx: &mut Cx) -> Option<TextInput> {
    let mut t = cx.map(n, "input.text")?;
    let tokenizer = t
        .req(cx, "tokenizer")
        .and_then(|n| cx.string(n, "input.text.tokenizer"));
    let max_length = t.req(cx, "max_length").and_then(|n| {
        cx.uint(
            n,
            "input.text.max_length",
            1..=mlinfra_core::onnx::text::MAX_LENGTH as u64,
        )
    });
    let truncation = match t.opt("truncation") {
        Some(n) => cx.boolean(n, "input.text.truncation"),
        None => Some(true),
    };
    let padding = match t.opt("padding") {
        Some(n) => cx.one_of(n, "input.text.padding", Padding::NAMES).map(|p| {
            if p == "max_length" {
                Padding::MaxLength
            } else {
                Padding::Longest
            }
        }),
        None => Some(Padding::Longest),
    };
    let input_ids = t
        .req(cx, "input_ids")
        .and_then(|n| cx.string(n, "input.text.input_ids"));
    let mut optional = |key: &'static str| match t.opt(key) {
        Some(n) => cx.string(n, &format!("input.text.{key}")).map(Some),
        None => Some(None),
    };
    let attention_mask = optional("attention_mask");
    let token_type_ids = optional("token_type_ids");
    t.finish(cx);
    Some(TextInput {
        tokenizer: tokenizer?,
        max_length: max_length? as usize,
        truncation: truncation?,
        padding: padding?,
        input_ids: input_ids?,
        attention_mask: attention_mask?,
        token_type_ids: token_type_ids?,
    })
}

/// The `input.image` section of an image model.
fn decode_image(n: &Node, cx: &mut Cx) -> Option<ImageInput> {
    let mut t = cx.map(n, "input.image")?;
    let tensor = t
        .req(cx, "tensor")
        .and_then(|n| cx.string(n, "input.image.tensor"));
    let side = 1..=u64::from(mlinfra_core::onnx::images::MAX_SIDE);
    let width = t
        .req(cx, "width")
        .and_then(|n| cx.uint(n, "input.image.width", side.clone()));
    let height = t
        .req(cx, "height")
        .and_then(|n| cx.uint(n, "input.image.height", side));
    let mut choice =
        |key: &'static str, names: &'static [&'static str]| -> Option<Option<String>> {
            match t.opt(key) {
                Some(n) => cx
                    .one_of(n, &format!("input.image.{key}"), names)
                    .map(|s| Some(s.to_string())),
                None => Some(None),
            }
        };
    let resize = choice("resize", Resize::NAMES);
    let channels = choice("channels", Channels::NAMES);
    let layout = choice("layout", Layout::NAMES);
    let scale = match t.opt("scale") {
        Some(n) => cx.float(n, "input.image.scale", f64::MIN_POSITIVE..=1e6),
        None => Some(1.0 / 255.0),
    };
    let mut floats = |key: &'static str| -> Option<Vec<f32>> {
        match t.opt(key) {
            Some(n) => {
                let path = format!("input.image.{key}");
                cx.list(n, &path, |cx, n, p| {
                    cx.float(n, p, -1e6..=1e6).map(|v| v as f32)
                })
            }
            None => Some(Vec::new()),
        }
    };
    let mean = floats("mean");
    let std = floats("std");
    t.finish(cx);
    Some(ImageInput {
        tensor: tensor?,
        width: width? as u32,
        height: height? as u32,
        resize: match resize?.as_deref() {
            Some("center_crop") => Resize::CenterCrop,
            _ => Resize::Stretch,
        },
        channels: match channels?.as_deref() {
            Some("bgr") => Channels::Bgr,
            _ => Channels::Rgb,
        },
        layout: match layout?.as_deref() {
            Some("nhwc") => Layout::Nhwc,
            _ => Layout::Nchw,
        },
        scale: scale? as f32,
        mean: mean?,
        std: std?,
    })
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
        "# The model card of `{model}`, inferred from its graph by `mlinfra models import`.\n# Check it (the inputs' names and types; the classes, or a regression's value), then import again with it:\n#   mlinfra models import {model} --card THIS_FILE --data EVAL.csv --label COLUMN --as NAME"
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
        None if card.input.text.is_some() || card.input.image.is_some() => {}
        None => t.push_str("  # One graph input per feature, named after it.\n"),
    }
    if let Some(x) = &card.input.image {
        let list = |v: &[f32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            t,
            "  # An image model: its one image feature (a PNG or JPEG picture) is brought to\n  # width × height (stretch: Pillow's bilinear resize; center_crop: scaled to cover, then the\n  # centre cut out), its channels ordered and laid out as the graph takes them, each value\n  # multiplied by scale, then the mean subtracted and divided by the std, per channel\n  # (here ImageNet's, as torchvision's and timm's models expect: check yours).\n  image:\n    tensor: {}\n    width: {}\n    height: {}\n    resize: {}   # stretch | center_crop\n    channels: {}   # rgb | bgr\n    layout: {}   # nchw | nhwc\n    scale: {}\n    mean: [{}]\n    std: [{}]",
            quoted(&x.tensor),
            x.width,
            x.height,
            match x.resize {
                Resize::Stretch => "stretch",
                Resize::CenterCrop => "center_crop",
            },
            match x.channels {
                Channels::Rgb => "rgb",
                Channels::Bgr => "bgr",
            },
            match x.layout {
                Layout::Nchw => "nchw",
                Layout::Nhwc => "nhwc",
            },
            x.scale,
            list(&x.mean),
            list(&x.std),
        );
    }
    if let Some(x) = &card.input.text {
        let _ = writeln!(
            t,
            "  # A text model: its one text feature is tokenized by the Hugging Face tokenizer file\n  # (a path relative to this card), cut to max_length tokens when truncation is true (the\n  # answer says so; else a longer text is refused), and padded to the longest text of a batch\n  # or to max_length.\n  text:\n    tokenizer: {}\n    max_length: {}\n    truncation: {}\n    padding: {}   # longest | max_length\n    # The graph's inputs that take the token ids, the attention mask and the token types.\n    input_ids: {}",
            quoted(&x.tokenizer),
            x.max_length,
            x.truncation,
            match x.padding {
                Padding::Longest => "longest",
                Padding::MaxLength => "max_length",
            },
            quoted(&x.input_ids)
        );
        if let Some(m) = &x.attention_mask {
            let _ = writeln!(t, "    attention_mask: {}", quoted(m));
        }
        if let Some(m) = &x.token_type_ids {
            let _ = writeln!(t, "    token_type_ids: {}", quoted(m));
        }
    }
    t.push_str("  features:\n");
    for f in &card.input.features {
        let kind = f.kind.name();
        let _ = writeln!(
            t,
            "    - name: {}\n      type: {kind}   # number | text | image",
            quoted(&f.name)
        );
    }
    t.push_str("output:\n");
    if let Some(l) = &card.output.logits {
        let _ = writeln!(
            t,
            "  # Scores before softmax (`probabilities:` instead when the graph answers them).\n  logits: {}",
            quoted(l)
        );
    }
    if let Some(p) = &card.output.probabilities {
        let _ = writeln!(t, "  probabilities: {}", quoted(p));
    }
    if card.task == Task::Classification {
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
                text: None,
                image: None,
            },
            output: Output {
                probabilities: Some("output_probability".into()),
                classes: vec!["0".into(), "1".into()],
                ..Output::default()
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
        let mut t = c.clone();
        t.input = Input {
            features: vec![Feature {
                name: "text".into(),
                kind: FeatureKind::Text,
            }],
            tensor: None,
            text: Some(TextInput {
                tokenizer: "tokenizer.json".into(),
                max_length: 64,
                truncation: false,
                padding: Padding::MaxLength,
                input_ids: "input_ids".into(),
                attention_mask: Some("attention_mask".into()),
                token_type_ids: None,
            }),
            image: None,
        };
        t.output = Output {
            logits: Some("logits".into()),
            classes: vec!["fire".into(), "flood".into(), "other".into()],
            ..Output::default()
        };
        assert_eq!(parse("m.card.yaml", &render(&t, "m.onnx")).unwrap(), t);
        let mut i = t.clone();
        i.input = Input {
            features: vec![Feature {
                name: "image".into(),
                kind: FeatureKind::Image,
            }],
            tensor: None,
            text: None,
            image: Some(ImageInput {
                tensor: "pixels".into(),
                width: 224,
                height: 160,
                resize: Resize::CenterCrop,
                channels: Channels::Bgr,
                layout: Layout::Nhwc,
                scale: 1.0 / 255.0,
                mean: vec![0.485, 0.456, 0.406],
                std: vec![0.229, 0.224, 0.225],
            }),
        };
        assert_eq!(parse("m.card.yaml", &render(&i, "m.onnx")).unwrap(), i);
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
