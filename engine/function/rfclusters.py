"""Clustering of receptive fields by their EMD matrix, and the topology of each cluster.

Testolin et al.: "hierarchical clustering ... based on the Euclidean distances between all rows" of the EMD
matrix, optimal leaf order, dendrogram cut at 20 leaves; then, per cluster (a functional sub-graph), the mean,
std and coefficient of variation of ``k``, ``k⁺``, ``k⁻``, ``k_nn`` and ``s`` of its units, and Pearson
correlations (with p-values) of these across clusters; clusters under 10 units dropped. Degrees, strengths and
``k_nn`` come from ``deepcnt.degree`` / ``strength`` / ``knn`` on the whole (thresholded) graph.
"""
from dataclasses import dataclass

import numpy as np

from ..core.knn import knn
from ..core.strength import degree, strength
from ..errors import InputError, check_choice
from ..model.graph import takes_graph
from .receptive import dead_units, receptive_fields
from .stats import pearson_permutation
from .transport import rf_emd_matrix

METHODS = ("testolin", "linkage")
STATS = ("k", "k_pos", "k_neg", "knn", "s")


@dataclass(frozen=True)
class RFClustering:
    """Result of :func:`cluster_receptive_fields`.

    Attributes
    ----------
    Z : ndarray, shape (n−1, 4), scipy linkage matrix (optimal leaf order)
    order : ndarray, shape (n,), the leaves in dendrogram order
    labels : ndarray, shape (n,), cluster labels 1..k (``fcluster(Z, n_clusters, 'maxclust')``)
    distances : ndarray, shape (n(n−1)/2,), the condensed distances the tree was built on
    """

    Z: np.ndarray
    order: np.ndarray
    labels: np.ndarray
    distances: np.ndarray


def cluster_receptive_fields(D, method="testolin", n_clusters=20, linkage_method="average"):
    """Hierarchical clustering of units from their EMD matrix.

    .. math:: d^{\\mathrm{testolin}}_{ij} = \\lVert D_{i\\cdot} - D_{j\\cdot} \\rVert_2, \\qquad
              d^{\\mathrm{linkage}}_{ij} = D_{ij}

    Parameters
    ----------
    D : array, shape (n, n), symmetric EMD matrix with zero diagonal
    method : {"testolin", "linkage"}
        ``testolin``: Euclidean distances between the rows of ``D`` (Testolin et al.); ``linkage``: ``D`` itself.
    n_clusters : int, at most this many clusters (``fcluster(..., criterion="maxclust")``; Testolin: 20)
    linkage_method : str, scipy linkage method; ``average`` by default [unverified for the target paper].
        ``ward``/``centroid``/``median`` need Euclidean distances: only with ``method="testolin"``.

    Returns
    -------
    RFClustering

    Examples
    --------
    >>> D = np.array([[0, .1, 1.4, 1.3], [.1, 0, 1.37, 1.29], [1.4, 1.37, 0, .2], [1.3, 1.29, .2, 0]])
    >>> cluster_receptive_fields(D, "linkage", n_clusters=2).labels.tolist()
    [1, 1, 2, 2]
    """
    from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
    from scipy.spatial.distance import pdist, squareform

    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1] or D.shape[0] < 2:
        raise InputError(f"D must be a square distance matrix of at least 2 units, got shape {D.shape}")
    if not np.isfinite(D).all():
        raise InputError("D holds NaN or infinite values")
    if not np.allclose(D, D.T, rtol=1e-9, atol=1e-12) or (D < 0).any():
        raise InputError("D must be symmetric and non-negative")
    check_choice("method", method, METHODS)
    if not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1:
        raise InputError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if method == "testolin":
        d = pdist(D, metric="euclidean")
    else:
        if linkage_method in ("ward", "centroid", "median"):
            raise InputError(f"linkage_method={linkage_method!r} assumes Euclidean distances: not valid for EMD; "
                             "use 'average' or method='testolin'")
        d = squareform(D, checks=False)
    Z = linkage(d, method=linkage_method, optimal_ordering=True)
    return RFClustering(Z, leaves_list(Z), fcluster(Z, t=n_clusters, criterion="maxclust"), d)


def silhouette(D, labels):
    """Mean silhouette of a clustering on a distance matrix (Rousseeuw 1987): how much closer each unit is to
    its own cluster than to the nearest other one.

    .. math:: s_i = \\frac{b_i - a_i}{\\max(a_i, b_i)},\\quad a_i = \\overline{D_{ij}}_{j \\in c_i, j \\ne i},
              \\quad b_i = \\min_{c \\ne c_i} \\overline{D_{ij}}_{j \\in c}

    with ``s_i = 0`` for a unit alone in its cluster (and where ``a_i = b_i = 0``).

    Parameters
    ----------
    D : array, shape (n, n), symmetric distances with zero diagonal (e.g. the EMD matrix)
    labels : array, shape (n,), cluster of every unit

    Returns
    -------
    float in [−1, 1]; NaN with fewer than 2 clusters

    Examples
    --------
    >>> D = np.array([[0, .1, 1.4, 1.3], [.1, 0, 1.37, 1.29], [1.4, 1.37, 0, .2], [1.3, 1.29, .2, 0]])
    >>> round(silhouette(D, [1, 1, 2, 2]), 3)  # (0.926 + 0.925 + 0.856 + 0.846) / 4
    0.888
    """
    D = np.asarray(D, dtype=np.float64)
    ids, lab = np.unique(np.asarray(labels), return_inverse=True)
    if D.ndim != 2 or D.shape != (lab.size, lab.size):
        raise InputError(f"D has shape {D.shape} but there are {lab.size} labels")
    if ids.size < 2:
        return float("nan")
    onehot = np.zeros((lab.size, ids.size))
    onehot[np.arange(lab.size), lab] = 1.0
    sizes = onehot.sum(axis=0)
    sums = D @ onehot  # (n, C): distance of every unit to every cluster, summed
    own = sizes[lab] - 1
    a = np.where(own > 0, sums[np.arange(lab.size), lab] / np.maximum(own, 1), 0.0)
    mean = sums / sizes
    mean[np.arange(lab.size), lab] = np.inf
    b = mean.min(axis=1)
    top = np.maximum(a, b)
    s = np.where((own > 0) & (top > 0), (b - a) / np.where(top > 0, top, 1.0), 0.0)
    return float(s.mean())


def _node_metrics(g, layer, epoch, weighted_knn):
    sl = g.layer_slice(layer)
    cols = {"k": degree(g), "k_pos": degree(g, sign="positive"), "k_neg": degree(g, sign="negative"),
            "knn": knn(g, weighted=weighted_knn), "s": strength(g)}
    out = {}
    for name, v in cols.items():
        v = np.asarray(g.backend.to_numpy(v), dtype=np.float64)
        if g.stacked:
            if epoch is None:
                raise InputError("g is an epoch stack: pass epoch= to choose the epoch of the clustering")
            v = v[epoch]
        out[name] = v[sl]
    return out


@takes_graph(skips=True)
def cluster_statistics(g, layer, labels, epoch=None, min_size=10, weighted_knn=False, n_permutations=0, seed=0):
    """Per-cluster topology of a layer's units and Pearson correlations across clusters.

    For every cluster ``c`` of units of ``layer`` with at least ``min_size`` members and every statistic
    ``x ∈ {k, k⁺, k⁻, k_nn, s}`` (computed on the whole graph ``g``, with its threshold):

    .. math:: \\langle x \\rangle_c = \\frac{1}{|c|}\\sum_{i\\in c} x_i,\\quad
              \\sigma_c = \\mathrm{std}_{i\\in c}(x_i)\\ (\\mathrm{ddof}=0),\\quad \\mathrm{CV}_c = \\sigma_c / \\langle x\\rangle_c

    Parameters
    ----------
    g : LayeredGraph (thresholded as in the analysis; Testolin θ = 0.1), a chain or a block DAG (the statistics
        are over every block into or out of a node)
    layer : int, the layer whose units were clustered (1..L)
    labels : array, shape (n_layer,), cluster label of every unit
    epoch : int, required for an epoch stack
    min_size : int, clusters smaller than this are dropped (Testolin: 10)
    weighted_knn : bool, Barrat ``k_nn`` (``|w|``) instead of the binary one
    n_permutations : int, if > 0 the p-values are permutation p-values (:func:`deepcnt.pearson_permutation`)
        instead of scipy's t-test
    seed : int, seed of the permutations

    Returns
    -------
    table : dict of ndarray, one row per kept cluster: ``cluster``, ``size``, and ``<x>_mean``, ``<x>_std``,
        ``<x>_cv`` for every statistic (CV is NaN where the mean is 0)
    correlations : dict ``(x, y) -> (r, p)``, Pearson r of the cluster means of ``x`` and ``y`` and the
        two-sided p-value (NaN with fewer than 3 clusters or a constant column)
    """
    from scipy.stats import pearsonr

    if not isinstance(layer, (int, np.integer)) or not 0 <= layer < g.n_layers:
        raise InputError(f"layer must be an integer in 0..{g.n_layers - 1}, got {layer!r}")
    labels = np.asarray(labels)
    n = g.sizes[layer]
    if labels.shape != (n,):
        raise InputError(f"labels has shape {labels.shape} but layer {layer} has {n} units")
    metrics = _node_metrics(g, layer, epoch, weighted_knn)
    ids, sizes = np.unique(labels, return_counts=True)
    keep = ids[sizes >= min_size]
    table = {"cluster": keep, "size": sizes[sizes >= min_size]}
    for name in STATS:
        v = metrics[name]
        groups = [v[labels == c] for c in keep]
        mean = np.array([x.mean() for x in groups])
        std = np.array([x.std() for x in groups])
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(mean != 0, std / np.where(mean != 0, mean, 1.0), np.nan)
        table[f"{name}_mean"], table[f"{name}_std"], table[f"{name}_cv"] = mean, std, cv
    corr = {}
    for i, x in enumerate(STATS):
        for y in STATS[i + 1:]:
            a, b = table[f"{x}_mean"], table[f"{y}_mean"]
            if len(a) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
                if n_permutations:
                    corr[(x, y)] = pearson_permutation(a, b, n_permutations, seed=seed)
                else:
                    res = pearsonr(a, b)
                    corr[(x, y)] = (float(res.statistic), float(res.pvalue))
            else:
                corr[(x, y)] = (np.nan, np.nan)
    return table, corr


@takes_graph(skips=True)
def receptive_field_clusters(g, layer, shape, epoch=None, mode="pebbles", method="testolin", n_clusters=20,
                             emd="exact", min_size=10, n_jobs=None, progress=None, **options):
    """Testolin's whole analysis for one layer and epoch: receptive fields → EMD matrix → clusters → per-cluster
    topology.

    Parameters
    ----------
    g : LayeredGraph, thresholded as the topology should be measured (Testolin θ = 0.1); the receptive fields
        use the raw weights (on a block DAG, of every path from the input: :func:`receptive_fields`)
    layer : int, 1..L; shape : (h, w), the input image shape
    epoch : int, required for an epoch stack
    mode : RF → distribution mode (:func:`deepcnt.function.receptive.rf_distributions`, or ``"split"``); default
        Testolin's integer pebbles
    method, n_clusters : of :func:`cluster_receptive_fields`
    emd : {"exact", "sinkhorn"}
    min_size, n_jobs : of :func:`cluster_statistics` and the exact EMD
    progress : callable, optional
        ``progress(done, total)`` over the EMD pairs (:func:`deepcnt.transport.emd_pairs`)
    **options : passed to :func:`cluster_statistics` (``weighted_knn``, ``n_permutations``, ``seed``)

    Returns
    -------
    dict with ``rf`` (n, h·w), ``emd`` (n, n), ``clustering`` (:class:`RFClustering`), ``dead`` (groups of units
    with identical fields), ``table`` and ``correlations`` (of :func:`cluster_statistics`)
    """
    if g.stacked and epoch is None:
        raise InputError("g is an epoch stack: pass epoch= to choose the epoch of the analysis")
    rf = receptive_fields(g, layer, epoch=epoch if g.stacked else None)
    D = rf_emd_matrix(rf, shape, mode=mode, method=emd, n_jobs=n_jobs, progress=progress)
    cl = cluster_receptive_fields(D, method, n_clusters)
    table, corr = cluster_statistics(g, layer, cl.labels, epoch=epoch if g.stacked else None, min_size=min_size,
                                     **options)
    return {"rf": rf, "emd": D, "clustering": cl, "dead": dead_units(rf)[1], "table": table, "correlations": corr}
