"""In-process peers of the serving benchmark: scikit-learn and onnxruntime scoring one row, and
the `shap` package explaining one row of the same logistic regression (LinearExplainer on the
encoded row, the training rows as background).

Usage: python bench/serving_peers.py OUT_DIR  (bench_serving's output directory)
Prints JSON: median ns per call.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort
import shap
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

out = sys.argv[1]
raw = np.genfromtxt("examples/heart-disease/processed.cleveland.csv", delimiter=",", skip_header=1,
                    missing_values="?", filling_values=np.nan)
X, y = raw[:, :13], (raw[:, 13] > 0).astype(int)
cat, num = [1, 2, 5, 6, 8, 10, 11, 12], [0, 3, 4, 7, 9]
prep = ColumnTransformer([
    ("num", Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]), num),
    ("cat", Pipeline([("i", SimpleImputer(strategy="most_frequent")), ("o", OneHotEncoder(handle_unknown="ignore"))]), cat),
])
sk = Pipeline([("prep", prep), ("lr", LogisticRegression(C=1.0, max_iter=10000))]).fit(X, y)
row = np.array([[63, 1, 1, 145, 233, 1, 2, 150, 0, 2.3, 3, 0, 6]], dtype=float)
sess = ort.InferenceSession(f"{out}/model.onnx", providers=["CPUExecutionProvider"])
row32 = row.astype(np.float32)


def median_ns(f, n):
    samples = []
    for _ in range(n // 100):
        t = time.perf_counter_ns()
        for _ in range(100):
            f()
        samples.append((time.perf_counter_ns() - t) / 100)
    samples.sort()
    return samples[len(samples) // 2]


lr, enc = sk.named_steps["lr"], sk.named_steps["prep"]
explainer = shap.LinearExplainer(lr, shap.maskers.Independent(enc.transform(X)))
print(json.dumps({
    "shap_explain_one_row_ns": median_ns(lambda: explainer.shap_values(enc.transform(row)), 2000),
    "sklearn_one_row_ns": median_ns(lambda: sk.predict_proba(row), 2000),
    "onnxruntime_one_row_ns": median_ns(lambda: sess.run(None, {"features": row32}), 20000),
}))
