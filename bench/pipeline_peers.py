"""scikit-learn doing what `bench_pipeline` did, on the same rows and the same 20 points.

Usage: python bench/pipeline_peers.py OUT_DIR REPORT.json  (REPORT: bench_pipeline's output)
Prints a Markdown table of both, with ratios.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from heart_prep import categorical, lr_prep, tree_prep

out, report_path = sys.argv[1], sys.argv[2]
ours = json.load(open(report_path))
split = json.load(open(f"{out}/split.json"))
candidates = json.load(open(f"{out}/candidates.json"))

raw = np.genfromtxt("examples/heart-disease/processed.cleveland.csv", delimiter=",", skip_header=1,
                    missing_values="?", filling_values=np.nan)
X, y = raw[:, :13], (raw[:, 13] > 0).astype(int)
train, evalr = np.array(split["train"]), np.array(split["eval"])



def estimator(p):
    if p["family"] == "logistic_regression":
        return lr_prep, LogisticRegression(C=1.0 / p["l2"], max_iter=10000)
    return tree_prep, GradientBoostingClassifier(max_depth=p["max_depth"], learning_rate=p["learning_rate"],
                                                 n_estimators=p["rounds"], min_samples_leaf=p["min_leaf"],
                                                 random_state=0)


grid = [{"prep": [prep], "model": [model]} for prep, model in map(estimator, candidates)]
pipe = Pipeline([("prep", lr_prep), ("model", LogisticRegression())])
search = GridSearchCV(pipe, grid, scoring="roc_auc", cv=StratifiedKFold(5, shuffle=True, random_state=42),
                      n_jobs=1, refit=False)
times = []
for _ in range(3):
    t = time.perf_counter()
    search.fit(X[train], y[train])
    times.append(time.perf_counter() - t)
sk_search = sorted(times)[1]

best_lr = ours["quality"]["logistic_regression"]["params"]
best_gbt = ours["quality"]["gradient_boosted_trees"]["params"]
lr = Pipeline([("prep", lr_prep), ("model", LogisticRegression(C=1.0 / best_lr["l2"], max_iter=10000))])
lr.fit(X[train], y[train])
sk_lr_auc = roc_auc_score(y[evalr], lr.predict_proba(X[evalr])[:, 1])
hgb = HistGradientBoostingClassifier(max_depth=best_gbt["max_depth"], learning_rate=best_gbt["learning_rate"],
                                     max_iter=best_gbt["rounds"], min_samples_leaf=best_gbt["min_leaf"],
                                     categorical_features=categorical, random_state=0)
hgb.fit(X[train], y[train])
sk_hgb_auc = roc_auc_score(y[evalr], hgb.predict_proba(X[evalr])[:, 1])

m_lr = ours["quality"]["logistic_regression"]["eval_auc"]
m_gbt = ours["quality"]["gradient_boosted_trees"]["eval_auc"]
print(f"scikit-learn {sklearn.__version__}; same split ({len(train)} train / {len(evalr)} eval), same 20 points\n")
print("| figure | mlinfra | scikit-learn | ratio / difference | target |")
print("|---|---:|---:|---:|---|")
print(f"| 20-trial 5-fold search (LR + GBT), s | {ours['search_seconds']:.3f} | {sk_search:.3f} (GridSearchCV) "
      f"| {sk_search / ours['search_seconds']:.1f}x faster | <= 2 s |")
print(f"| eval ROC AUC, logistic regression | {m_lr:.4f} | {sk_lr_auc:.4f} (LogisticRegression) "
      f"| {m_lr - sk_lr_auc:+.4f} | within 0.02 |")
print(f"| eval ROC AUC, trees | {m_gbt:.4f} | {sk_hgb_auc:.4f} (HistGradientBoosting) "
      f"| {m_gbt - sk_hgb_auc:+.4f} | within 0.02 |")
print(f"| stats + schema + validation, 1M rows x 13, s | {ours['stats_schema_validate_seconds']:.3f} | | | <= 1 s |")
print(f"| CSV parse of the same 1M rows, s | {ours['stats_parse_seconds']:.3f} | | | |")
