"""The scipy side of bench/drift.sh: writes the samples (13 features, ROWS reference and ROWS
current values each, some shifted) to DIR/samples.f64 and times scipy doing what the monitor
does per feature: ks_2samp (statistic and p-value), wasserstein_distance (and normed), PSI with
numpy histograms. Prints the median of RUNS timings as JSON.

    .venv/bin/python bench/drift_peers.py DIR ROWS FEATURES RUNS
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
from psi import psi  # noqa: E402

out, rows, features, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(42)
samples = []
for f in range(features):
    ref = np.round(rng.normal(100.0 + f, 15.0, rows), 2)
    shift = 3.0 if f % 3 == 0 else 0.0  # every third feature drifts a little
    cur = np.round(rng.normal(100.0 + f + shift, 15.0, rows), 2)
    samples += [ref, cur]
np.concatenate(samples).astype("<f8").tofile(f"{out}/samples.f64")



def one(r, c):
    ks = stats.ks_2samp(r, c)
    w = stats.wasserstein_distance(r, c)
    return ks.statistic, ks.pvalue, w, w / np.std(r), psi(r, c)


times = []
for _ in range(runs):
    t = time.perf_counter()
    res = [one(samples[2 * f], samples[2 * f + 1]) for f in range(features)]
    times.append((time.perf_counter() - t) * 1000)
times.sort()
print(json.dumps({"median_ms": times[len(times) // 2], "min_ms": times[0], "runs": runs,
                  "feature0": dict(zip(["ks_statistic", "ks_p_value", "wasserstein", "wasserstein_normed", "psi"],
                                       map(float, res[0])))}))
