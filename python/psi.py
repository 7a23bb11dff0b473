"""The population stability index as mlinfra defines it, for the reference values
(python/drift_reference.py) and the drift benchmark's scipy side (bench/drift_peers.py)."""
import numpy as np


def psi(r, c, bins=10):
    """Population stability index over equal-width bins of the combined range; an empty bin
    counts as 0.0001 of its sample (the documented rule)."""
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins=bins)
    rp = np.histogram(r, edges)[0] / len(r)
    cp = np.histogram(c, edges)[0] / len(c)
    rp = np.where(rp == 0, 0.0001, rp)
    cp = np.where(cp == 0, 0.0001, cp)
    return float(np.sum((rp - cp) * np.log(rp / cp)))
