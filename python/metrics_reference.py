"""Reference values of the Evaluator's metrics, computed with scikit-learn on fixed vectors.

Regenerate (the output is committed):
    .venv/bin/python python/metrics_reference.py > functions/core/tests/data/metrics_reference.json

ECE (10 equal-width bins of the top-class confidence) and the multiclass Brier score
(mean over rows of the summed squared error over classes) are not scikit-learn functions; they
are computed here with NumPy from their definitions.
"""
import json

import numpy as np
import sklearn
from sklearn import metrics


def ece(y, proba, bins=10):
    conf = proba.max(axis=1)
    pred = proba.argmax(axis=1)
    idx = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(total)


def case(y, proba):
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    labels = list(range(k))
    p, r, f, _ = metrics.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out = {
        "y": y.tolist(),
        "proba": proba.tolist(),
        "accuracy": metrics.accuracy_score(y, pred),
        "balanced_accuracy": metrics.balanced_accuracy_score(y, pred),
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "macro_precision": float(p.mean()),
        "macro_recall": float(r.mean()),
        "macro_f1": float(f.mean()),
        "log_loss": metrics.log_loss(y, proba, labels=labels),
        "confusion": metrics.confusion_matrix(y, pred, labels=labels).tolist(),
        "ece": ece(y, proba),
    }
    if k == 2:
        out["roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
        out["brier"] = metrics.brier_score_loss(y, proba[:, 1])
    else:
        out["roc_auc"] = metrics.roc_auc_score(y, proba, multi_class="ovr", average="macro")
        onehot = np.eye(k)[y]
        out["brier"] = float(((proba - onehot) ** 2).sum(axis=1).mean())
    return out


rng = np.random.default_rng(20261122)
# Binary: 40 rows, scores with ties (rounded to 0.05) to exercise tied ranks.
y2 = rng.integers(0, 2, 40)
p1 = np.clip(np.round(0.35 * y2 + rng.uniform(0.0, 0.65, 40), 2), 0.0, 1.0)
p1 = np.round(p1 / 0.05) * 0.05
binary = np.stack([1 - p1, p1], axis=1)
# Multiclass: 60 rows, 4 classes, one class never predicted.
y4 = rng.integers(0, 4, 60)
logits = rng.normal(0.0, 1.0, (60, 4)) + 1.5 * np.eye(4)[y4]
logits[:, 3] -= 3.0
multi = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

print(json.dumps({
    "generator": f"python/metrics_reference.py, scikit-learn {sklearn.__version__}, numpy {np.__version__}",
    "binary": case(y2, binary),
    "multiclass": case(y4, multi),
}, indent=1))
