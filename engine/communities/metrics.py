"""Registry entries of the community family: Q per epoch, module / P / z per node.

Both entries share one partition per graph and options (memoised in ``g._cache``): a single Louvain run
(``runs=1``, the default: cheap) or the consensus of ``runs`` runs (Shine et al.: ``runs=500``).
"""
import numpy as np

from ..registry import register
from .consensus import consensus
from .modularity import louvain, modularity
from .roles import module_zscore, node_roles, participation


def partition(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10):
    """The partition the registry entries use (memoised): ``louvain`` for ``runs=1``, else ``consensus``.

    Returns
    -------
    ndarray, shape (N,) or (T, N), int64
    """
    key = ("partition", negative, bool(directed), float(gamma), int(seed), int(runs), float(tau), int(reps))
    if key not in g._cache:
        if runs == 1:
            g._cache[key] = louvain(g, gamma, negative, seed, directed=directed)[0]
        else:
            g._cache[key] = consensus(g, runs, tau, reps, seed, gamma, negative, directed)
    return g._cache[key]


@register("modularity", "epoch", ["modularity_q", "n_modules"],
          "signed modularity Q (BCT negative_asym by default) of the Louvain/consensus partition, and its size",
          needs_edges=True, skips=True, expands=True)
def _modularity_columns(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10):
    lab = partition(g, negative, directed, gamma, seed, runs, tau, reps)
    q = modularity(g, lab, gamma, negative, directed)
    n_mod = lab.max(axis=-1) + 1
    return {"modularity_q": q, "n_modules": n_mod if g.stacked else int(n_mod)}


@register("communities", "node", ["module", "participation_pos", "participation_neg", "module_zscore", "role"],
          "module of the Louvain/consensus partition, participation (W+, W-), within-module z-score "
          "(signed W, ddof=1) and Guimera-Amaral role 1..7 from (participation_pos, module_zscore)",
          needs_edges=True, skips=True, expands=True)
def _community_columns(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10):
    lab = partition(g, negative, directed, gamma, seed, runs, tau, reps)
    ppos = participation(g, lab, "positive")
    z = module_zscore(g, lab, ddof=1)
    return {
        "module": np.asarray(lab),
        "participation_pos": ppos,
        "participation_neg": participation(g, lab, "negative"),
        "module_zscore": z,
        "role": node_roles(ppos, z),
    }
