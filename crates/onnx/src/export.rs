//! Export (Pusher's artifact): a trained [`Model`] as an ONNX graph that takes raw features.
//!
//! Inputs: `features`: `float32 [N, F]`, the features that are numbers in training order, NaN
//! for a missing value (absent when every feature is text); and one `string [N, 1]` input per
//! text feature, named as the feature, `""` for a missing value.
//! Outputs `label`: `int64 [N]` (the class value) and `probabilities`: `float32 [N, K]`.
//!
//! The graph holds the whole transform: `IsNaN` + `Where` impute (not for trees, which take a
//! missing number as NaN and send it where training learned, `nodes_missing_value_tracks_true`),
//! `CategoryMapper` (ai.onnx.ml)
//! turns a text category into its index (`""` into the most frequent category's, an unseen one
//! into -1, as [`mlinfra_ml::transform::Preprocessor::impute`] does) and `Concat` + `Gather` put the
//! columns back in training order; `Gather`/`Sub`/`Div` standardise, `Equal` + `Cast` one-hot
//! encode; then `MatMul` + `Sigmoid`/`Softmax` for
//! logistic regression, or `TreeEnsembleClassifier` (ai.onnx.ml) for trees. Only ops that both
//! tract and onnxruntime implement are used. Tree margins are read from the ensemble's raw
//! scores (binary: class 1 only, no post-transform) and turned into probabilities with standard
//! ops, so the two runtimes' binary-classifier special cases never apply.
//! Encoding is deterministic: the same model gives the same bytes.

use crate::proto::{
    AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_shape_proto, type_proto,
};
use mlinfra_ml::data::Kind;
use mlinfra_ml::model::gbt::Node as TreeNode;
use mlinfra_ml::model::{Estimator, Model};
use prost::Message as _;

/// One feature as the model's `mlinfra.features` metadata describes it (written by [`export`]).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct FeatureMeta {
    pub name: String,
    pub kind: Kind,
    #[serde(default)]
    pub categories: Vec<String>,
    /// Whether the graph takes the feature as a string input of its own.
    #[serde(default)]
    pub text: bool,
}

/// The model's `mlinfra.features` metadata among its `(key, value)` metadata entries: `None`
/// when it has none.
pub fn feature_meta<'a>(
    props: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<Result<Vec<FeatureMeta>, serde_json::Error>> {
    props
        .into_iter()
        .find(|(k, _)| *k == "mlinfra.features")
        .map(|(_, v)| serde_json::from_str(v))
}

/// Metadata stored in the model (`metadata_props`), besides the features and classes.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    pub entries: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExportError {
    #[error(
        "text feature `features` cannot be an input of the exported model: the graph's input of numeric features has that name; rename the column"
    )]
    TextFeatureNamedFeatures,
}

struct Builder {
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    n: usize,
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v,
        ..Default::default()
    }
}

fn attr_floats(name: &str, v: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Floats as i32,
        floats: v,
        ..Default::default()
    }
}

fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn attr_strings(name: &str, v: &[&str]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

impl Builder {
    fn name(&mut self, base: &str) -> String {
        self.n += 1;
        format!("{base}_{}", self.n)
    }

    fn floats(&mut self, base: &str, dims: Vec<i64>, v: Vec<f32>) -> String {
        let name = self.name(base);
        self.init.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Float as i32,
            float_data: v,
            ..Default::default()
        });
        name
    }

    fn ints(&mut self, base: &str, dims: Vec<i64>, v: Vec<i64>) -> String {
        let name = self.name(base);
        self.init.push(TensorProto {
            name: name.clone(),
            dims,
            data_type: DataType::Int64 as i32,
            int64_data: v,
            ..Default::default()
        });
        name
    }

    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.name(&op.to_ascii_lowercase());
        self.op_named(op, inputs, &[&out], attrs, "");
        out
    }

    fn op_named(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attribute: Vec<AttributeProto>,
        domain: &str,
    ) {
        let name = self.name(&format!("node_{}", op.to_ascii_lowercase()));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            domain: domain.into(),
            attribute,
            ..Default::default()
        });
    }
}

fn value_info(name: &str, elem: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Encode `model` as ONNX bytes.
pub fn export(model: &Model, meta: &Metadata) -> Result<Vec<u8>, ExportError> {
    let feats = &model.prep.features;
    if feats.iter().any(|f| f.text && f.name == "features") {
        return Err(ExportError::TextFeatureNamedFeatures);
    }
    let (text, numbers): (Vec<usize>, Vec<usize>) = (0..feats.len()).partition(|&j| feats[j].text);
    let k = model.classes.len();
    let mut b = Builder {
        nodes: Vec::new(),
        init: Vec::new(),
        n: 0,
    };
    // Trees that learned where missing values go take the numbers as they are; the others
    // take them imputed.
    let trees_take_missing = matches!(
        &model.estimator,
        Estimator::GradientBoostedTrees(g) if g.learned_missing
    );
    let mut parts = Vec::new();
    if !numbers.is_empty() {
        if trees_take_missing {
            parts.push("features".to_string());
        } else {
            let isnan = b.op("IsNaN", &["features"], vec![]);
            let fills = b.floats(
                "fill",
                vec![numbers.len() as i64],
                numbers.iter().map(|&j| feats[j].fill as f32).collect(),
            );
            parts.push(b.op("Where", &[&isnan, &fills, "features"], vec![]));
        }
    }
    // Map each text category to its index; `""` (missing) to the fill index, unseen to -1.
    for &j in &text {
        let f = &feats[j];
        let mut strings: Vec<&str> = f.categories.iter().map(String::as_str).collect();
        strings.push("");
        let mut ints: Vec<i64> = (0..f.categories.len() as i64).collect();
        ints.push(f.fill as i64);
        let index = b.name("category_index");
        b.op_named(
            "CategoryMapper",
            &[&f.name],
            &[&index],
            vec![
                attr_strings("cats_strings", &strings),
                attr_ints("cats_int64s", ints),
                attr_int("default_int64", -1),
            ],
            "ai.onnx.ml",
        );
        parts.push(b.op(
            "Cast",
            &[&index],
            vec![attr_int("to", DataType::Float as i64)],
        ));
    }
    // The features in training order: imputed, or for such trees with missing numbers as NaN.
    let imputed = if text.is_empty() {
        parts.remove(0)
    } else {
        // Back to training order: graph column `order[p]` is feature `order[p]`.
        let order: Vec<usize> = numbers.iter().chain(&text).copied().collect();
        let mut perm = vec![0i64; feats.len()];
        for (p, &j) in order.iter().enumerate() {
            perm[j] = p as i64;
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let joined = if refs.len() == 1 {
            parts[0].clone()
        } else {
            b.op("Concat", &refs, vec![attr_int("axis", 1)])
        };
        let idx = b.ints("training_order", vec![feats.len() as i64], perm);
        b.op("Gather", &[&joined, &idx], vec![attr_int("axis", 1)])
    };

    let regression = model.is_regression();
    let probabilities = match &model.estimator {
        Estimator::Ridge(ridge) => {
            let (encoded, perm) = encoded(&mut b, model, &imputed);
            let coefficients = perm.iter().map(|&c| ridge.weights[c] as f32).collect();
            let value = b.name("value");
            b.op_named(
                "LinearRegressor",
                &[&encoded],
                &[&value],
                vec![
                    attr_floats("coefficients", coefficients),
                    attr_floats("intercepts", vec![ridge.intercept as f32]),
                    attr_int("targets", 1),
                ],
                "ai.onnx.ml",
            );
            value
        }
        Estimator::LogisticRegression(lr) => {
            let (encoded, perm) = encoded(&mut b, model, &imputed);
            let d = perm.len();
            let r = lr.weights.len();
            // W as [D, R] in the graph's column order.
            let mut w = vec![0f32; d * r];
            for (gj, &ej) in perm.iter().enumerate() {
                for (ri, row) in lr.weights.iter().enumerate() {
                    w[gj * r + ri] = row[ej] as f32;
                }
            }
            let w = b.floats("weights", vec![d as i64, r as i64], w);
            let bias = b.floats(
                "intercepts",
                vec![r as i64],
                lr.intercepts.iter().map(|v| *v as f32).collect(),
            );
            let mm = b.op("MatMul", &[&encoded, &w], vec![]);
            let logits = b.op("Add", &[&mm, &bias], vec![]);
            if k == 2 {
                binary_probabilities(&mut b, &logits)
            } else {
                b.op("Softmax", &[&logits], vec![attr_int("axis", 1)])
            }
        }
        Estimator::GradientBoostedTrees(gbt) => {
            let outputs = gbt.base.len();
            let mut nodes_treeids = Vec::new();
            let mut nodes_nodeids = Vec::new();
            let mut nodes_featureids = Vec::new();
            let mut nodes_values = Vec::new();
            let mut nodes_modes: Vec<&str> = Vec::new();
            let mut nodes_true = Vec::new();
            let mut nodes_false = Vec::new();
            let mut nodes_missing = Vec::new();
            let mut class_treeids = Vec::new();
            let mut class_nodeids = Vec::new();
            let mut class_ids = Vec::new();
            let mut class_weights = Vec::new();
            let mut tree_id = 0i64;
            for round in &gbt.trees {
                for (out, tree) in round.iter().enumerate() {
                    for (i, node) in tree.nodes.iter().enumerate() {
                        nodes_treeids.push(tree_id);
                        nodes_nodeids.push(i as i64);
                        match node {
                            TreeNode::Split {
                                feature,
                                threshold,
                                left,
                                right,
                                missing_left,
                            } => {
                                nodes_missing.push(i64::from(*missing_left));
                                nodes_featureids.push(*feature as i64);
                                nodes_values.push(*threshold);
                                nodes_modes.push("BRANCH_LEQ");
                                nodes_true.push(*left as i64);
                                nodes_false.push(*right as i64);
                            }
                            TreeNode::Leaf { value } => {
                                nodes_featureids.push(0);
                                nodes_values.push(0.0);
                                nodes_modes.push("LEAF");
                                nodes_missing.push(0);
                                nodes_true.push(0);
                                nodes_false.push(0);
                                class_treeids.push(tree_id);
                                class_nodeids.push(i as i64);
                                // Binary: the margin is the score of class 1.
                                class_ids.push(if outputs == 1 { 1 } else { out as i64 });
                                class_weights.push(*value as f32);
                            }
                        }
                    }
                    tree_id += 1;
                }
            }
            // The trees' nodes, as both operators take them.
            let nodes = vec![
                attr_ints("nodes_falsenodeids", nodes_false),
                attr_ints("nodes_featureids", nodes_featureids),
                attr_ints("nodes_missing_value_tracks_true", nodes_missing),
                attr_strings("nodes_modes", &nodes_modes),
                attr_ints("nodes_nodeids", nodes_nodeids),
                attr_ints("nodes_treeids", nodes_treeids),
                attr_ints("nodes_truenodeids", nodes_true),
                attr_floats("nodes_values", nodes_values),
                attr_string("post_transform", "NONE"),
            ];
            if regression {
                let value = b.name("value");
                let mut attrs = vec![
                    attr_string("aggregate_function", "SUM"),
                    attr_floats("base_values", vec![gbt.base[0] as f32]),
                    attr_int("n_targets", 1),
                ];
                attrs.extend(nodes);
                attrs.extend([
                    attr_ints("target_ids", vec![0; class_ids.len()]),
                    attr_ints("target_nodeids", class_nodeids),
                    attr_ints("target_treeids", class_treeids),
                    attr_floats("target_weights", class_weights),
                ]);
                b.op_named(
                    "TreeEnsembleRegressor",
                    &[&imputed],
                    &[&value],
                    attrs,
                    "ai.onnx.ml",
                );
                return finish(b, model, meta, &numbers, &text, Some(value));
            }
            let labels: Vec<i64> = (0..k as i64).collect();
            let (tree_label, scores) = (b.name("tree_label"), b.name("tree_scores"));
            b.op_named(
                "TreeEnsembleClassifier",
                &[&imputed],
                &[&tree_label, &scores],
                [
                    attr_ints("classlabels_int64s", labels),
                    attr_ints("class_ids", class_ids),
                    attr_ints("class_nodeids", class_nodeids),
                    attr_ints("class_treeids", class_treeids),
                    attr_floats("class_weights", class_weights),
                ]
                .into_iter()
                .chain(nodes)
                .collect(),
                "ai.onnx.ml",
            );
            if outputs == 1 {
                let one = b.ints("class_one", vec![1], vec![1]);
                let margin = b.op("Gather", &[&scores, &one], vec![attr_int("axis", 1)]);
                let base = b.floats("base", vec![1], vec![gbt.base[0] as f32]);
                let logits = b.op("Add", &[&margin, &base], vec![]);
                binary_probabilities(&mut b, &logits)
            } else {
                let base = b.floats(
                    "base",
                    vec![k as i64],
                    gbt.base.iter().map(|v| *v as f32).collect(),
                );
                let logits = b.op("Add", &[&scores, &base], vec![]);
                b.op("Softmax", &[&logits], vec![attr_int("axis", 1)])
            }
        }
    };
    if regression {
        return finish(b, model, meta, &numbers, &text, Some(probabilities));
    }
    b.op_named(
        "Identity",
        &[&probabilities],
        &["probabilities"],
        vec![],
        "",
    );
    finish(b, model, meta, &numbers, &text, None)
}

/// The graph's answer, its inputs, metadata and the model file's bytes: a regression's `value`
/// (`Some`) as the output `variable` `[N, 1]` (the name scikit-learn's converters give it);
/// else the classification's `probabilities`, and its `label` computed here.
fn finish(
    mut b: Builder,
    model: &Model,
    meta: &Metadata,
    numbers: &[usize],
    text: &[usize],
    value: Option<String>,
) -> Result<Vec<u8>, ExportError> {
    let feats = &model.prep.features;
    let outputs = if let Some(value) = value {
        b.op_named("Identity", &[&value], &[REGRESSION_OUTPUT], vec![], "");
        vec![value_info(
            REGRESSION_OUTPUT,
            DataType::Float,
            &[None, Some(1)],
        )]
    } else {
        classification_outputs(&mut b, model)
    };
    let features: Vec<serde_json::Value> = model
        .prep
        .features
        .iter()
        .map(|f| {
            let mut v = serde_json::json!({
                "name": f.name,
                "kind": f.kind,
                "categories": f.categories,
                "range_fill": f.fill,
            });
            if f.text {
                v["text"] = serde_json::Value::Bool(true);
            }
            v
        })
        .collect();
    let mut props = vec![
        (
            "mlinfra.features".to_string(),
            serde_json::Value::Array(features).to_string(),
        ),
        (
            "mlinfra.classes".to_string(),
            serde_json::to_string(&model.classes).unwrap_or_default(),
        ),
        (
            "mlinfra.class_values".to_string(),
            serde_json::to_string(&model.class_values).unwrap_or_default(),
        ),
        (
            "mlinfra.family".to_string(),
            match &model.estimator {
                Estimator::LogisticRegression(_) => "logistic_regression".to_string(),
                Estimator::GradientBoostedTrees(_) => "gradient_boosted_trees".to_string(),
                Estimator::Ridge(_) => "ridge".to_string(),
            },
        ),
    ];
    if model.is_regression() {
        props.push((TASK_KEY.to_string(), "regression".to_string()));
    }
    props.extend(meta.entries.iter().cloned());
    let graph = GraphProto {
        node: b.nodes,
        name: "mlinfra".into(),
        initializer: b.init,
        input: (!numbers.is_empty())
            .then(|| {
                value_info(
                    "features",
                    DataType::Float,
                    &[None, Some(numbers.len() as i64)],
                )
            })
            .into_iter()
            .chain(
                text.iter()
                    .map(|&j| value_info(&feats[j].name, DataType::String, &[None, Some(1)])),
            )
            .collect(),
        output: outputs,
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".into(),
                version: 1,
            },
        ],
        producer_name: "mlinfra".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props: props
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// The output a regression's graph answers its values in, `[N, 1]`.
pub const REGRESSION_OUTPUT: &str = "variable";

/// The `mlinfra.task` metadata of a regression's graph (absent: a classification).
pub const TASK_KEY: &str = "mlinfra.task";

/// A classification's `label` from its `probabilities` (the class of the highest); the outputs.
fn classification_outputs(b: &mut Builder, model: &Model) -> Vec<ValueInfoProto> {
    let k = model.classes.len();
    let index = b.op(
        "ArgMax",
        &["probabilities"],
        vec![attr_int("axis", 1), attr_int("keepdims", 0)],
    );
    let values: Vec<i64> = model
        .class_values
        .clone()
        .unwrap_or_else(|| (0..k as i64).collect());
    let class_values = b.ints("class_values", vec![k as i64], values);
    b.op_named(
        "Gather",
        &[&class_values, &index],
        &["label"],
        vec![attr_int("axis", 0)],
        "",
    );
    vec![
        value_info("label", DataType::Int64, &[None]),
        value_info("probabilities", DataType::Float, &[None, Some(k as i64)]),
    ]
}

/// The linear models' encoded row in the graph (numbers standardised, then each categorical
/// feature's one-hot block), from the imputed features; with `perm[c]`, the column of
/// [`mlinfra_ml::transform::Preprocessor::encode_row`]'s layout that graph column `c` is.
fn encoded(b: &mut Builder, model: &Model, imputed: &str) -> (String, Vec<usize>) {
    // Encoded layout in the graph: numeric features first, then each one-hot block.
    // `perm[j]` = the position in `Preprocessor::encode`'s layout of graph column j.
    let mut offsets = Vec::new();
    let mut pos = 0usize;
    for f in &model.prep.features {
        offsets.push(pos);
        pos += f.encoded_width();
    }
    let mut perm = Vec::new();
    let mut blocks: Vec<String> = Vec::new();
    let numeric: Vec<usize> = (0..model.prep.features.len())
        .filter(|&j| model.prep.features[j].kind == Kind::Numeric)
        .collect();
    if !numeric.is_empty() {
        let idx = b.ints(
            "numeric_index",
            vec![numeric.len() as i64],
            numeric.iter().map(|&j| j as i64).collect(),
        );
        let num = b.op("Gather", &[imputed, &idx], vec![attr_int("axis", 1)]);
        let mean = b.floats(
            "mean",
            vec![numeric.len() as i64],
            numeric
                .iter()
                .map(|&j| model.prep.features[j].mean as f32)
                .collect(),
        );
        let scale = b.floats(
            "scale",
            vec![numeric.len() as i64],
            numeric
                .iter()
                .map(|&j| model.prep.features[j].scale as f32)
                .collect(),
        );
        let centered = b.op("Sub", &[&num, &mean], vec![]);
        blocks.push(b.op("Div", &[&centered, &scale], vec![]));
        perm.extend(numeric.iter().map(|&j| offsets[j]));
    }
    for (j, f) in model.prep.features.iter().enumerate() {
        if f.kind != Kind::Categorical || f.categories.is_empty() {
            continue;
        }
        let idx = b.ints("column", vec![1], vec![j as i64]);
        let col = b.op("Gather", &[imputed, &idx], vec![attr_int("axis", 1)]);
        // A text feature's imputed value is its category's index.
        let values: Vec<f32> = if f.text {
            (0..f.categories.len()).map(|c| c as f32).collect()
        } else {
            f.category_values.iter().map(|v| *v as f32).collect()
        };
        let cats = b.floats("categories", vec![values.len() as i64], values);
        let eq = b.op("Equal", &[&col, &cats], vec![]);
        blocks.push(b.op("Cast", &[&eq], vec![attr_int("to", DataType::Float as i64)]));
        perm.extend((0..f.categories.len()).map(|c| offsets[j] + c));
    }
    let refs: Vec<&str> = blocks.iter().map(String::as_str).collect();
    let encoded = if refs.len() == 1 {
        blocks[0].clone()
    } else {
        b.op("Concat", &refs, vec![attr_int("axis", 1)])
    };
    (encoded, perm)
}

/// `[1 - sigmoid(z), sigmoid(z)]` for logits `z` of shape `[N, 1]`.
fn binary_probabilities(b: &mut Builder, logits: &str) -> String {
    let p1 = b.op("Sigmoid", &[logits], vec![]);
    let one = b.floats("one", vec![1], vec![1.0]);
    let p0 = b.op("Sub", &[&one, &p1], vec![]);
    b.op("Concat", &[&p0, &p1], vec![attr_int("axis", 1)])
}
