"""Registry entries of the community family: Q per epoch, module / P / z per node.

Both entries share one partition per graph and options (memoised in ``g._cache``): a single Louvain run
(``runs=1``, the default: cheap) or the consensus of ``runs`` runs (Shine et al.: ``runs=500``); with
``init="previous"`` each epoch's runs are seeded with the previous epoch's partition (and can still move);
with ``across_epochs=True`` every epoch gets the consensus of the per-epoch partitions (Shine et al.'s
consensus across epochs). Those two options make an epoch's values depend on the other epochs, so ``analyze``
gives such a metric every epoch of a member in one stack (``spans_epochs``).
"""
import numpy as np

from ..errors import InputError
from ..registry import register
from .consensus import consensus, consensus_partitions
from .modularity import louvain, modularity
from .roles import module_zscore, node_roles, participation


def _spans_epochs(options):
    """Whether these options tie the epochs together (``Metric.spans_epochs``)."""
    return options.get("init") is not None or bool(options.get("across_epochs"))


def partition(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10, init=None,
              across_epochs=False):
    """The partition the registry entries use (memoised): ``louvain`` for ``runs=1``, else ``consensus``.

    Parameters
    ----------
    init : None or "previous"
        ``"previous"``: each epoch's runs seeded with the previous epoch's partition (its consensus for
        ``runs > 1``), as seeded runs that can still move (:func:`deepcnt.louvain`'s ``refine``).
    across_epochs : bool
        Every epoch of a stack gets one partition: the consensus (``tau``, ``reps``) of the per-epoch ones.

    Returns
    -------
    ndarray, shape (N,) or (T, N), int64
    """
    if init not in (None, "previous"):
        raise InputError(f"init must be 'previous' (or unset) in an analysis, got {init!r}")
    key = ("partition", negative, bool(directed), float(gamma), int(seed), int(runs), float(tau), int(reps), init)
    if key not in g._cache:  # the per-epoch partitions, shared by the entries with and without across_epochs
        if runs == 1:
            g._cache[key] = louvain(g, gamma, negative, seed, init=init, directed=directed)[0]
        else:
            g._cache[key] = consensus(g, runs, tau, reps, seed, gamma, negative, directed, init=init)
    lab = g._cache[key]
    if not (across_epochs and g.stacked):
        return lab
    if key + ("across",) not in g._cache:
        g._cache[key + ("across",)] = np.broadcast_to(consensus_partitions(lab, tau, reps, seed), lab.shape).copy()
    return g._cache[key + ("across",)]


@register("modularity", "epoch", ["modularity_q", "n_modules"],
          "signed modularity Q (BCT negative_asym by default) of the Louvain/consensus partition, and its size",
          needs_edges=True, skips=True, expands=True, spans_epochs=_spans_epochs)
def _modularity_columns(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10, init=None,
                        across_epochs=False):
    lab = partition(g, negative, directed, gamma, seed, runs, tau, reps, init, across_epochs)
    q = modularity(g, lab, gamma, negative, directed)
    n_mod = lab.max(axis=-1) + 1
    return {"modularity_q": q, "n_modules": n_mod if g.stacked else int(n_mod)}


@register("communities", "node", ["module", "participation_pos", "participation_neg", "module_zscore", "role"],
          "module of the Louvain/consensus partition, participation (W+, W-), within-module z-score "
          "(signed W, ddof=1) and Guimera-Amaral role 1..7 from (participation_pos, module_zscore)",
          needs_edges=True, skips=True, expands=True, spans_epochs=_spans_epochs)
def _community_columns(g, negative="asym", directed=False, gamma=1.0, seed=0, runs=1, tau=0.1, reps=10, init=None,
                       across_epochs=False):
    lab = partition(g, negative, directed, gamma, seed, runs, tau, reps, init, across_epochs)
    ppos = participation(g, lab, "positive")
    z = module_zscore(g, lab, ddof=1)
    return {
        "module": np.asarray(lab),
        "participation_pos": ppos,
        "participation_neg": participation(g, lab, "negative"),
        "module_zscore": z,
        "role": node_roles(ppos, z),
    }
