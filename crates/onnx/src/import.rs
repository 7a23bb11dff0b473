//! ONNX files made by other tools (skl2onnx, onnxmltools, `torch.onnx`), read as untrusted input
//! and made runnable by tract.
//!
//! Converters emit `ai.onnx.ml` operators by default that tract does not run: [`normalize`]
//! rewrites each into operators it does, as the ONNX-ML specification defines them (the tests
//! check every rewrite against onnxruntime on the converters' own exports):
//!
//! | operator                | rewritten as                                                   |
//! |-------------------------|----------------------------------------------------------------|
//! | `ZipMap`                | removed: its input, the probabilities `[N, C]`, is the output  |
//! | `Scaler`                | `Mul(Sub(X, offset), scale)`                                   |
//! | `Imputer`               | `Where(IsNaN(X), fill, X)` (or `Equal(X, r)` for a number `r`) |
//! | `Binarizer`             | `Cast(Greater(X, threshold))`                                  |
//! | `OneHotEncoder`         | `Cast(Equal(Unsqueeze(X, -1), categories))`, strings through   |
//! |                         | `CategoryMapper` to their index first                          |
//! | `TreeEnsembleRegressor` | mlinfra's `MlinfraTrees` ([`crate::trees`])                     |
//! | `TreeEnsembleClassifier`| `MlinfraTrees` for its scores; its label the `ArgMax` of them   |
//!
//! An operator that is neither run by tract nor rewritten is an error naming it and its node.
//! A file is refused before it is parsed when it is larger than [`MAX_BYTES`], and when one of
//! its tensors keeps its data in another file (external data).

use prost::Message as _;
use tract_onnx::pb::{self, AttributeProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;

/// The largest model file read (Lambda's memory bounds what can be served anyway).
pub const MAX_BYTES: usize = 512 * 1024 * 1024;

const ML: &str = "ai.onnx.ml";

/// The texts (or pictures) a model scores at once when it is given many.
const BATCH: usize = 32;

/// Why an ONNX file cannot be imported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("the model file is {size} bytes; the largest accepted is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the file is not an ONNX model: {0}")]
    NotOnnx(String),
    #[error(
        "tensor `{tensor}` keeps its data in another file (`{location}`); save the model with its weights inside (`onnx.save_model(m, path, save_as_external_data=False)`)"
    )]
    ExternalData { tensor: String, location: String },
    #[error("operator `{op}` (node `{node}`) is not supported: {why}")]
    Unsupported {
        op: String,
        node: String,
        why: String,
    },
    #[error("the model cannot be run: {0}")]
    Invalid(String),
}

/// Read `bytes` as an ONNX model, refusing what is not one, what is too large, and external
/// data.
pub fn read(bytes: &[u8]) -> Result<pb::ModelProto, ImportError> {
    if bytes.len() > MAX_BYTES {
        return Err(ImportError::TooLarge {
            size: bytes.len(),
            max: MAX_BYTES,
        });
    }
    let model = pb::ModelProto::decode(bytes).map_err(|e| ImportError::NotOnnx(e.to_string()))?;
    let Some(graph) = &model.graph else {
        return Err(ImportError::NotOnnx("it has no graph".into()));
    };
    if graph.node.is_empty() || graph.output.is_empty() {
        return Err(ImportError::NotOnnx(
            "its graph has no nodes or no outputs".into(),
        ));
    }
    for t in &graph.initializer {
        if !t.external_data.is_empty() || t.data_location == Some(1) {
            let location = t
                .external_data
                .iter()
                .find(|e| e.key == "location")
                .map_or_else(String::new, |e| e.value.clone());
            return Err(ImportError::ExternalData {
                tensor: t.name.clone(),
                location,
            });
        }
    }
    Ok(model)
}

/// What [`normalize`] changed, for the import's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrites {
    /// One line per rewritten node: `ZipMap \`node\` removed`, ...
    pub applied: Vec<String>,
    /// The class labels a `ZipMap` carried (as text), in the order of the probabilities.
    pub class_labels: Option<Vec<String>>,
    /// The output that held the probabilities a `ZipMap` turned into maps.
    pub probabilities: Option<String>,
}

/// Rewrite the `ai.onnx.ml` operators tract lacks into ones it runs (see the module's table).
pub fn normalize(model: &mut pb::ModelProto) -> Result<Rewrites, ImportError> {
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    let Some(graph) = model.graph.as_mut() else {
        return Err(ImportError::NotOnnx("it has no graph".into()));
    };
    let mut out = Rewrites::default();
    let mut names = Names::new(graph);
    let mut nodes = Vec::with_capacity(graph.node.len());
    let mut initializers = Vec::new();
    for node in std::mem::take(&mut graph.node) {
        let ml = node.domain == ML;
        match (ml, node.op_type.as_str()) {
            (true, "ZipMap") => {
                out.class_labels = Some(class_labels(&node));
                let (from, to) = (one(&node.input, &node)?, one(&node.output, &node)?);
                out.probabilities = Some(to.clone());
                nodes.push(plain("Identity", &[&from], &[&to], &node.name));
                if let Some(o) = graph.output.iter_mut().find(|o| o.name == to) {
                    // A tensor of probabilities, no longer a sequence of maps.
                    o.r#type = None;
                }
                out.applied.push(format!("ZipMap `{}` removed", node.name));
            }
            (true, "Scaler") => {
                let x = one(&node.input, &node)?;
                let y = one(&node.output, &node)?;
                let offset = floats(&node, "offset").unwrap_or_else(|| vec![0.0]);
                let scale = floats(&node, "scale").unwrap_or_else(|| vec![1.0]);
                let (o, s, d) = (
                    names.fresh("offset"),
                    names.fresh("scale"),
                    names.fresh("d"),
                );
                initializers.push(float_tensor(&o, &offset));
                initializers.push(float_tensor(&s, &scale));
                nodes.push(plain("Sub", &[&x, &o], &[&d], &node.name));
                nodes.push(plain("Mul", &[&d, &s], &[&y], &node.name));
                out.applied
                    .push(format!("Scaler `{}` as Sub and Mul", node.name));
            }
            (true, "Imputer") => {
                let x = one(&node.input, &node)?;
                let y = one(&node.output, &node)?;
                let Some(fill) = floats(&node, "imputed_value_floats") else {
                    return Err(unsupported(
                        &node,
                        "only `imputed_value_floats` is supported",
                    ));
                };
                let replaced = attr(&node, "replaced_value_float").map_or(0.0, |a| a.f);
                let (f, m) = (names.fresh("fill"), names.fresh("missing"));
                initializers.push(float_tensor(&f, &fill));
                if replaced.is_nan() {
                    nodes.push(plain("IsNaN", &[&x], &[&m], &node.name));
                } else {
                    let r = names.fresh("replaced");
                    initializers.push(float_tensor(&r, &[replaced]));
                    nodes.push(plain("Equal", &[&x, &r], &[&m], &node.name));
                }
                nodes.push(plain("Where", &[&m, &f, &x], &[&y], &node.name));
                out.applied
                    .push(format!("Imputer `{}` as Where", node.name));
            }
            (true, "Binarizer") => {
                let x = one(&node.input, &node)?;
                let y = one(&node.output, &node)?;
                let threshold = attr(&node, "threshold").map_or(0.0, |a| a.f);
                let (t, g) = (names.fresh("threshold"), names.fresh("above"));
                initializers.push(float_tensor(&t, &[threshold]));
                nodes.push(plain("Greater", &[&x, &t], &[&g], &node.name));
                nodes.push(cast(&g, &y, &node.name));
                out.applied
                    .push(format!("Binarizer `{}` as Greater", node.name));
            }
            (true, "OneHotEncoder") => {
                one_hot(&node, opset, &mut names, &mut nodes, &mut initializers)?;
                out.applied
                    .push(format!("OneHotEncoder `{}` as Equal", node.name));
            }
            (true, "TreeEnsembleRegressor") => {
                let y = one(&node.output, &node)?;
                nodes.push(trees_node(&node, false, &y));
                out.applied.push(format!(
                    "TreeEnsembleRegressor `{}` as {}",
                    node.name,
                    crate::trees::OP
                ));
            }
            (true, "TreeEnsembleClassifier") if node.output.len() == 2 => {
                tree_classifier_label(node, &mut names, &mut nodes, &mut initializers)?;
                out.applied.push(format!(
                    "TreeEnsembleClassifier as {}, its label the ArgMax of its scores",
                    crate::trees::OP
                ));
            }
            _ => nodes.push(node),
        }
    }
    graph.node = nodes;
    graph.initializer.extend(initializers);
    let known = framework();
    for n in &graph.node {
        if !known.op_register.0.contains_key(&n.op_type) {
            let domain = if n.domain.is_empty() {
                "ai.onnx"
            } else {
                &n.domain
            };
            return Err(ImportError::Unsupported {
                op: format!("{domain}.{}", n.op_type),
                node: n.name.clone(),
                why: "neither tract nor mlinfra's rewrites run it".into(),
            });
        }
    }
    Ok(out)
}

/// tract's ONNX reader, with mlinfra's operators registered.
fn framework() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    onnx.op_register
        .insert(crate::trees::OP, crate::trees::build);
    onnx
}

/// Names not yet used in the graph, for the values and constants the rewrites add.
struct Names {
    used: std::collections::HashSet<String>,
    n: usize,
}

impl Names {
    fn new(graph: &pb::GraphProto) -> Names {
        let mut used = std::collections::HashSet::new();
        for n in &graph.node {
            used.extend(n.input.iter().cloned());
            used.extend(n.output.iter().cloned());
        }
        used.extend(graph.initializer.iter().map(|t| t.name.clone()));
        used.extend(graph.input.iter().map(|i| i.name.clone()));
        Names { used, n: 0 }
    }

    fn fresh(&mut self, what: &str) -> String {
        loop {
            self.n += 1;
            let name = format!("mlinfra_import_{what}_{}", self.n);
            if self.used.insert(name.clone()) {
                return name;
            }
        }
    }
}

fn unsupported(node: &NodeProto, why: &str) -> ImportError {
    ImportError::Unsupported {
        op: format!("{ML}.{}", node.op_type),
        node: node.name.clone(),
        why: why.into(),
    }
}

fn one(values: &[String], node: &NodeProto) -> Result<String, ImportError> {
    values
        .first()
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or_else(|| unsupported(node, "it has no input or no output"))
}

/// A node's attribute by name (the readers below: its value, `None` when absent or empty).
pub(crate) fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

pub(crate) fn floats(node: &NodeProto, name: &str) -> Option<Vec<f32>> {
    attr(node, name)
        .map(|a| a.floats.clone())
        .filter(|v| !v.is_empty())
}

pub(crate) fn ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name)
        .map(|a| a.ints.clone())
        .filter(|v| !v.is_empty())
}

pub(crate) fn string(node: &NodeProto, name: &str) -> Option<String> {
    attr(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

pub(crate) fn strings(node: &NodeProto, name: &str) -> Option<Vec<String>> {
    attr(node, name)
        .map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
}

/// A `ZipMap`'s (or a classifier's) class labels as text.
fn class_labels(node: &NodeProto) -> Vec<String> {
    strings(node, "classlabels_strings")
        .or_else(|| {
            ints(node, "classlabels_int64s").map(|v| v.iter().map(i64::to_string).collect())
        })
        .unwrap_or_default()
}

fn plain(op: &str, inputs: &[&str], outputs: &[&str], name: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{name}/{op}"),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// An attribute of type `t`, its value set by `set`.
fn attribute(
    name: &str,
    t: pb::attribute_proto::AttributeType,
    set: impl FnOnce(&mut AttributeProto),
) -> AttributeProto {
    let mut a = AttributeProto {
        name: name.into(),
        r#type: t as i32,
        ..Default::default()
    };
    set(&mut a);
    a
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    attribute(name, pb::attribute_proto::AttributeType::Int, |a| a.i = i)
}

fn ints_attr(name: &str, ints: Vec<i64>) -> AttributeProto {
    attribute(name, pb::attribute_proto::AttributeType::Ints, |a| {
        a.ints = ints
    })
}

/// `Cast(x) -> y` to float.
fn cast(x: &str, y: &str, name: &str) -> NodeProto {
    let mut n = plain("Cast", &[x], &[y], name);
    n.attribute
        .push(int_attr("to", pb::tensor_proto::DataType::Float as i64));
    n
}

fn float_tensor(name: &str, v: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: pb::tensor_proto::DataType::Float as i32,
        float_data: v.to_vec(),
        ..Default::default()
    }
}

fn int_tensor(name: &str, v: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![v.len() as i64],
        data_type: pb::tensor_proto::DataType::Int64 as i32,
        int64_data: v.to_vec(),
        ..Default::default()
    }
}

/// `OneHotEncoder(X) -> Y`, `Y` of shape `X.shape + [K]`: each cell compared with the `K`
/// categories; a string first mapped to its category's index (`-1` when it is none of them,
/// which matches no category, as `zeros = 1` asks).
fn one_hot(
    node: &NodeProto,
    opset: i64,
    names: &mut Names,
    nodes: &mut Vec<NodeProto>,
    initializers: &mut Vec<TensorProto>,
) -> Result<(), ImportError> {
    let x = one(&node.input, node)?;
    let y = one(&node.output, node)?;
    let (index, categories) = match (strings(node, "cats_strings"), ints(node, "cats_int64s")) {
        (Some(cats), None) => {
            let index = names.fresh("category");
            let mut m = plain("CategoryMapper", &[&x], &[&index], &node.name);
            m.domain = ML.into();
            m.attribute.push(attribute(
                "cats_strings",
                pb::attribute_proto::AttributeType::Strings,
                |a| a.strings = cats.iter().map(|c| c.as_bytes().to_vec()).collect(),
            ));
            m.attribute
                .push(ints_attr("cats_int64s", (0..cats.len() as i64).collect()));
            m.attribute.push(int_attr("default_int64", -1));
            nodes.push(m);
            (index, (0..cats.len() as i64).collect::<Vec<_>>())
        }
        (None, Some(cats)) => {
            let index = names.fresh("category");
            let mut c = plain("Cast", &[&x], &[&index], &node.name);
            c.attribute
                .push(int_attr("to", pb::tensor_proto::DataType::Int64 as i64));
            nodes.push(c);
            (index, cats)
        }
        _ => {
            return Err(unsupported(
                node,
                "it needs exactly one of `cats_strings` and `cats_int64s`",
            ));
        }
    };
    let (cats, expanded, equal) = (
        names.fresh("categories"),
        names.fresh("expanded"),
        names.fresh("equal"),
    );
    initializers.push(int_tensor(&cats, &categories));
    // Unsqueeze's axes: an attribute before opset 13, an input since.
    if opset >= 13 {
        let axes = names.fresh("axes");
        initializers.push(int_tensor(&axes, &[-1]));
        nodes.push(plain(
            "Unsqueeze",
            &[&index, &axes],
            &[&expanded],
            &node.name,
        ));
    } else {
        let mut u = plain("Unsqueeze", &[&index], &[&expanded], &node.name);
        u.attribute.push(ints_attr("axes", vec![-1]));
        nodes.push(u);
    }
    nodes.push(plain("Equal", &[&expanded, &cats], &[&equal], &node.name));
    nodes.push(cast(&equal, &y, &node.name));
    Ok(())
}

/// An ensemble node as mlinfra's own operator ([`crate::trees`]), its attributes kept, its
/// one output `y`: the scores of a classifier, the targets of a regressor.
fn trees_node(node: &NodeProto, classifier: bool, y: &str) -> NodeProto {
    let mut t = plain(crate::trees::OP, &[&node.input[0]], &[y], &node.name);
    t.domain = "mlinfra".into();
    t.attribute = node.attribute.clone();
    t.attribute
        .push(int_attr("mlinfra_classifier", i64::from(classifier)));
    t
}

/// A `TreeEnsembleClassifier` as mlinfra's own operator for its scores, and its label the class
/// of the highest score, as onnxruntime answers (tract's own label differs from it for two
/// classes): `ArgMax` of the scores, mapped to the class labels.
fn tree_classifier_label(
    node: NodeProto,
    names: &mut Names,
    nodes: &mut Vec<NodeProto>,
    initializers: &mut Vec<TensorProto>,
) -> Result<(), ImportError> {
    let label = node.output[0].clone();
    let scores = node.output[1].clone();
    let labels = match (
        strings(&node, "classlabels_strings"),
        ints(&node, "classlabels_int64s"),
    ) {
        (Some(s), None) => TensorProto {
            dims: vec![s.len() as i64],
            data_type: pb::tensor_proto::DataType::String as i32,
            string_data: s.iter().map(|c| c.as_bytes().to_vec()).collect(),
            ..Default::default()
        },
        (None, Some(i)) => int_tensor("", &i),
        _ => {
            return Err(unsupported(
                &node,
                "it needs exactly one of `classlabels_strings` and `classlabels_int64s`",
            ));
        }
    };
    let (index, table) = (names.fresh("argmax"), names.fresh("classes"));
    initializers.push(TensorProto {
        name: table.clone(),
        ..labels
    });
    let name = node.name.clone();
    nodes.push(trees_node(&node, true, &scores));
    let mut a = plain("ArgMax", &[&scores], &[&index], &name);
    a.attribute.push(int_attr("axis", 1));
    a.attribute.push(int_attr("keepdims", 0));
    nodes.push(a);
    let mut g = plain("Gather", &[&table, &index], &[&label], &name);
    g.attribute.push(int_attr("axis", 0));
    nodes.push(g);
    Ok(())
}

/// An imported model, normalized and optimised, ready to run.
pub struct Imported {
    plan: std::sync::Arc<TypedSimplePlan>,
    /// The graph's inputs: name, element type, shape (`None` for a dynamic axis).
    pub inputs: Vec<(String, DatumType, Vec<Option<usize>>)>,
    /// The graph's outputs by name, in order.
    pub outputs: Vec<String>,
    pub rewrites: Rewrites,
    /// The categories of each string input the graph maps through categories (a
    /// `CategoryMapper`, or a `OneHotEncoder` rewritten into one), by input name.
    pub categories: std::collections::BTreeMap<String, Vec<String>>,
    /// The rows of each embedding table an integer input indexes (a `Gather` of an initializer
    /// by the input), by input name: a token id must be below it.
    pub embeddings: std::collections::BTreeMap<String, usize>,
    /// The `tokenizer.json` the file carries (`mlinfra.tokenizer`), for a registered text model.
    pub stored_tokenizer: Option<String>,
    /// The tokenizer of a text model, configured by its card (see [`Self::use_text`]).
    text: Option<crate::text::TextEncoder>,
}

impl std::fmt::Debug for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Imported")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Imported {
    /// Read, normalize, load and optimise ONNX `bytes`.
    pub fn load(bytes: &[u8]) -> Result<Imported, ImportError> {
        let mut proto = read(bytes)?;
        let rewrites = normalize(&mut proto)?;
        name_dynamic_axes(&mut proto);
        // The shapes an exporter writes for intermediate values are hints tract would trust;
        // `torch.export` writes some that hold only for the traced shapes (an attention mask
        // `[batch, 1, sequence, sequence]` that is `[batch, 1, 1, sequence]`). tract infers
        // them from the inputs instead.
        if let Some(g) = proto.graph.as_mut() {
            g.value_info.clear();
        }
        let graph = proto
            .graph
            .as_ref()
            .map(|g| (g.input.clone(), g.initializer.clone(), g.output.clone()));
        let Some((graph_inputs, initializers, graph_outputs)) = graph else {
            return Err(ImportError::NotOnnx("it has no graph".into()));
        };
        let categories = proto
            .graph
            .as_ref()
            .map(|g| {
                g.node
                    .iter()
                    .filter(|n| n.op_type == "CategoryMapper")
                    .filter(|n| g.input.iter().any(|i| n.input.first() == Some(&i.name)))
                    .filter_map(|n| Some((n.input[0].clone(), strings(n, "cats_strings")?)))
                    .collect()
            })
            .unwrap_or_default();
        let embeddings = proto
            .graph
            .as_ref()
            .map(|g| {
                g.node
                    .iter()
                    .filter(|n| n.op_type == "Gather" && n.input.len() == 2)
                    .filter(|n| g.input.iter().any(|i| i.name == n.input[1]))
                    .filter_map(|n| {
                        let table = g.initializer.iter().find(|t| t.name == n.input[0])?;
                        Some((n.input[1].clone(), *table.dims.first()? as usize))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let stored_tokenizer = proto
            .metadata_props
            .iter()
            .find(|p| p.key == crate::card::TOKENIZER_KEY)
            .map(|p| p.value.clone());
        // Converters write fixed output shapes (`[1]`) that a batch does not have.
        let model = framework()
            .with_ignore_output_shapes(true)
            .with_ignore_output_types(true)
            .model_for_proto_model(&proto)
            .map_err(|e| ImportError::Invalid(format!("{e:#}")))?;
        let inputs = graph_inputs
            .iter()
            .filter(|i| !initializers.iter().any(|t| t.name == i.name))
            .map(|i| {
                let (dt, shape) = tensor_type(i);
                (i.name.clone(), dt, shape)
            })
            .collect();
        let plan = optimized(model)
            .and_then(|m| m.into_runnable())
            .map_err(|e| ImportError::Invalid(format!("{e:#}")))?;
        Ok(Imported {
            plan,
            inputs,
            outputs: graph_outputs.iter().map(|o| o.name.clone()).collect(),
            rewrites,
            categories,
            embeddings,
            stored_tokenizer,
            text: None,
        })
    }

    /// Configure the tokenizer of a text model as `card` says: from `tokenizer` (a
    /// `tokenizer.json`'s bytes), or the one the file carries when `None`.
    pub fn use_text(
        &mut self,
        card: &crate::card::Card,
        tokenizer: Option<&[u8]>,
    ) -> Result<(), String> {
        let Some(spec) = &card.input.text else {
            return Ok(());
        };
        let json = match tokenizer {
            Some(t) => t,
            None => self
                .stored_tokenizer
                .as_deref()
                .map(str::as_bytes)
                .ok_or("the model file carries no tokenizer (`mlinfra.tokenizer`)")?,
        };
        self.text = Some(crate::text::TextEncoder::new(json, spec)?);
        Ok(())
    }

    /// The configured tokenizer of a text model.
    pub fn text(&self) -> Option<&crate::text::TextEncoder> {
        self.text.as_ref()
    }

    /// Run the model on `inputs`, given in the order of [`Self::inputs`].
    pub fn run(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.plan.run(inputs)
    }
}

/// tract's optimisation of a model (`into_optimized`) without its `FoldUniformMask` pass: in
/// tract 0.23.9 that pass replaces a mask it proves all true by a `[1, 1, …]` constant, which
/// drops the axis the mask broadcast. The attention mask that transformers builds is such a
/// mask (`[1, 1, sequence, 1]`, and-ed with `[batch, 1, 1, sequence]`): with the pass, a BERT
/// answers a `[batch, 1, 1, sequence]` mask where `[batch, 1, sequence, sequence]` is due.
/// An ONNX graph's runnable plan, its tree ensembles evaluated by [`crate::trees`] (tract 0.23
/// has no `TreeEnsembleRegressor`): how mlinfra's own regressions are run.
pub fn normalized_plan(bytes: &[u8]) -> TractResult<std::sync::Arc<TypedSimplePlan>> {
    let mut proto =
        read(bytes).map_err(|e| tract_onnx::prelude::tract_data::internal::anyhow!("{e}"))?;
    normalize(&mut proto).map_err(|e| tract_onnx::prelude::tract_data::internal::anyhow!("{e}"))?;
    name_dynamic_axes(&mut proto);
    let model = framework().model_for_proto_model(&proto)?;
    optimized(model)?.into_runnable()
}

fn optimized(model: InferenceModel) -> TractResult<TypedModel> {
    let mut typed = model.into_typed()?;
    let mut declutter = tract_onnx::tract_core::optim::Optimizer::declutter();
    declutter
        .passes
        .retain(|p| !format!("{p:?}").starts_with("FoldUniformMask"));
    declutter.session().optimize(&mut typed)?;
    typed.optimize()?;
    Ok(typed)
}

/// Give every dynamic axis of the graph's inputs a symbol, as tract needs (converters leave them
/// unnamed): the first axis, the batch, `N`; any other `<input>_<axis>`.
fn name_dynamic_axes(proto: &mut pb::ModelProto) {
    use pb::tensor_shape_proto::dimension::Value as Dim;
    use pb::type_proto::Value;
    let Some(graph) = proto.graph.as_mut() else {
        return;
    };
    for input in &mut graph.input {
        let name = input.name.clone();
        let Some(Value::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            continue;
        };
        let Some(shape) = t.shape.as_mut() else {
            continue;
        };
        for (axis, d) in shape.dim.iter_mut().enumerate() {
            let named = match &d.value {
                Some(Dim::DimValue(v)) => *v > 0,
                Some(Dim::DimParam(p)) => !p.is_empty(),
                None => false,
            };
            if !named {
                d.value = Some(Dim::DimParam(if axis == 0 {
                    "N".into()
                } else {
                    format!("{name}_{axis}")
                }));
            }
        }
    }
}

/// A graph input's element type and shape (`None` for a dynamic axis).
fn tensor_type(i: &pb::ValueInfoProto) -> (DatumType, Vec<Option<usize>>) {
    use pb::type_proto::Value;
    let Some(Value::TensorType(t)) = i.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return (DatumType::F32, vec![]);
    };
    let dt = match pb::tensor_proto::DataType::try_from(t.elem_type) {
        Ok(pb::tensor_proto::DataType::String) => DatumType::String,
        Ok(pb::tensor_proto::DataType::Int64) => DatumType::I64,
        Ok(pb::tensor_proto::DataType::Int32) => DatumType::I32,
        Ok(pb::tensor_proto::DataType::Double) => DatumType::F64,
        Ok(pb::tensor_proto::DataType::Bool) => DatumType::Bool,
        _ => DatumType::F32,
    };
    let shape = t
        .shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) if *v > 0 => {
                        Some(*v as usize)
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    (dt, shape)
}

/// One feature's values for a batch, in a card's feature order.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// NaN for a missing number.
    Numbers(Vec<f32>),
    /// `""` for a missing text.
    Texts(Vec<String>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Numbers(v) => v.len(),
            Column::Texts(v) => v.len(),
        }
    }
}

/// What an imported model answers for a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Row-major `rows × classes` probabilities.
    Probabilities { classes: usize, values: Vec<f32> },
    /// One value per row.
    Values(Vec<f32>),
}

impl Imported {
    /// The card that describes the graph as it is (`models import` without a card writes it
    /// for the user to check): one feature per graph input `[N, 1]` (text for strings), or the
    /// columns `feature_0`, ... of one float input `[N, F]`; classification when the graph
    /// answers probabilities (a `ZipMap`'s input, or a float output `[N, C]` beside a label),
    /// else regression on its float output.
    pub fn infer_card(&self) -> crate::card::Card {
        use crate::card::{Card, Feature, FeatureKind, Input, Output, Task};
        let single = self.inputs.len() == 1
            && self.inputs[0].1 != DatumType::String
            && self.inputs[0].2.len() == 2
            && self.inputs[0].2[1].is_some_and(|w| w > 1);
        let input = if let Some(text) = self.infer_text() {
            Input {
                features: vec![Feature {
                    name: "text".into(),
                    kind: FeatureKind::Text,
                }],
                tensor: None,
                text: Some(text),
                image: None,
            }
        } else if let Some(image) = self.infer_image() {
            Input {
                features: vec![Feature {
                    name: "image".into(),
                    kind: FeatureKind::Image,
                }],
                tensor: None,
                text: None,
                image: Some(image),
            }
        } else if single {
            let (name, _, shape) = &self.inputs[0];
            Input {
                features: (0..shape[1].unwrap_or(0))
                    .map(|j| Feature {
                        name: format!("feature_{j}"),
                        kind: FeatureKind::Number,
                    })
                    .collect(),
                tensor: Some(name.clone()),
                text: None,
                image: None,
            }
        } else {
            Input {
                features: self
                    .inputs
                    .iter()
                    .map(|(name, dt, _)| Feature {
                        name: name.clone(),
                        kind: if *dt == DatumType::String {
                            FeatureKind::Text
                        } else {
                            FeatureKind::Number
                        },
                    })
                    .collect(),
                tensor: None,
                text: None,
                image: None,
            }
        };
        let facts: Vec<(String, DatumType, usize)> = self.output_facts();
        // A label beside a float `[N, C]`, or one named as scores are (`logits`, `probs`).
        let scores = |n: &str| {
            let n = n.to_ascii_lowercase();
            n.contains("logit") || n.contains("prob")
        };
        let probabilities = self.rewrites.probabilities.clone().or_else(|| {
            facts
                .iter()
                .find(|(n, dt, w)| dt.is_float() && *w > 1 && (facts.len() >= 2 || scores(n)))
                .map(|(n, _, _)| n.clone())
        });
        // A neural classifier answers scores before softmax, by the name `logits` (transformers,
        // timm); the card says so for the user to check.
        let logits = probabilities
            .as_ref()
            .is_some_and(|p| p.to_ascii_lowercase().contains("logit"));
        let output = match &probabilities {
            Some(p) => Output {
                probabilities: (!logits).then(|| p.clone()),
                logits: logits.then(|| p.clone()),
                classes: self.rewrites.class_labels.clone().unwrap_or_else(|| {
                    let w = facts.iter().find(|(n, _, _)| n == p).map_or(0, |f| f.2);
                    (0..w).map(|c| c.to_string()).collect()
                }),
                value: None,
            },
            None => Output {
                value: facts
                    .iter()
                    .find(|(_, dt, _)| dt.is_float())
                    .or(facts.first())
                    .map(|(n, _, _)| n.clone()),
                ..Output::default()
            },
        };
        Card {
            version: crate::card::VERSION,
            task: if probabilities.is_some() {
                Task::Classification
            } else {
                Task::Regression
            },
            input,
            output,
        }
    }

    /// The text section of a card for a graph that takes token ids (an integer input named
    /// `input_ids`, as transformers exports): the tokenizer `tokenizer.json` beside the model,
    /// at most 128 tokens, the mask and segment inputs when the graph has them.
    fn infer_text(&self) -> Option<crate::card::TextInput> {
        let integer = |name: &str| {
            self.inputs
                .iter()
                .find(|(n, dt, _)| n == name && dt.is_integer())
                .map(|(n, _, _)| n.clone())
        };
        Some(crate::card::TextInput {
            tokenizer: "tokenizer.json".into(),
            max_length: 128,
            truncation: true,
            padding: crate::card::Padding::Longest,
            input_ids: integer("input_ids")?,
            attention_mask: integer("attention_mask"),
            token_type_ids: integer("token_type_ids"),
        })
    }

    /// The image section of a card for a graph that takes one float tensor of pictures
    /// (`[N, 3, H, W]` or `[N, H, W, 3]`): stretched to its size, RGB, scaled to [0, 1] and
    /// normalised with ImageNet's mean and std, as torchvision's and timm's models expect.
    fn infer_image(&self) -> Option<crate::card::ImageInput> {
        use crate::card::{Channels, ImageInput, Layout, Resize};
        let [(name, dt, shape)] = &self.inputs[..] else {
            return None;
        };
        if !dt.is_float() || shape.len() != 4 {
            return None;
        }
        let (layout, h, w) = match (shape[1], shape[3]) {
            (Some(3), _) => (Layout::Nchw, shape[2], shape[3]),
            (_, Some(3)) => (Layout::Nhwc, shape[1], shape[2]),
            _ => return None,
        };
        Some(ImageInput {
            tensor: name.clone(),
            width: w.unwrap_or(224) as u32,
            height: h.unwrap_or(224) as u32,
            resize: Resize::Stretch,
            channels: Channels::Rgb,
            layout,
            scale: 1.0 / 255.0,
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        })
    }

    /// Check an image card's input section against the graph.
    fn check_image(
        &self,
        card: &crate::card::Card,
        image: &crate::card::ImageInput,
        errors: &mut Vec<String>,
    ) {
        use crate::card::{FeatureKind, Layout};
        if card.input.features.len() != 1 || card.input.features[0].kind != FeatureKind::Image {
            errors.push(
                "`input.features`: an image model takes one feature of type image (`- {name: image, type: image}`)"
                    .into(),
            );
        }
        if card.input.text.is_some() {
            errors.push("`input.text` and `input.image`: a model takes one or the other".into());
        }
        if image.width == 0
            || image.height == 0
            || image.width > crate::images::MAX_SIDE
            || image.height > crate::images::MAX_SIDE
        {
            errors.push(format!(
                "`input.image`: {}×{} is not a size; expected 1 to {} pixels a side",
                image.width,
                image.height,
                crate::images::MAX_SIDE
            ));
        }
        for (field, v) in [("mean", &image.mean), ("std", &image.std)] {
            if !v.is_empty() && v.len() != 3 {
                errors.push(format!(
                    "`input.image.{field}` has {} values; expected one per channel (3)",
                    v.len()
                ));
            }
        }
        if image.std.contains(&0.0) {
            errors.push("`input.image.std` has a 0: values are divided by it".into());
        }
        let Some((_, dt, shape)) = self.inputs.iter().find(|(n, _, _)| *n == image.tensor) else {
            errors.push(format!(
                "`input.image.tensor` is `{}`, which is not an input of the graph (its inputs: {})",
                image.tensor,
                self.input_names()
            ));
            return;
        };
        if !dt.is_float() {
            errors.push(format!(
                "`input.image.tensor`: the graph's input `{}` takes {dt:?}, not float pixels",
                image.tensor
            ));
        }
        let want = crate::images::shape(image, 1);
        let fits = shape.len() == 4
            && shape
                .iter()
                .zip(want)
                .skip(1)
                .all(|(d, w)| d.is_none_or(|d| d == w));
        if !fits {
            let dims: Vec<String> = shape
                .iter()
                .map(|d| d.map_or("?".into(), |d| d.to_string()))
                .collect();
            errors.push(format!(
                "`input.image`: the graph's input `{}` is [{}], not {} pictures of {}×{} ({})",
                image.tensor,
                dims.join(", "),
                match image.layout {
                    Layout::Nchw => "[N, 3, H, W]",
                    Layout::Nhwc => "[N, H, W, 3]",
                },
                image.width,
                image.height,
                match image.layout {
                    Layout::Nchw => "layout: nchw",
                    Layout::Nhwc => "layout: nhwc",
                }
            ));
        }
        for (n, _, _) in &self.inputs {
            if *n != image.tensor {
                errors.push(format!(
                    "the graph's input `{n}` is not the picture's (`input.image.tensor`): an image model has one input"
                ));
            }
        }
    }

    /// Check a text card's input section against the graph.
    fn check_text(
        &self,
        card: &crate::card::Card,
        text: &crate::card::TextInput,
        errors: &mut Vec<String>,
    ) {
        use crate::card::FeatureKind;
        if card.input.features.len() != 1 || card.input.features[0].kind != FeatureKind::Text {
            errors.push(
                "`input.features`: a text model takes one feature of type text (`- {name: text, type: text}`)"
                    .into(),
            );
        }
        if let Some(t) = &card.input.tensor {
            errors.push(format!(
                "`input.tensor` (`{t}`) is for tabular models; a text model's inputs are named in `input.text`"
            ));
        }
        let named = [
            ("input.text.input_ids", Some(&text.input_ids)),
            ("input.text.attention_mask", text.attention_mask.as_ref()),
            ("input.text.token_type_ids", text.token_type_ids.as_ref()),
        ];
        for (field, name) in named {
            let Some(name) = name else { continue };
            match self.inputs.iter().find(|(n, _, _)| n == name) {
                None => errors.push(format!(
                    "`{field}` is `{name}`, which is not an input of the graph (its inputs: {})",
                    self.input_names()
                )),
                Some((_, dt, shape)) => {
                    if !dt.is_integer() {
                        errors.push(format!(
                            "`{field}`: the graph's input `{name}` takes {dt:?}, not integer token ids"
                        ));
                    }
                    if shape.len() != 2 {
                        errors.push(format!(
                            "`{field}`: the graph's input `{name}` has {} axes, not 2 (batch, sequence)",
                            shape.len()
                        ));
                    }
                }
            }
        }
        for (n, _, _) in &self.inputs {
            if !named.iter().any(|(_, name)| name == &Some(n)) {
                errors.push(format!(
                    "`input.text` does not say what goes into the graph's input `{n}` (`input_ids`, `attention_mask` or `token_type_ids`)"
                ));
            }
        }
        match &self.text {
            None => errors.push(format!(
                "`input.text.tokenizer`: `{}` is not loaded",
                text.tokenizer
            )),
            Some(enc) => {
                if let Some(rows) = self.embeddings.get(&text.input_ids)
                    && enc.vocabulary > *rows
                {
                    errors.push(format!(
                        "`input.text.tokenizer`: its vocabulary has {} tokens, but the model's embedding for `{}` has {rows} rows; ids from {rows} up would index outside it (is it the model's own tokenizer?)",
                        enc.vocabulary, text.input_ids
                    ));
                }
            }
        }
    }

    /// The graph's inputs, quoted, for errors.
    fn input_names(&self) -> String {
        self.inputs
            .iter()
            .map(|(n, _, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Each output's name, element type and width (the size of its second axis, 1 without
    /// one), from a run on two generated rows.
    fn output_facts(&self) -> Vec<(String, DatumType, usize)> {
        let Ok(out) = self.run(self.example(2)) else {
            return vec![];
        };
        self.outputs
            .iter()
            .zip(out.iter())
            .map(|(n, t)| {
                (
                    n.clone(),
                    t.datum_type(),
                    t.shape().get(1).copied().unwrap_or(1),
                )
            })
            .collect()
    }

    /// `rows` generated rows for every input: zeros, and empty strings.
    fn example(&self, rows: usize) -> TVec<TValue> {
        self.inputs
            .iter()
            .map(|(_, dt, shape)| {
                let mut dims: Vec<usize> = shape.iter().map(|d| d.unwrap_or(1)).collect();
                if dims.is_empty() {
                    dims.push(rows);
                } else {
                    dims[0] = rows;
                }
                let t = if *dt == DatumType::String {
                    let n = dims.iter().product();
                    tract_ndarray::ArrayD::from_shape_vec(dims, vec![String::new(); n])
                        .map(|a| a.into_tensor())
                        .map_err(|e| e.into())
                } else {
                    Tensor::zero_dt(*dt, &dims)
                };
                t.unwrap_or_else(|_| Tensor::from(0f32)).into_tvalue()
            })
            .collect()
    }

    /// Check `card` against the graph: every problem, each naming the card's field, what it
    /// says and what the graph has.
    pub fn check(&self, card: &crate::card::Card) -> Vec<String> {
        use crate::card::{FeatureKind, Task};
        let mut errors = Vec::new();
        let input = |name: &str| self.inputs.iter().find(|(n, _, _)| n == name);
        let names = || self.input_names();
        if let Some(text) = &card.input.text {
            self.check_text(card, text, &mut errors);
        }
        if let Some(image) = &card.input.image {
            self.check_image(card, image, &mut errors);
        }
        match &card.input.tensor {
            _ if card.input.text.is_some() || card.input.image.is_some() => {}
            Some(t) => match input(t) {
                None => errors.push(format!(
                    "`input.tensor` is `{t}`, which is not an input of the graph (its inputs: {})",
                    names()
                )),
                Some((_, dt, shape)) => {
                    if *dt == DatumType::String {
                        errors.push(format!("`input.tensor` `{t}` takes strings, not numbers"));
                    }
                    if let Some(Some(w)) = shape.get(1)
                        && *w != card.input.features.len()
                    {
                        errors.push(format!(
                            "`input.features` lists {} features, but the graph's input `{t}` has {w} columns",
                            card.input.features.len()
                        ));
                    }
                    if let Some(f) = card
                        .input
                        .features
                        .iter()
                        .find(|f| f.kind == FeatureKind::Text)
                    {
                        errors.push(format!(
                            "`input.features`: `{}` is text, but the tensor `{t}` takes numbers only",
                            f.name
                        ));
                    }
                }
            },
            None => {
                for f in &card.input.features {
                    match input(&f.name) {
                        None => errors.push(format!(
                            "`input.features`: `{}` is not an input of the graph (its inputs: {})",
                            f.name,
                            names()
                        )),
                        Some((_, dt, _)) => {
                            let text = *dt == DatumType::String;
                            if text != (f.kind == FeatureKind::Text) {
                                errors.push(format!(
                                    "`input.features`: `{}` is `{}`, but the graph takes {}",
                                    f.name,
                                    if f.kind == FeatureKind::Text {
                                        "text"
                                    } else {
                                        "number"
                                    },
                                    if text {
                                        "strings (type: text)"
                                    } else {
                                        "numbers (type: number)"
                                    }
                                ));
                            }
                        }
                    }
                }
                for (n, _, _) in &self.inputs {
                    if !card.input.features.iter().any(|f| &f.name == n) {
                        errors.push(format!(
                            "`input.features` does not list the graph's input `{n}`"
                        ));
                    }
                }
            }
        }
        let facts = self.output_facts();
        if facts.is_empty() {
            errors.push(
                "the graph does not run on a generated example (zeros and empty strings)".into(),
            );
            return errors;
        }
        match card.task {
            Task::Classification => {
                let (field, name) = match (&card.output.probabilities, &card.output.logits) {
                    (Some(_), Some(_)) => {
                        errors.push(
                            "`output.probabilities` and `output.logits`: give one, not both".into(),
                        );
                        ("output.probabilities", &card.output.probabilities)
                    }
                    (None, Some(_)) => ("output.logits", &card.output.logits),
                    (Some(_), None) => ("output.probabilities", &card.output.probabilities),
                    (None, None) => {
                        errors.push(
                            "`output.probabilities` (or `output.logits`) is required for a classification"
                                .into(),
                        );
                        ("output.probabilities", &card.output.probabilities)
                    }
                };
                let classes = card.output.classes.len();
                if let Some((name, dt, w)) = find_output(&facts, field, name, &mut errors) {
                    // One logit column scores the second of two classes (a sigmoid).
                    let sigmoid = field == "output.logits" && w == 1 && classes == 2;
                    if !dt.is_float() {
                        errors.push(format!("`{field}` `{name}` holds {dt:?}, not numbers"));
                    } else if w != classes && !sigmoid {
                        errors.push(format!(
                            "`output.classes` names {classes} classes, but `{name}` has {w} columns"
                        ));
                    }
                }
            }
            Task::Regression => {
                if card.output.value.is_none() {
                    errors.push("`output.value` is required for a regression".into());
                }
                if let Some((name, dt, w)) =
                    find_output(&facts, "output.value", &card.output.value, &mut errors)
                    && (!dt.is_float() || w != 1)
                {
                    errors.push(format!(
                        "`output.value` `{name}` is not one number per row ({dt:?}, {w} columns)"
                    ));
                }
            }
        }
        errors
    }
}

/// The output the card's `field` names, or an error naming the graph's outputs.
fn find_output(
    facts: &[(String, DatumType, usize)],
    field: &str,
    name: &Option<String>,
    errors: &mut Vec<String>,
) -> Option<(String, DatumType, usize)> {
    let name = name.as_ref()?;
    let found = facts.iter().find(|(n, _, _)| n == name).cloned();
    if found.is_none() {
        let all: Vec<String> = facts.iter().map(|(n, _, _)| format!("`{n}`")).collect();
        errors.push(format!(
            "`{field}` is `{name}`, which is not an output of the graph (its outputs: {})",
            all.join(", ")
        ));
    }
    found
}

impl Imported {
    /// Score a batch given as one [`Column`] per feature of `card` (checked against the graph
    /// with [`Self::check`]), in the card's order.
    pub fn predict(
        &self,
        card: &crate::card::Card,
        columns: &[Column],
    ) -> Result<Predictions, String> {
        if card.input.text.is_some() {
            let [Column::Texts(texts)] = columns else {
                return Err("a text model takes one column of texts".into());
            };
            return self.predict_texts(card, texts).map(|(p, _)| p);
        }
        if card.input.image.is_some() {
            return Err("an image model scores pictures (`predict_images`), not columns".into());
        }
        if columns.len() != card.input.features.len() {
            return Err(format!(
                "{} columns for {} features",
                columns.len(),
                card.input.features.len()
            ));
        }
        let rows = columns.first().map_or(0, Column::len);
        if columns.iter().any(|c| c.len() != rows) {
            return Err("the columns differ in length".into());
        }
        let mut inputs = TVec::new();
        for (name, dt, _) in &self.inputs {
            let t = if card.input.tensor.as_deref() == Some(name.as_str()) {
                let mut cells = Vec::with_capacity(rows * columns.len());
                for i in 0..rows {
                    for c in columns {
                        match c {
                            Column::Numbers(v) => cells.push(v[i]),
                            Column::Texts(_) => return Err(format!("`{name}` takes numbers")),
                        }
                    }
                }
                Tensor::from_shape(&[rows, columns.len()], &cells)
            } else {
                let Some(j) = card.input.features.iter().position(|f| &f.name == name) else {
                    return Err(format!("no feature for the graph's input `{name}`"));
                };
                match &columns[j] {
                    Column::Numbers(v) => Tensor::from_shape(&[rows, 1], v),
                    Column::Texts(v) => tract_ndarray::Array2::from_shape_vec((rows, 1), v.clone())
                        .map(|a| a.into_tensor())
                        .map_err(|e| e.into()),
                }
            }
            .and_then(|t| {
                if t.datum_type() == *dt {
                    Ok(t)
                } else {
                    t.cast_to_dt(*dt).map(|c| c.into_owned())
                }
            })
            .map_err(|e| format!("input `{name}`: {e}"))?;
            inputs.push(t.into_tvalue());
        }
        let out = self.run(inputs).map_err(|e| format!("{e:#}"))?;
        self.answer(card, &out)
    }

    /// Score texts with a text model (its tokenizer configured by [`Self::use_text`]): the
    /// answer, and the tokens (truncation and unknown tokens included, for the answer and the
    /// monitor).
    pub fn predict_text(
        &self,
        card: &crate::card::Card,
        texts: &[String],
    ) -> Result<(Predictions, crate::text::Tokens), String> {
        let (Some(spec), Some(encoder)) = (&card.input.text, &self.text) else {
            return Err("the model's tokenizer is not loaded".into());
        };
        let tokens = encoder.encode(texts)?;
        let mut inputs = TVec::new();
        for (name, dt, _) in &self.inputs {
            let values = if *name == spec.input_ids {
                &tokens.ids
            } else if spec.attention_mask.as_ref() == Some(name) {
                &tokens.attention_mask
            } else if spec.token_type_ids.as_ref() == Some(name) {
                &tokens.type_ids
            } else {
                return Err(format!(
                    "the card says nothing of the graph's input `{name}`"
                ));
            };
            let t = Tensor::from_shape(&[tokens.rows, tokens.length], values)
                .and_then(|t| t.cast_to_dt(*dt).map(|c| c.into_owned()))
                .map_err(|e| format!("input `{name}`: {e}"))?;
            inputs.push(t.into_tvalue());
        }
        let out = self.run(inputs).map_err(|e| format!("{e:#}"))?;
        Ok((self.answer(card, &out)?, tokens))
    }

    /// Score pictures (decoded: [`crate::images::decode`]) with an image model: each brought
    /// to the card's size and normalised as it says.
    pub fn predict_images(
        &self,
        card: &crate::card::Card,
        pictures: &[image::RgbImage],
    ) -> Result<Predictions, String> {
        let Some(spec) = &card.input.image else {
            return Err("the card describes no image input".into());
        };
        in_batches(card, pictures, |chunk| {
            let mut pixels =
                Vec::with_capacity(chunk.len() * 3 * spec.width as usize * spec.height as usize);
            for p in chunk {
                crate::images::write_tensor(&crate::images::resized(p, spec), spec, &mut pixels);
            }
            let mut inputs = TVec::new();
            for (name, dt, _) in &self.inputs {
                if *name != spec.tensor {
                    return Err(format!(
                        "the card says nothing of the graph's input `{name}`"
                    ));
                }
                let t = Tensor::from_shape(&crate::images::shape(spec, chunk.len()), &pixels)
                    .and_then(|t| t.cast_to_dt(*dt).map(|c| c.into_owned()))
                    .map_err(|e| format!("input `{name}`: {e}"))?;
                inputs.push(t.into_tvalue());
            }
            let out = self.run(inputs).map_err(|e| format!("{e:#}"))?;
            self.answer(card, &out)
        })
    }

    /// Score any number of texts with a text model, in batches: the answers, and each text's
    /// token count, unknown tokens and whether it was cut (the other fields of [`Tokens`],
    /// which are per batch, left empty).
    ///
    /// [`Tokens`]: crate::text::Tokens
    pub fn predict_texts(
        &self,
        card: &crate::card::Card,
        texts: &[String],
    ) -> Result<(Predictions, crate::text::Tokens), String> {
        let mut all = crate::text::Tokens::default();
        let predictions = in_batches(card, texts, |chunk| {
            let (p, t) = self.predict_text(card, chunk)?;
            all.rows += t.rows;
            all.counts.extend(t.counts);
            all.unknown.extend(t.unknown);
            all.truncated.extend(t.truncated);
            Ok(p)
        })?;
        Ok((predictions, all))
    }

    /// The card's answer from the graph's outputs: probabilities (softmax or sigmoid of
    /// logits), or values.
    fn answer(&self, card: &crate::card::Card, out: &[TValue]) -> Result<Predictions, String> {
        let take = |name: &str| -> Result<(Vec<f32>, usize), String> {
            let i = self
                .outputs
                .iter()
                .position(|o| o == name)
                .ok_or_else(|| format!("the graph has no output `{name}`"))?;
            let t = out[i]
                .cast_to::<f32>()
                .map_err(|e| format!("output `{name}`: {e}"))?;
            let width = t.shape().get(1).copied().unwrap_or(1);
            let values = t
                .to_plain_array_view::<f32>()
                .map_err(|e| format!("output `{name}`: {e}"))?
                .iter()
                .copied()
                .collect();
            Ok((values, width))
        };
        match (
            &card.output.probabilities,
            &card.output.logits,
            &card.output.value,
        ) {
            (Some(p), _, _) => {
                let (values, classes) = take(p)?;
                Ok(Predictions::Probabilities { classes, values })
            }
            (None, Some(l), _) => {
                let (logits, width) = take(l)?;
                Ok(probabilities_of(&logits, width))
            }
            (None, None, Some(v)) => Ok(Predictions::Values(take(v)?.0)),
            (None, None, None) => Err("the card names no output".into()),
        }
    }
}

/// `items` scored [`BATCH`] at a time by `score`, the answers put end to end: a batch of texts
/// is padded to its longest (and attention is quadratic in that length), and a batch of
/// pictures is held as one tensor.
fn in_batches<T>(
    card: &crate::card::Card,
    items: &[T],
    mut score: impl FnMut(&[T]) -> Result<Predictions, String>,
) -> Result<Predictions, String> {
    let mut all: Option<Predictions> = None;
    for chunk in items.chunks(BATCH) {
        let next = score(chunk)?;
        all = Some(match (all, next) {
            (None, next) => next,
            (
                Some(Predictions::Probabilities {
                    classes,
                    mut values,
                }),
                Predictions::Probabilities { values: more, .. },
            ) => {
                values.extend(more);
                Predictions::Probabilities { classes, values }
            }
            (Some(Predictions::Values(mut values)), Predictions::Values(more)) => {
                values.extend(more);
                Predictions::Values(values)
            }
            _ => return Err("the model's batches answered differently".into()),
        });
    }
    Ok(all.unwrap_or(if card.output.value.is_some() {
        Predictions::Values(Vec::new())
    } else {
        Predictions::Probabilities {
            classes: 0,
            values: Vec::new(),
        }
    }))
}

/// Probabilities from logits `rows × width`: a softmax of each row, or for one column the
/// sigmoid of the second of two classes.
fn probabilities_of(logits: &[f32], width: usize) -> Predictions {
    if width == 1 {
        let values = logits
            .iter()
            .flat_map(|z| {
                let p = 1.0 / (1.0 + (-z).exp());
                [1.0 - p, p]
            })
            .collect();
        return Predictions::Probabilities { classes: 2, values };
    }
    let mut values = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(width.max(1)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let start = values.len();
        values.extend(row.iter().map(|z| (z - max).exp()));
        let sum: f32 = values[start..].iter().sum();
        for v in &mut values[start..] {
            *v /= sum;
        }
    }
    Predictions::Probabilities {
        classes: width,
        values,
    }
}
