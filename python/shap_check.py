"""SHAP values of mlinfra's models computed by the `shap` package: the reference of the
explanations (functions/core/tests/explain.rs).

Usage: python shap_check.py CASE.json  (prints JSON)

CASE.json is one of
  {"kind": "trees", "base": [...], "trees": [[{"nodes": [...], "cover": [...]}, ...], ...],
   "rows": [[...]]}        the gradient-boosted trees (trees[round][output]) and the rows of
                           raw feature values (null = missing) they read;
  {"kind": "linear", "weights": [[...]], "intercepts": [...], "means": [...],
   "encoded": [[...]], "widths": [...]}
                           a logistic regression, its encoded rows, and how many encoded columns
                           each raw feature has.
The output is {"base": [per output], "phi": [row][output][raw feature], "shap": version}:
TreeExplainer's path-dependent values (the trees given to it as arrays, node_sample_weight their
covers), or LinearExplainer's with the training means as the background, summed per raw feature.
"""
import json
import sys

import numpy as np
import shap

case = json.load(open(sys.argv[1], encoding="utf-8"))

if case["kind"] == "trees":
    outputs = len(case["base"])
    trees = []
    for rnd in case["trees"]:
        for k, tree in enumerate(rnd):
            nodes = tree["nodes"]
            n = len(nodes)
            left = np.full(n, -1, dtype=np.int32)
            right = np.full(n, -1, dtype=np.int32)
            default = np.full(n, -1, dtype=np.int32)
            feature = np.full(n, -2, dtype=np.int32)
            threshold = np.zeros(n)
            values = np.zeros((n, outputs))
            for i, node in enumerate(nodes):
                if "Split" in node:
                    s = node["Split"]
                    left[i], right[i] = s["left"], s["right"]
                    default[i] = s["left"] if s.get("missing_left") else s["right"]
                    feature[i] = s["feature"]
                    threshold[i] = s["threshold"]
                else:
                    values[i, k] = node["Leaf"]["value"]
            trees.append({
                "children_left": left, "children_right": right, "children_default": default,
                "features": feature, "thresholds": threshold, "values": values,
                "node_sample_weight": np.array(tree["cover"], dtype=float),
            })
    model = {"trees": trees, "base_offset": np.array(case["base"]), "tree_output": "raw_value",
             "objective": "squared_error", "input_dtype": np.float64,
             "internal_dtype": np.float64}
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    # The trees compare a value as float32 with their float32 thresholds.
    rows = np.array([[np.nan if v is None else v for v in r] for r in case["rows"]], dtype=float)
    rows = rows.astype(np.float32).astype(np.float64)
    phi = np.asarray(explainer.shap_values(rows, check_additivity=True))
    if phi.ndim == 2:  # one output
        phi = phi[:, None, :]
    elif phi.shape[0] == outputs and phi.shape[1] == len(rows):  # [output][row][feature]
        phi = phi.transpose(1, 0, 2)
    else:  # [row][feature][output]
        phi = phi.transpose(0, 2, 1)
    base = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).tolist()
else:
    encoded = np.array(case["encoded"], dtype=float)
    means = np.array(case["means"], dtype=float)
    per_output, base = [], []
    for w, b in zip(case["weights"], case["intercepts"]):
        explainer = shap.LinearExplainer((np.array(w), b), shap.maskers.Independent(means[None, :]))
        per_output.append(np.asarray(explainer.shap_values(encoded)))
        base.append(float(np.asarray(explainer.expected_value).ravel()[0]))
    cols = np.stack(per_output, axis=1)  # [row][output][column]
    starts = np.cumsum([0] + case["widths"])
    phi = np.stack([cols[:, :, a:b].sum(axis=2) for a, b in zip(starts[:-1], starts[1:])], axis=2)

print(json.dumps({"base": base, "phi": phi.tolist(), "shap": shap.__version__}))
