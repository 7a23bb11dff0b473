//! The tree ensembles of imported models (`ai.onnx.ml` `TreeEnsembleClassifier` and
//! `TreeEnsembleRegressor`), evaluated by mlinfra inside tract as the operator `MlinfraTrees`.
//!
//! tract 0.23 runs the classifier, but finds each leaf's weights by skipping through every
//! leaf before it, so a row costs time in proportion to the trees times their leaves (a
//! 20-tree forest: 250 µs a row, 20 times onnxruntime). Here each leaf holds the range of its
//! weights, and a row costs the depth of each tree. The semantics are ONNX-ML's, as tract and
//! onnxruntime read them: a classifier's scores are the sums of its leaves' weights per class
//! plus `base_values`, then `post_transform`; with two classes whose leaves weigh class 0 only
//! (LightGBM's binary models), the one score `s` answers `[1 - s, s]` after the transform. A
//! regressor aggregates its targets' weights (sum, average, minimum or maximum) plus
//! `base_values`. [`crate::import::normalize`] puts this operator in place of both.

use crate::import::{attr, floats, ints, string, strings};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// The operator's name in the rewritten graph (domain `mlinfra`).
pub const OP: &str = "MlinfraTrees";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Leq,
    Lt,
    Geq,
    Gt,
    Eq,
    Neq,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Node {
    Branch {
        feature: u32,
        cmp: Cmp,
        value: f32,
        yes: u32,
        no: u32,
        nan_yes: bool,
    },
    /// Its weights are `weights[start..end]`.
    Leaf { start: u32, end: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Post {
    None,
    Logistic,
    Softmax,
}

/// A parsed ensemble, ready to evaluate rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Trees {
    nodes: Vec<Node>,
    /// The index of each tree's root in `nodes`.
    roots: Vec<u32>,
    /// `(output column, weight)` of the leaves.
    weights: Vec<(u32, f32)>,
    /// Columns the weights go to (classes or targets).
    columns: usize,
    base: Vec<f32>,
    aggregate: Aggregate,
    post: Post,
    /// Two classes, leaves that weigh class 0 only: one score `s`, answered as `[1 - s, s]`.
    binary: bool,
    /// The largest feature index a branch reads.
    max_feature: usize,
}

impl Trees {
    /// Parse a `TreeEnsembleClassifier` (`classifier`) or a `TreeEnsembleRegressor` node's
    /// attributes.
    pub fn parse(node: &NodeProto, classifier: bool) -> TractResult<Trees> {
        let n = ints(node, "nodes_nodeids").unwrap_or_default().len();
        let tree_ids = ints(node, "nodes_treeids").unwrap_or_default();
        let node_ids = ints(node, "nodes_nodeids").unwrap_or_default();
        let features = ints(node, "nodes_featureids").unwrap_or_default();
        let values = floats(node, "nodes_values").unwrap_or_default();
        let modes = strings(node, "nodes_modes").unwrap_or_default();
        let yes = ints(node, "nodes_truenodeids").unwrap_or_default();
        let no = ints(node, "nodes_falsenodeids").unwrap_or_default();
        let nan = ints(node, "nodes_missing_value_tracks_true").unwrap_or_default();
        ensure!(n > 0, "`{}` has no nodes", node.name);
        for (name, len) in [
            ("nodes_treeids", tree_ids.len()),
            ("nodes_featureids", features.len()),
            ("nodes_values", values.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
        ] {
            ensure!(
                len == n,
                "`{}`: `{name}` has {len} values, not {n}",
                node.name
            );
        }
        let prefix = if classifier { "class" } else { "target" };
        let leaf_trees = ints(node, &format!("{prefix}_treeids")).unwrap_or_default();
        let leaf_nodes = ints(node, &format!("{prefix}_nodeids")).unwrap_or_default();
        let leaf_ids = ints(node, &format!("{prefix}_ids")).unwrap_or_default();
        let leaf_weights = floats(node, &format!("{prefix}_weights")).unwrap_or_default();
        let k = leaf_weights.len();
        ensure!(
            leaf_trees.len() == k && leaf_nodes.len() == k && leaf_ids.len() == k,
            "`{}`: the `{prefix}_*` attributes differ in length",
            node.name
        );
        let columns = if classifier {
            ints(node, "classlabels_int64s")
                .unwrap_or_default()
                .len()
                .max(
                    strings(node, "classlabels_strings")
                        .unwrap_or_default()
                        .len(),
                )
        } else {
            usize::try_from(attr(node, "n_targets").map_or(1, |a| a.i)).unwrap_or(1)
        };
        ensure!(columns > 0, "`{}` has no classes or targets", node.name);
        // Nodes by (tree, node id), as the attributes may list them in any order.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| (tree_ids[i], node_ids[i]));
        let index: std::collections::HashMap<(i64, i64), u32> = order
            .iter()
            .enumerate()
            .map(|(at, &i)| ((tree_ids[i], node_ids[i]), at as u32))
            .collect();
        let mut leaves: std::collections::HashMap<(i64, i64), Vec<(u32, f32)>> =
            std::collections::HashMap::new();
        for j in 0..k {
            let column = u32::try_from(leaf_ids[j]).unwrap_or(u32::MAX);
            ensure!(
                (column as usize) < columns,
                "`{}`: a leaf weighs column {} of {columns}",
                node.name,
                leaf_ids[j]
            );
            leaves
                .entry((leaf_trees[j], leaf_nodes[j]))
                .or_default()
                .push((column, leaf_weights[j]));
        }
        let mut nodes = Vec::with_capacity(n);
        let mut weights = Vec::with_capacity(k);
        let mut roots = Vec::new();
        let mut max_feature = 0;
        let mut last_tree = None;
        for &i in &order {
            if last_tree != Some(tree_ids[i]) {
                last_tree = Some(tree_ids[i]);
                roots.push(nodes.len() as u32);
            }
            let child = |id: i64| -> TractResult<u32> {
                index.get(&(tree_ids[i], id)).copied().ok_or_else(|| {
                    format_err!("`{}`: tree {} has no node {id}", node.name, tree_ids[i])
                })
            };
            let cmp = match modes[i].as_str() {
                "LEAF" => None,
                "BRANCH_LEQ" => Some(Cmp::Leq),
                "BRANCH_LT" => Some(Cmp::Lt),
                "BRANCH_GTE" => Some(Cmp::Geq),
                "BRANCH_GT" => Some(Cmp::Gt),
                "BRANCH_EQ" => Some(Cmp::Eq),
                "BRANCH_NEQ" => Some(Cmp::Neq),
                other => bail!("`{}`: node mode `{other}`", node.name),
            };
            nodes.push(match cmp {
                Some(cmp) => {
                    let feature = u32::try_from(features[i]).unwrap_or(u32::MAX);
                    max_feature = max_feature.max(feature as usize);
                    Node::Branch {
                        feature,
                        cmp,
                        value: values[i],
                        yes: child(yes[i])?,
                        no: child(no[i])?,
                        nan_yes: nan.get(i).is_some_and(|v| *v != 0),
                    }
                }
                None => {
                    let start = weights.len() as u32;
                    weights.extend(
                        leaves
                            .get(&(tree_ids[i], node_ids[i]))
                            .cloned()
                            .unwrap_or_default(),
                    );
                    Node::Leaf {
                        start,
                        end: weights.len() as u32,
                    }
                }
            });
        }
        let aggregate = match string(node, "aggregate_function").as_deref() {
            None | Some("SUM") => Aggregate::Sum,
            Some("AVERAGE") => Aggregate::Average,
            Some("MIN") => Aggregate::Min,
            Some("MAX") => Aggregate::Max,
            Some(other) => bail!("`{}`: aggregate function `{other}`", node.name),
        };
        let post = match string(node, "post_transform").as_deref() {
            None | Some("NONE") => Post::None,
            Some("LOGISTIC") => Post::Logistic,
            Some("SOFTMAX") => Post::Softmax,
            Some(other) => bail!("`{}`: post transform `{other}` is not supported", node.name),
        };
        let binary = classifier && columns == 2 && weights.iter().all(|(c, _)| *c == 0);
        let mut base = floats(node, "base_values").unwrap_or_default();
        base.resize(columns, 0.0);
        Ok(Trees {
            nodes,
            roots,
            weights,
            columns,
            base,
            aggregate,
            post,
            binary,
            max_feature,
        })
    }

    fn leaf(&self, root: u32, row: &[f32]) -> (u32, u32) {
        let mut at = root as usize;
        loop {
            match self.nodes[at] {
                Node::Leaf { start, end } => return (start, end),
                Node::Branch {
                    feature,
                    cmp,
                    value,
                    yes,
                    no,
                    nan_yes,
                } => {
                    let x = row.get(feature as usize).copied().unwrap_or(f32::NAN);
                    let go = if x.is_nan() {
                        nan_yes
                    } else {
                        match cmp {
                            Cmp::Leq => x <= value,
                            Cmp::Lt => x < value,
                            Cmp::Geq => x >= value,
                            Cmp::Gt => x > value,
                            Cmp::Eq => x == value,
                            Cmp::Neq => x != value,
                        }
                    };
                    at = if go { yes } else { no } as usize;
                }
            }
        }
    }

    /// The output columns: the classes (two for a binary layout), or the targets.
    pub fn width(&self) -> usize {
        self.columns
    }

    /// Evaluate one row into `out` (`width()` values).
    fn row(&self, row: &[f32], out: &mut [f32]) {
        let init = match self.aggregate {
            Aggregate::Min => f32::INFINITY,
            Aggregate::Max => f32::NEG_INFINITY,
            _ => 0.0,
        };
        out.fill(init);
        let mut touched = vec![false; self.columns];
        for &root in &self.roots {
            let (start, end) = self.leaf(root, row);
            for &(c, w) in &self.weights[start as usize..end as usize] {
                let o = &mut out[c as usize];
                touched[c as usize] = true;
                *o = match self.aggregate {
                    Aggregate::Sum | Aggregate::Average => *o + w,
                    Aggregate::Min => o.min(w),
                    Aggregate::Max => o.max(w),
                };
            }
        }
        for (c, o) in out.iter_mut().enumerate() {
            if !touched[c] {
                *o = 0.0;
            }
            if self.aggregate == Aggregate::Average {
                *o /= self.roots.len().max(1) as f32;
            }
            *o += self.base[c];
        }
        if self.binary {
            let s = transform1(self.post, out[0]);
            out[0] = 1.0 - s;
            out[1] = s;
            return;
        }
        match self.post {
            Post::None => {}
            Post::Logistic => out
                .iter_mut()
                .for_each(|o| *o = transform1(Post::Logistic, *o)),
            Post::Softmax => {
                let m = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for o in out.iter_mut() {
                    *o = (*o - m).exp();
                    sum += *o;
                }
                out.iter_mut().for_each(|o| *o /= sum);
            }
        }
    }
}

fn transform1(post: Post, x: f32) -> f32 {
    match post {
        Post::Logistic => 1.0 / (1.0 + (-x).exp()),
        _ => x,
    }
}

/// The typed operator: rows `[N, F]` in, scores `[N, width]` out.
#[derive(Debug, Clone, PartialEq)]
pub struct TreesOp(pub Trees);

// tract compares operators for equality to merge identical nodes; two ensembles parsed from the
// same attributes are equal (their thresholds are never NaN: a NaN threshold is no branch).
impl Eq for TreesOp {}

impl Op for TreesOp {
    fn name(&self) -> StaticName {
        OP.into()
    }

    op_as_typed_op!();
}

impl EvalOp for TreesOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let shape = input.shape().to_vec();
        ensure!(shape.len() == 2, "{OP} takes rows [N, F], not {shape:?}");
        let (rows, features) = (shape[0], shape[1]);
        ensure!(
            features > self.0.max_feature,
            "{OP}: the rows have {features} features; the trees read feature {}",
            self.0.max_feature
        );
        let view = input.to_plain_array_view::<f32>()?;
        let owned: Vec<f32>;
        let data = match view.as_slice() {
            Some(d) => d,
            None => {
                owned = view.iter().copied().collect();
                &owned
            }
        };
        let width = self.0.width();
        let mut out = vec![0f32; rows * width];
        for (row, o) in data.chunks_exact(features).zip(out.chunks_exact_mut(width)) {
            self.0.row(row, o);
        }
        Ok(tvec!(
            Tensor::from_shape(&[rows, width], &out)?.into_tvalue()
        ))
    }
}

impl TypedOp for TreesOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let n = &inputs[0].shape[0];
        Ok(tvec!(f32::fact(&[n.clone(), self.0.width().into()])))
    }

    as_op!();
}

/// The operator as the ONNX reader builds it.
#[derive(Debug, Clone)]
struct TreesExpansion(Trees);

impl Expansion for TreesExpansion {
    fn name(&self) -> StaticName {
        OP.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.0.width().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, TreesOp(self.0.clone()), inputs)
    }
}

/// The ONNX reader's builder of `MlinfraTrees` nodes (their `mlinfra_classifier` attribute
/// says which kind of ensemble the attributes describe).
pub fn build(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let classifier = attr(node, "mlinfra_classifier").is_some_and(|a| a.i != 0);
    Ok((
        expand(TreesExpansion(Trees::parse(node, classifier)?)),
        vec![],
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tract_onnx::pb::AttributeProto;

    fn attr(name: &str, f: impl FnOnce(&mut AttributeProto)) -> AttributeProto {
        let mut a = AttributeProto {
            name: name.into(),
            ..Default::default()
        };
        f(&mut a);
        a
    }

    /// Two stumps on feature 0 (`x <= 0.5`: weights 1 and 3; then 10 and 20), as a regressor
    /// with `aggregate`.
    fn stumps(aggregate: &str) -> NodeProto {
        let ints = |n: &str, v: &[i64]| attr(n, |a| a.ints = v.to_vec());
        NodeProto {
            name: "t".into(),
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0, 1, 1, 1]),
                ints("nodes_nodeids", &[0, 1, 2, 0, 1, 2]),
                ints("nodes_featureids", &[0, 0, 0, 0, 0, 0]),
                attr("nodes_values", |a| {
                    a.floats = vec![0.5, 0.0, 0.0, 0.5, 0.0, 0.0]
                }),
                attr("nodes_modes", |a| {
                    a.strings = ["BRANCH_LEQ", "LEAF", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]
                        .iter()
                        .map(|s| s.as_bytes().to_vec())
                        .collect()
                }),
                ints("nodes_truenodeids", &[1, 0, 0, 1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0, 2, 0, 0]),
                ints("target_treeids", &[0, 0, 1, 1]),
                ints("target_nodeids", &[1, 2, 1, 2]),
                ints("target_ids", &[0, 0, 0, 0]),
                attr("target_weights", |a| a.floats = vec![1.0, 3.0, 10.0, 20.0]),
                attr("n_targets", |a| a.i = 1),
                attr("aggregate_function", |a| {
                    a.s = aggregate.as_bytes().to_vec()
                }),
                attr("base_values", |a| a.floats = vec![100.0]),
            ],
            ..Default::default()
        }
    }

    fn value(aggregate: &str, x: f32) -> f32 {
        let t = Trees::parse(&stumps(aggregate), false).unwrap();
        let mut out = [0.0];
        t.row(&[x], &mut out);
        out[0]
    }

    /// The aggregates as ONNX-ML defines them, the base value added after.
    #[test]
    fn regressor_aggregates() {
        assert_eq!(value("SUM", 0.0), 111.0);
        assert_eq!(value("SUM", 1.0), 123.0);
        assert_eq!(value("AVERAGE", 0.0), 105.5);
        assert_eq!(value("MIN", 1.0), 103.0);
        assert_eq!(value("MAX", 1.0), 120.0);
        // A missing value goes the way `nodes_missing_value_tracks_true` says (false here).
        assert_eq!(value("SUM", f32::NAN), 123.0);
        let e = Trees::parse(&stumps("MEDIAN"), false).unwrap_err();
        assert!(e.to_string().contains("aggregate function `MEDIAN`"), "{e}");
    }
}
