"""scikit-learn and LightGBM doing what `bench_scale` did, on the same rows and the same points.

Usage: python bench/scale_peers.py OUT_DIR REPORT.json  (REPORT: bench_scale's output)
Prints a Markdown table of both, with ratios. The peers get as many threads as mlinfra had
(OpenMP threads; the search itself runs one fit at a time, as GridSearchCV with n_jobs=1).
"""
import json
import os
import sys
import time

out, report_path = sys.argv[1], sys.argv[2]
ours = json.load(open(report_path))
os.environ["OMP_NUM_THREADS"] = str(ours["threads"])

import lightgbm  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from heart_prep import lr_prep, reg_linear_prep, reg_tree_prep, tree_prep  # noqa: E402

split = json.load(open(f"{out}/split.json"))
candidates = json.load(open(f"{out}/candidates.json"))


def load(path):
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="?", filling_values=np.nan)
    return raw[:, :13], (raw[:, 13] > 0).astype(int)


X, y = load(f"{out}/search.csv")
train, evalr = np.array(split["train"]), np.array(split["eval"])


def hist_gbt(p):
    # Depth-limited trees without a leaf cap, L2 1.0 and no early stopping: mlinfra's trees.
    return HistGradientBoostingClassifier(max_depth=p["max_depth"], learning_rate=p["learning_rate"],
                                          max_iter=p["rounds"], min_samples_leaf=p["min_leaf"],
                                          max_leaf_nodes=None, l2_regularization=1.0,
                                          early_stopping=False, random_state=0)


def estimator(p):
    if p["family"] == "logistic_regression":
        return lr_prep, LogisticRegression(C=1.0 / p["l2"], max_iter=10000)
    return tree_prep, hist_gbt(p)


grid = [{"prep": [prep], "model": [model]} for prep, model in map(estimator, candidates)]
pipe = Pipeline([("prep", lr_prep), ("model", LogisticRegression())])
search = GridSearchCV(pipe, grid, scoring="roc_auc", cv=StratifiedKFold(5, shuffle=True, random_state=42),
                      n_jobs=1, refit=False)
t = time.perf_counter()
search.fit(X[train], y[train])
sk_search = time.perf_counter() - t

best_gbt = ours["quality"]["gradient_boosted_trees"]["params"]
hgb = Pipeline([("prep", tree_prep), ("model", hist_gbt(best_gbt))]).fit(X[train], y[train])
sk_gbt_auc = roc_auc_score(y[evalr], hgb.predict_proba(X[evalr])[:, 1])
best_lr = ours["quality"]["logistic_regression"]["params"]
lr = Pipeline([("prep", lr_prep), ("model", LogisticRegression(C=1.0 / best_lr["l2"], max_iter=10000))])
lr.fit(X[train], y[train])
sk_lr_auc = roc_auc_score(y[evalr], lr.predict_proba(X[evalr])[:, 1])

Xf, yf = load(f"{out}/fit.csv")
Xf = SimpleImputer(strategy="median").fit_transform(Xf)
fp = ours["fit_params"]
t = time.perf_counter()
lgb = lightgbm.LGBMClassifier(n_estimators=fp["rounds"], max_depth=fp["max_depth"], num_leaves=2 ** fp["max_depth"],
                              learning_rate=fp["learning_rate"], min_child_samples=fp["min_leaf"], reg_lambda=1.0,
                              max_bin=255, num_threads=ours["threads"], verbose=-1)
lgb.fit(Xf, yf)
lgb_fit = time.perf_counter() - t

m_gbt = ours["quality"]["gradient_boosted_trees"]["eval_auc"]
m_lr = ours["quality"]["logistic_regression"]["eval_auc"]
print(f"scikit-learn {sklearn.__version__}, LightGBM {lightgbm.__version__}; {ours['threads']} threads each; "
      f"{ours['rows']} rows ({len(train)} train / {len(evalr)} eval), the same 20 points\n")
print("| figure | mlinfra | peer | ratio / difference | target |")
print("|---|---:|---:|---:|---|")
print(f"| 20-trial 5-fold search (LR + GBT), s | {ours['search_seconds']:.2f} | {sk_search:.2f} "
      f"(GridSearchCV, HistGradientBoosting) | {sk_search / ours['search_seconds']:.1f}x faster | >= 2x faster |")
print(f"| eval ROC AUC, trees | {m_gbt:.4f} | {sk_gbt_auc:.4f} | {m_gbt - sk_gbt_auc:+.4f} | within 0.005 |")
print(f"| eval ROC AUC, logistic regression | {m_lr:.4f} | {sk_lr_auc:.4f} | {m_lr - sk_lr_auc:+.4f} | |")
print(f"| one fit, 100 trees of depth 6, 1M rows, s | {ours['fit_1m_seconds']:.2f} | {lgb_fit:.2f} (LightGBM) "
      f"| {ours['fit_1m_seconds'] / lgb_fit:.2f}x LightGBM's time | within 2x |")

# The regression: `chol` (column 4) from the other 13 columns, the same candidates and rows.
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.model_selection import KFold  # noqa: E402


def load_regression(path):
    raw = np.genfromtxt(path, delimiter=",", skip_header=1, missing_values="?", filling_values=np.nan)
    return np.delete(raw, 4, axis=1), raw[:, 4]


rsplit = json.load(open(f"{out}/regression_split.json"))
rcandidates = json.load(open(f"{out}/regression_candidates.json"))
Xr, yr = load_regression(f"{out}/search.csv")
rtrain, reval = np.array(rsplit["train"]), np.array(rsplit["eval"])


def regressor(p):
    if p["family"] == "ridge":
        return reg_linear_prep, Ridge(alpha=p["l2"])
    return reg_tree_prep, HistGradientBoostingRegressor(
        max_depth=p["max_depth"], learning_rate=p["learning_rate"], max_iter=p["rounds"],
        min_samples_leaf=p["min_leaf"], max_leaf_nodes=None, l2_regularization=1.0,
        early_stopping=False, random_state=0)


rgrid = [{"prep": [prep], "model": [model]} for prep, model in map(regressor, rcandidates)]
rsearch = GridSearchCV(Pipeline([("prep", reg_linear_prep), ("model", Ridge())]), rgrid,
                       scoring="neg_root_mean_squared_error", cv=KFold(5, shuffle=True, random_state=42),
                       n_jobs=1, refit=False)
t = time.perf_counter()
rsearch.fit(Xr[rtrain], yr[rtrain])
sk_rsearch = time.perf_counter() - t
rprep, rmodel = regressor(rcandidates[rsearch.best_index_])
rbest = Pipeline([("prep", rprep), ("model", rmodel)]).fit(Xr[rtrain], yr[rtrain])
sk_rmse = float(np.sqrt(np.mean((rbest.predict(Xr[reval]) - yr[reval]) ** 2)))

Xf, yf = load_regression(f"{out}/fit.csv")
imputer = SimpleImputer(strategy="median").fit(Xf)
Xf = imputer.transform(Xf)
t = time.perf_counter()
lgr = lightgbm.LGBMRegressor(n_estimators=fp["rounds"], max_depth=fp["max_depth"], num_leaves=2 ** fp["max_depth"],
                             learning_rate=fp["learning_rate"], min_child_samples=fp["min_leaf"], reg_lambda=1.0,
                             max_bin=255, num_threads=ours["threads"], verbose=-1)
lgr.fit(Xf, yf)
lgr_fit = time.perf_counter() - t
Xh, yh = load_regression(f"{out}/holdout.csv")
lgr_rmse = float(np.sqrt(np.mean((lgr.predict(imputer.transform(Xh)) - yh) ** 2)))

print(f"| 20-trial 5-fold search (ridge + GBT regression), s | {ours['regression_search_seconds']:.2f} | "
      f"{sk_rsearch:.2f} (GridSearchCV, HistGradientBoostingRegressor + Ridge) | "
      f"{sk_rsearch / ours['regression_search_seconds']:.1f}x faster | >= 2x faster |")
ours_best = ours["regression_best"]
oprep, omodel = regressor({**ours_best, "family": ours_best["family"]})
same = Pipeline([("prep", oprep), ("model", omodel)]).fit(Xr[rtrain], yr[rtrain])
sk_same = float(np.sqrt(np.mean((same.predict(Xr[reval]) - yr[reval]) ** 2)))
print(f"| eval RMSE of the search's best, refitted | {ours['regression_eval_rmse']:.3f} | {sk_rmse:.3f} | "
      f"{ours['regression_eval_rmse'] / sk_rmse:.3f}x | within 5% |")
print(f"| (best trials: mlinfra {json.dumps(ours_best)}; scikit-learn "
      f"{json.dumps(rcandidates[rsearch.best_index_])}; scikit-learn on mlinfra's best: {sk_same:.3f}) | | | | |")
print(f"| one regression fit, 100 trees of depth 6, 1M rows, s | {ours['regression_fit_1m_seconds']:.2f} | "
      f"{lgr_fit:.2f} (LightGBM) | {ours['regression_fit_1m_seconds'] / lgr_fit:.2f}x LightGBM's time | faster |")
print(f"| holdout RMSE of that fit (100k other rows) | {ours['regression_fit_holdout_rmse']:.3f} | {lgr_rmse:.3f} | "
      f"{ours['regression_fit_holdout_rmse'] - lgr_rmse:+.3f} | equal or better |")
print(f"| a regression's interval: its bounds, ns per prediction | {ours['interval_ns_per_prediction']:.1f} | | | <= 50 ns |")
print(f"| ... and writing them into the answer's JSON (serde_json::Value), ns | {ours['interval_json_ns_per_prediction']:.0f} | | "
      f"(the answer without it: {ours['answer_ns_per_prediction']:.0f} ns) | |")
