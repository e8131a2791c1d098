"""Slow, obviously correct references for communities and roles: dense N×N numpy straight from the formulas
of spec §5.1 and §6 (MATLAB BCT semantics), independent of deepcnt's kernels."""
import numpy as np


def dense(g, directed, weight="net"):
    """The N×N matrix of the kept edges, from deepcnt's exporter (the view BCT and networkx are given)."""
    return g.to_scipy(directed=directed, weight=weight).toarray()


def newman_sum(W, ci, gamma=1.0):
    """Σ_ij (W − γ kout kinᵀ / s)_ij δ(c_i, c_j) of a non-negative matrix (0 when s = 0)."""
    s = W.sum()
    if s == 0:
        return 0.0
    B = W - gamma * np.outer(W.sum(1), W.sum(0)) / s
    same = ci[:, None] == ci[None, :]
    return float(B[same].sum())


def signed_q(W, ci, mode, gamma=1.0):
    """Q of BCT's signed objectives on a dense (possibly asymmetric) signed matrix (spec §5.1)."""
    ci = np.asarray(ci)
    if mode == "abs":
        W0, W1 = np.abs(W), np.zeros_like(W)
    elif mode == "none":
        W0, W1 = W, np.zeros_like(W)
    else:
        W0, W1 = np.maximum(W, 0), np.maximum(-W, 0)
    s0, s1 = W0.sum(), W1.sum()
    q0, q1 = newman_sum(W0, ci, gamma), newman_sum(W1, ci, gamma)
    inv = lambda x: 1.0 / x if x > 0 else 0.0  # noqa: E731
    c0, c1 = {
        "asym": (inv(s0), inv(s0 + s1) if s1 > 0 else 0.0),
        "sym": (inv(s0 + s1) if s0 > 0 else 0.0, inv(s0 + s1) if s1 > 0 else 0.0),
        "smp": (inv(s0), inv(s1)), "pos": (inv(s0), 0.0), "neg": (0.0, inv(s1)),
        "abs": (inv(s0), 0.0), "none": (inv(s0), 0.0),
    }[mode]
    return c0 * q0 - c1 * q1


def participation_ref(W, ci):
    """Guimerà–Amaral P from the rows of a non-negative W: 1 − Σ_c (κ_ic/κ_i)², 0 where κ_i = 0."""
    ci = np.asarray(ci)
    k = W.sum(1)
    kc = np.stack([W[:, ci == c].sum(1) for c in np.unique(ci)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        P = 1.0 - (kc ** 2).sum(1) / k ** 2
    P[k == 0] = 0.0
    return P


def zscore_ref(W, ci, ddof=1):
    """Within-module degree z-score of the rows of W (MATLAB BCT with ddof=1); NaN → 0."""
    ci = np.asarray(ci)
    Z = np.zeros(len(ci))
    for c in np.unique(ci):
        idx = np.nonzero(ci == c)[0]
        k = W[np.ix_(idx, idx)].sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            Z[idx] = (k - k.mean()) / k.std(ddof=ddof) if len(idx) > ddof else np.nan
    Z[np.isnan(Z)] = 0.0
    return Z


def agreement_ref(labels):
    labels = np.asarray(labels)
    D = sum((l[:, None] == l[None, :]).astype(float) for l in labels)
    np.fill_diagonal(D, 0.0)
    return D


def random_partition(rng, n, k=None):
    k = k or int(rng.integers(1, max(2, n // 2) + 1))
    return rng.integers(0, k, size=n)
