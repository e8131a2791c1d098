"""Slow, obviously correct references for communities and roles: dense N×N numpy straight from the formulas
of spec §5.1 and §6 (MATLAB BCT semantics), independent of deepcnt's kernels."""
import numpy as np

from deepcnt import LayeredGraph
from naive import random_blocks


def dense(g, directed, weight="net"):
    """The N×N matrix of the kept edges, from deepcnt's exporter (the view BCT and networkx are given)."""
    return g.to_scipy(directed=directed, sign=weight).toarray()


def random_graph(seed, max_width=7, signed=True):
    """A random chain of blocks (``naive.random_blocks``), |w| when not ``signed``, thresholded at 0.3 one time
    in three; returns the graph and its generator."""
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng, max_width=max_width)
    if not signed:
        blocks = [np.abs(b) for b in blocks]
    g = LayeredGraph.from_weights(blocks)
    theta = float(rng.choice([0.0, 0.0, 0.3]))
    if theta and any((np.abs(b) > theta).any() for b in blocks):
        g = g.threshold(theta)
    return g, rng


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


# ----------------------------------------------------------------------------------- reference Louvain
_BCT_COEFS = {  # (c0, c1) of Q = c0 Q⁺ − c1 Q⁻ from the totals s0, s1 (a channel of total 0 is dropped)
    "asym": lambda s0, s1: (_inv(s0), _inv(s0 + s1) if s1 > 0 else 0.0),
    "sym": lambda s0, s1: (_inv(s0 + s1) if s0 > 0 else 0.0, _inv(s0 + s1) if s1 > 0 else 0.0),
    "smp": lambda s0, s1: (_inv(s0), _inv(s1)),
    "pos": lambda s0, s1: (_inv(s0), 0.0),
    "neg": lambda s0, s1: (0.0, _inv(s1)),
    "abs": lambda s0, s1: (_inv(s0), 0.0),
    "none": lambda s0, s1: (_inv(s0), 0.0),
}


def _inv(x):
    return 1.0 / x if x > 0 else 0.0


def modularity_matrix(W, mode="asym", gamma=1.0, directed=False):
    """BCT's N×N modularity matrix of a dense weight matrix, normalised so that ``Σ_ij B_ij δ_ij`` is Q.

    ``W``: the undirected view (symmetric) or, with ``directed``, the feed-forward matrix, whose ``B`` is
    symmetrised as MATLAB's ``community_louvain`` does (``(B + Bᵀ)/2``, Q unchanged).
    """
    if mode in ("abs", "none"):
        W0, W1 = (np.abs(W) if mode == "abs" else W), np.zeros_like(W)
    else:
        W0, W1 = np.maximum(W, 0), np.maximum(-W, 0)
    c0, c1 = _BCT_COEFS[mode](W0.sum(), W1.sum())

    def newman(M):
        s = M.sum()
        return M - gamma * np.outer(M.sum(1), M.sum(0)) / s if s > 0 else 0.0 * M

    B = c0 * newman(W0) - c1 * newman(W1)
    return (B + B.T) / 2 if directed else B


class XorShift64:
    """The node-order stream of deepcnt's Louvain: xorshift64 (13, 7, 17) from a non-zero uint64 state."""

    def __init__(self, state):
        self.x = int(state)

    def next(self):
        m = (1 << 64) - 1
        self.x ^= (self.x << 13) & m
        self.x ^= self.x >> 7
        self.x ^= (self.x << 17) & m
        return self.x

    def shuffle(self, perm):
        """Fisher–Yates from the end, in place: swap ``perm[i]`` with ``perm[next() mod (i+1)]``."""
        for i in range(len(perm) - 1, 0, -1):
            j = self.next() % (i + 1)
            perm[i], perm[j] = perm[j], perm[i]


def first_appearance(labels):
    """Labels renumbered ``0..C-1`` in order of first appearance."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[inv.reshape(-1)]


def local_moving(B, labels, rng, tol=1e-10, max_sweeps=1000):
    """BCT's local moving phase on a dense modularity matrix, in place on ``labels``.

    Sweeps visit the nodes in an order shuffled (in place, sweep after sweep) from ``arange(n)``. Node ``u``
    in module ``a`` may move to any module ``c`` (an empty one: alone) with the gain
    ``dQ = H[u, c] − H[u, a] + B[u, u]``, ``H[u, c] = Σ_{v ∈ c} B[u, v]``; it takes the largest if it is
    ``> tol``. Sweeps repeat until one moves nothing.
    """
    n = B.shape[0]
    perm = list(range(n))
    for _ in range(max_sweeps):
        rng.shuffle(perm)
        moved = 0
        for u in perm:
            a = labels[u]
            H = np.bincount(labels, weights=B[u], minlength=n + 1)  # id n: always empty (alone)
            gain = H - H[a] + B[u, u]
            gain[a] = -np.inf
            c = int(np.argmax(gain))
            if gain[c] > tol:
                labels[u] = c
                moved += 1
        if moved == 0:
            return


def louvain_ref(B, init=None, state=1, tol=1e-10):
    """Plain Louvain (BCT ``community_louvain``) on a dense modularity matrix.

    The same rules as deepcnt's kernel: the node order from ``XorShift64(state)`` (one stream through all
    levels), BCT's move rule (``local_moving``), then aggregation ``B ← EᵀBE`` while a level raises
    ``Q = trace(B)`` by more than ``tol``.

    Returns
    -------
    labels : ndarray, shape (n,), int64
        Modules ``0..C-1`` in order of first appearance.
    q : float
        ``Σ_ij B_ij δ(c_i, c_j)``.
    """
    return _louvain(B, init, XorShift64(state), tol)


def _louvain(B, init, rng, tol):
    """``louvain_ref`` drawing its node orders from the stream ``rng``."""
    n = B.shape[0]
    ci = first_appearance(np.arange(n) if init is None else init)
    q0 = float(B[ci[:, None] == ci[None, :]].sum())
    Bl, M = B, ci.copy()  # this level's matrix and partition of its nodes (level 0: the nodes)
    for level in range(n):
        local_moving(Bl, M, rng, tol)
        M = first_appearance(M)
        ci = M if level == 0 else M[ci]
        E = np.zeros((M.size, M.max() + 1))
        E[np.arange(M.size), M] = 1.0
        Bl = E.T @ Bl @ E  # the modules as the next level's nodes
        q = float(np.trace(Bl))
        if q - q0 <= tol:
            return first_appearance(ci), q
        q0, M = q, np.arange(Bl.shape[0])


def louvain_refined_ref(B, init, state=1, tol=1e-10):
    """A seeded Louvain run that can still move groups of nodes, plainly (what ``deepcnt.louvain`` does with
    ``refine=True``).

    One node-order stream throughout: BCT's seeded run from ``init`` (``louvain_ref``); then, while Q grows by
    more than ``tol``: a fresh unseeded run; the better of the two partitions (the current one on a tie) is
    refined: the parts are the nodes sharing a module in both, and Louvain runs on ``EᵀBE`` (E: the parts)
    from the better partition of the parts.
    """
    rng = XorShift64(state)
    n = B.shape[0]
    labels, q = _louvain(B, init, rng, tol)
    while True:
        fresh, qf = _louvain(B, None, rng, tol)
        if qf - q > tol:
            labels, fresh, q = fresh, labels, qf
        parts = first_appearance(labels * n + fresh)
        P = parts.max() + 1
        if P == n:
            return labels, q
        E = np.zeros((n, P))
        E[np.arange(n), parts] = 1.0
        start = np.empty(P, np.int64)
        start[parts] = labels
        coarse, q2 = _louvain(E.T @ B @ E, start, rng, tol)
        if q2 - q <= tol:
            return labels, q
        labels, q = first_appearance(coarse[parts]), q2
