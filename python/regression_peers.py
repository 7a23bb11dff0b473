"""scikit-learn's best of HistGradientBoostingRegressor and Ridge over the trials mlinfra ran.

Usage: python regression_peers.py CASE.json
CASE.json: {"data": CSV, "label": COLUMN, "text": [text columns], "categorical": [integer-coded
categorical columns], "missing": ["", "?"], "train": [row indices], "eval": [row indices],
"folds": K, "seed": S, "trials": [mlinfra's trial params: {"family": "ridge", "l2": ...} or
{"family": "gradient_boosted_trees", "max_depth": ..., "learning_rate": ..., "rounds": ...,
"min_leaf": ...}]}

Each trial is scored by K-fold cross-validation (shuffled with S) on the training rows by RMSE,
the best refitted on all of them and scored on the evaluation rows. Ridge takes the numbers
imputed with the median and standardised, categories one-hot; the trees take the numbers as they
are (missing values are native) and categories as categorical features. Prints JSON: the best
trial, its CV RMSE, the holdout RMSE, the seconds the search took.
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

case = json.load(open(sys.argv[1]))
frame = pd.read_csv(case["data"], na_values=case.get("missing", ["", "?"]), keep_default_na=False)
label = case["label"]
frame = frame[pd.to_numeric(frame[label], errors="coerce").notna()].reset_index(drop=True)
frame = frame[np.isfinite(frame[label].astype(float))].reset_index(drop=True)
y = frame[label].astype(float).to_numpy()
x = frame.drop(columns=[label])
cats = [c for c in x.columns if c in case.get("text", []) or c in case.get("categorical", [])]
nums = [c for c in x.columns if c not in cats]
for c in cats:
    x[c] = x[c].astype(str).where(x[c].notna(), None)
train, held = np.array(case["train"]), np.array(case["eval"])


def model(t):
    if t["family"] == "ridge":
        prep = ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                  OneHotEncoder(handle_unknown="ignore")), cats),
        ])
        return make_pipeline(prep, Ridge(alpha=t["l2"]))
    prep = ColumnTransformer([
        ("num", "passthrough", nums),
        ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                               encoded_missing_value=np.nan), cats),
    ])
    trees = HistGradientBoostingRegressor(
        max_depth=t["max_depth"], learning_rate=t["learning_rate"], max_iter=t["rounds"],
        min_samples_leaf=t["min_leaf"], max_leaf_nodes=None, l2_regularization=1.0,
        early_stopping=False, categorical_features=list(range(len(nums), len(nums) + len(cats))),
        random_state=case["seed"])
    return make_pipeline(prep, trees)


start = time.perf_counter()
folds = KFold(n_splits=case["folds"], shuffle=True, random_state=case["seed"])
scores = []
for t in case["trials"]:
    s = cross_val_score(model(t), x.iloc[train], y[train], cv=folds,
                        scoring="neg_root_mean_squared_error")
    scores.append(-s.mean())
best = int(np.argmin(scores))
fitted = model(case["trials"][best]).fit(x.iloc[train], y[train])
seconds = time.perf_counter() - start
predicted = fitted.predict(x.iloc[held])
rmse = float(np.sqrt(np.mean((y[held] - predicted) ** 2)))
print(json.dumps({"best": case["trials"][best], "cv_rmse": scores[best], "holdout_rmse": rmse,
                  "seconds": seconds, "rows": int(len(y))}))
