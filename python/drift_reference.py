"""Reference values for mlinfra's drift statistics, from scipy (pinned in requirements.txt).

    .venv/bin/python python/drift_reference.py > functions/core/tests/data/drift_reference.json

The vectors are generated here from a fixed seed and stored in the JSON with the values, so the
Rust test (functions/core/tests/drift.rs) needs no Python.
"""
import json

import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon

from psi import psi

rng = np.random.default_rng(7)
ref = np.round(rng.normal(240.0, 50.0, 300), 3)
cur = np.round(rng.normal(265.0, 55.0, 200), 3)
ties_a = np.array([1, 2, 2, 3, 3, 3, 4, 5, 5, 9], dtype=float)
ties_b = np.array([2, 2, 3, 4, 4, 6, 7, 7, 8], dtype=float)



def grid(n, mult, modulus, shift):
    """Deterministic, reproducible in any language: ((i * mult) % modulus) / modulus * 100 + shift."""
    return np.array([((i * mult) % modulus) / modulus * 100.0 + shift for i in range(n)])


def ks(a, b):
    r = stats.ks_2samp(a, b)
    return {"statistic": float(r.statistic), "pvalue": float(r.pvalue)}


obs = np.array([48.0, 35.0, 15.0, 2.0])
exp = np.array([40.0, 40.0, 15.0, 5.0])
p = np.array([0.5, 0.3, 0.15, 0.05, 0.0])
q = np.array([0.35, 0.35, 0.2, 0.05, 0.05])

out = {
    "ref": ref.tolist(),
    "cur": cur.tolist(),
    "ties_a": ties_a.tolist(),
    "ties_b": ties_b.tolist(),
    "ks_statistic": float(stats.ks_2samp(ref, cur).statistic),
    "ks_statistic_ties": float(stats.ks_2samp(ties_a, ties_b).statistic),
    "wasserstein": float(stats.wasserstein_distance(ref, cur)),
    "wasserstein_ties": float(stats.wasserstein_distance(ties_a, ties_b)),
    "psi_10": psi(ref, cur, 10),
    "psi_ties_10": psi(ties_a, ties_b, 10),
    "chisquare": {"observed": obs.tolist(), "expected": exp.tolist(),
                  "statistic": float(stats.chisquare(obs, exp).statistic),
                  "pvalue": float(stats.chisquare(obs, exp).pvalue)},
    "chi2_sf": [{"x": x, "df": df, "sf": float(stats.chi2.sf(x, df))}
                for x, df in [(0.5, 1), (3.84, 1), (7.5, 3), (30.0, 10), (120.0, 99), (2.0, 40), (0.0, 3)]],
    "ks_test": {
        "unequal": ks(ref, cur),
        "ties": ks(ties_a, ties_b),
        "equal": ks(ref[:200], cur),
        "equal_close": ks(ref[:200], ref[100:]),
        "large": [dict(shift=s, **ks(grid(12000, 7919, 10007, 0.0), grid(11000, 104729, 10009, s)))
                  for s in [0.0, 0.3, 1.5, 3.0, 10.0]],
    },
    "kstwo_sf": [{"n": n, "x": x, "sf": float(stats.kstwo.sf(x, n))}
                 for n, x in [(5739, 0.0008), (5739, 0.004), (5739, 0.015), (5739, 0.03), (100, 0.006),
                              (100, 0.05), (100, 0.15), (100, 0.3), (100, 0.6), (50000, 0.005),
                              (50000, 0.0002), (200000, 0.002), (150, 0.0066)]],
    "jensenshannon": {"p": p.tolist(), "q": q.tolist(), "distance": float(jensenshannon(p, q))},
}
print(json.dumps(out, indent=1))
