"""Signed modularity of a partition and Louvain, on the block structure.

Negative-weight modes (``negative=``), each a faithful copy of a BCT objective:

============== ============================== ================================================================
mode           BCT name                       Q
============== ============================== ================================================================
``"asym"``     ``'sta'``, ``negative_asym``   ``Q⁺ − s1/(s0+s1)·Q⁻`` (Rubinov & Sporns 2011; Shine et al.)
``"sym"``      ``'gja'``, ``negative_sym``    ``(s0·Q⁺ − s1·Q⁻)/(s0+s1)`` (Gómez, Jensen & Arenas 2009)
``"smp"``      ``'smp'``                      ``Q⁺ − Q⁻``
``"positive_only"`` ``'pos'``                 ``Q⁺``: negative edges removed before Newman's Q
``"neg"``      ``'neg'``                      ``−Q⁻``
``"ignore"``   (none; igraph/NetworKit input) Newman's Q of ``|W|``: the sign is ignored
``"none"``     ``'modularity'``               Newman's Q of ``W`` as given; negative edges are an error
============== ============================== ================================================================

``Q±`` is Newman's Q of ``W±`` with the ``γ`` null model; ``s0``, ``s1`` are the total positive and negative
(magnitude) weight of the view. A term whose total weight is 0 is dropped, as BCT does. BCT's own names
(``'sta'``, ``'gja'``, ``'pos'``, ``'negative_asym'``, ...) are accepted as aliases.
Views: ``directed=False`` is the undirected (DBN) view ``W + Wᵀ``; ``directed=True`` is the feed-forward
matrix with Leicht–Newman's null model, symmetrised as MATLAB BCT does (it leaves Q unchanged).
``binary=True`` uses the masks ``A⁺``, ``A⁻`` in place of ``W⁺``, ``W⁻``.
"""
from collections import OrderedDict

import numpy as np

from ..core.strength import node_sums
from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.graph import takes_graph

_MODES = {
    "asym": "asym", "sta": "asym", "negative_asym": "asym",
    "sym": "sym", "gja": "sym", "negative_sym": "sym",
    "smp": "smp",
    "positive_only": "pos", "pos": "pos",
    "neg": "neg",
    "ignore": "abs", "abs": "abs",
    "none": "none", "modularity": "none",
}


def canonical_mode(negative):
    """The canonical name of a negative-weight mode (``asym``, ``sym``, ``smp``, ``pos``, ``neg``, ``abs``,
    ``none``); raises InputError for an unknown one."""
    try:
        return _MODES[negative]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown negative mode {negative!r}: use one of asym, sym, smp, positive_only, neg, ignore, none "
            "(BCT names sta, gja, pos, negative_asym, negative_sym, modularity are accepted)"
        ) from None


def check_labels(g, labels, name="labels"):
    """Validate a partition and relabel it to ``0..C-1`` per epoch.

    Returns
    -------
    lab : ndarray, shape (T, N), int64
    n_modules : ndarray, shape (T,), int64
    """
    N = g.n_nodes
    T = g.blocks[0].shape[0]
    a = np.asarray(g.backend.to_numpy(labels) if hasattr(labels, "shape") else labels)
    if a.dtype.kind not in "iub":
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise InputError(f"{name} must be integer module ids, got dtype {a.dtype}")
    if a.ndim == 1:
        if a.shape[0] != N:
            raise InputError(f"{name} has length {a.shape[0]} but the graph has {N} nodes")
        a = np.broadcast_to(a, (T, N))
    elif a.ndim != 2 or a.shape != (T, N) or not g.stacked:
        want = f"({N},)" + (f" or ({T}, {N})" if g.stacked else "")
        raise InputError(f"{name} has shape {a.shape}: expected {want}")
    lab = np.empty((T, N), np.int64)
    n_mod = np.empty(T, np.int64)
    for t in range(T):
        u, inv = np.unique(a[t], return_inverse=True)
        lab[t] = inv.reshape(-1)
        n_mod[t] = u.size
    return lab, n_mod


def _channels(g, binary):
    """Positive and negative channel sums (T, N) for in and out: (pin, pout, min, mout)."""
    s = node_sums(g)
    to = g.backend.to_numpy
    cp, cm = (0, 1) if binary else (2, 3)
    return to(s.in_sums[:, cp]), to(s.out_sums[:, cp]), to(s.in_sums[:, cm]), to(s.out_sums[:, cm])


def _mode_coefs(mode, s0, s1):
    """``(c0, c1)`` of ``Q = c0 ΣδB0 − c1 ΣδB1`` for one epoch's channel totals ``s0``, ``s1`` (``s0 + s1 > 0``);
    a channel of total 0 gets 0."""
    inv0 = 1.0 / s0 if s0 > 0 else 0.0
    inv1 = 1.0 / s1 if s1 > 0 else 0.0
    invt = 1.0 / (s0 + s1)
    c0 = (invt if s0 > 0 else 0.0) if mode == "sym" else 0.0 if mode == "neg" else inv0
    c1 = (invt if s1 > 0 else 0.0) if mode in ("asym", "sym") else inv1 if mode in ("smp", "neg") else 0.0
    return c0, c1


def _setup(g, mode, binary, directed, channels=None):
    """Per-epoch strengths of the two channels and the coefficients (c0, c1) of ``Q = c0 ΣδB0 − c1 ΣδB1``.

    Returns dict with arrays of shape (T, N): ``kin0, kout0, kin1, kout1``; (T,): ``s0, s1, c0, c1``.
    ``channels`` (pin, pout, nin, nout), each (T', N), replaces the graph's node sums when given.
    """
    pin, pout, nin, nout = _channels(g, binary) if channels is None else channels
    if mode == "abs":
        pin, pout, nin, nout = pin + nin, pout + nout, 0 * nin, 0 * nout
    elif mode == "none":
        if np.any(nout.sum(axis=1) > 0):
            raise InputError(
                "the graph has negative edges but negative='none' (BCT 'modularity') accepts none: "
                "use negative='asym' (BCT negative_asym) or 'ignore' (|w|)"
            )
    f = 1.0 if directed else 2.0
    s0 = f * pout.sum(axis=1)
    s1 = f * nout.sum(axis=1)
    if np.any(s0 + s1 <= 0):
        t = int(np.nonzero(s0 + s1 <= 0)[0][0])
        raise InputError(f"epoch {t} has no kept edges: modularity is undefined (lower the threshold)")
    if mode == "neg" and np.any(s1 <= 0):
        raise InputError("negative='neg' needs negative edges, and an epoch has none")
    c0, c1 = np.empty_like(s0), np.empty_like(s1)
    for t in range(s0.size):  # scalars: a few µs per epoch, where array expressions cost ~30 µs for one
        c0[t], c1[t] = _mode_coefs(mode, float(s0[t]), float(s1[t]))
    return dict(kin0=pin, kout0=pout, kin1=nin, kout1=nout, s0=s0, s1=s1, c0=c0, c1=c1)


def _within(g, lab, binary):
    """Within-module sums of the positive and negative channel, shape (T,) each (every edge once)."""
    be = g.backend
    xp = be.xp
    kern = be.kernel("communities").within_sums
    T = g.blocks[0].shape[0]
    o = g.offsets
    tot = np.zeros((T, 4))
    labd = xp.asarray(lab)
    for l, (i, j) in enumerate(g.pairs):
        W, th = g.kept_stack(l, "modularity")
        out = xp.zeros((T, 4))
        kern(W, xp.asarray(th, dtype=xp.float64), xp.ascontiguousarray(labd[:, o[i]:o[i + 1]]),
             xp.ascontiguousarray(labd[:, o[j]:o[j + 1]]), out)
        tot += be.to_numpy(out)
    cp, cm = (0, 1) if binary else (2, 3)
    return tot[:, cp], tot[:, cm]


@takes_graph(skips=True)
def modularity(g, labels, gamma=1.0, negative="asym", directed=False, binary=False):
    """Q of a given partition, in O(E + N) from block segment sums.

    .. math::
        Q = c_0 \\sum_{ij} B^{+}_{ij}\\delta_{ij} - c_1 \\sum_{ij} B^{-}_{ij}\\delta_{ij},\\qquad
        \\sum_{ij} B_{ij}\\delta_{ij} = \\sum_c \\Big[2e_c - \\gamma\\frac{K_c^2}{s}\\Big]\\ (\\text{undirected}),
        \\ \\sum_c \\Big[e_c - \\gamma\\frac{K^{out}_c K^{in}_c}{s}\\Big]\\ (\\text{directed})

    with ``e_c`` the within-module weight (each edge once), ``K_c`` the module strength and ``(c0, c1)`` set
    by the mode (module docstring), e.g. ``(1/s0, 1/(s0+s1))`` for ``asym``.

    Parameters
    ----------
    g : LayeredGraph
    labels : array, shape (N,) or (T, N)
        Module of every node (any integer ids).
    gamma : float
        Resolution γ of the null model.
    negative : str
        Negative-weight mode (module docstring).
    directed : bool
        Directed (feed-forward) view with the Leicht–Newman null model, else the undirected view.
    binary : bool
        Use the masks ``A⁺``, ``A⁻`` instead of the weights.

    Returns
    -------
    float, or ndarray of shape (T,) for an epoch stack

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[.5, -1], [2, .25]]), np.array([[1, -.5], [0, 1.5]])])
    >>> round(float(modularity(g, [0, 0, 0, 1, 0, 1])), 10)
    0.4909297052
    """
    mode = canonical_mode(negative)
    gamma = _check_gamma(gamma)
    lab, C = check_labels(g, labels)
    st = _setup(g, mode, binary, directed)
    e0, e1 = _within(g, lab, binary)
    if mode == "abs":
        e0, e1 = e0 + e1, 0 * e1
    elif mode == "none":
        e1 = 0 * e1
    T = lab.shape[0]
    q = np.empty(T)
    for t in range(T):
        parts = []
        for ch, e in (("0", e0[t]), ("1", e1[t])):
            s = st["s" + ch][t]
            if s <= 0:
                parts.append(0.0)
                continue
            kin = np.bincount(lab[t], st["kin" + ch][t], minlength=C[t])
            kout = np.bincount(lab[t], st["kout" + ch][t], minlength=C[t])
            if directed:
                parts.append(e - gamma * float(kout @ kin) / s)
            else:
                k = kin + kout
                parts.append(2.0 * e - gamma * float(k @ k) / s)
        q[t] = st["c0"][t] * parts[0] - st["c1"][t] * parts[1]
    return q if g.stacked else float(q[0])


def _check_gamma(gamma):
    try:
        gamma = float(gamma)
    except (TypeError, ValueError):
        raise InputError(f"gamma must be a number, got {gamma!r}") from None
    if not np.isfinite(gamma) or gamma < 0:
        raise InputError(f"gamma must be finite and >= 0, got {gamma!r}")
    return gamma


# ---------------------------------------------------------------------------------------------- Louvain
#: Epochs whose Louvain inputs (host copy of the blocks, level-0 graphs, null terms) each graph keeps, most
#: recently used first: the next run on one epoch starts at once, and a long epoch stack does not keep a copy
#: of every epoch.
EPOCHS_KEPT = 2
#: Null models (one per gamma, mode and view) an epoch's memo keeps, most recently used last: a sweep over
#: many resolutions keeps the level-0 graphs (a few, one per mode and view) but not every gamma's null terms.
PROBLEMS_KEPT = 4


def _epoch_memo(g, t):
    """The Louvain memo of epoch ``t`` (a dict), in a per-graph LRU of ``EPOCHS_KEPT`` epochs."""
    lru = g._cache.setdefault("louvain", OrderedDict())
    if t in lru:
        lru.move_to_end(t)
    else:
        lru[t] = {}
        while len(lru) > EPOCHS_KEPT:
            lru.popitem(last=False)
    return lru[t]


def _blocks_in_place(g):
    """Whether Louvain's level 0 reads the weight blocks in place (``_epoch_pass``): a chain of dense blocks.
    Otherwise (skip blocks, sparse/identity/diagonal blocks) it is the CSR matrix of every block
    (``_general_level0``)."""
    return g.is_chain and not any(isinstance(b, ImplicitBlock) for b in g.blocks)


def _louvain_channels(g, t, binary):
    """(pin, pout, nin, nout) of epoch ``t``, each (1, N): from the memoised node sums when present, else
    from the serial pass of ``_epoch_pass`` (no parallel region: it would cost more than the pass)."""
    if "sums" in g._cache or not _blocks_in_place(g):
        return tuple(c[t:t + 1] for c in _channels(g, binary))
    out, inn = _epoch_pass(g, t)["sums"]
    cp, cm = (0, 1) if binary else (2, 3)
    return inn[cp][None], out[cp][None], inn[cm][None], out[cm][None]


#: Level 0 reads the weight blocks in place (no edge list) when every block keeps at least this fraction
#: of its entries; otherwise it is a CSR matrix whose blocks are stored densely (explicit zeros) above this
#: fraction, sparsely below.
_DENSE_FILL = 0.5


def _epoch_pass(g, t):
    """Epoch ``t``'s host copy of the blocks and the mode-independent part of the level-0 graph, memoised
    (``_epoch_memo``): one kernel call (``level0_pass``) gives the channel sums (unless the node sums are
    memoised), the transposes when the blocks form applies (every block keeps at least ``_DENSE_FILL`` of its
    entries), the block offsets and every node's layer.

    Returns the memo, with ``"pass"``: ``(down, up, boff, off, layer, th, blocks_form)`` and ``"sums"``.
    """
    memo = _epoch_memo(g, t)
    if "pass" in memo:
        return memo
    # Louvain's kernels are loaded on first use (0.1 s), not by import deepcnt
    from ..kernels.cpu import louvain as klv

    o, n = np.array(g.offsets, np.int64), g.n_nodes
    # Louvain runs on the CPU for every backend (kernels.cpu.louvain.CPU_ONLY): a GPU graph's blocks are
    # copied to the host here, once per epoch, into one flat buffer that both level-0 forms read.
    to = g.backend.to_numpy
    blocks = [to(g.block_stack(l, "Louvain")[t]) for l in range(len(g.blocks))]
    dt = np.result_type(*[W.dtype for W in blocks], np.float32)
    down = np.concatenate([np.asarray(W, dtype=dt).ravel() for W in blocks])
    th = np.ascontiguousarray(g.theta[:, t], dtype=np.float64)
    out, inn = np.zeros((2, 4, n))
    known = "sums" in g._cache
    if known:  # the kept out-entries, for the fill test
        _, out[0], _, out[1] = (c[t] for c in _channels(g, True))
    dense, up, boff, layer = klv.level0_pass(down, o, th, not known, out, inn, _DENSE_FILL)
    memo["sums"] = None if known else (out, inn)
    memo["pass"] = (down, up, boff, o, layer, th, dense)
    return memo


def _level0_graph(g, t, coef):
    """The level-0 graph of epoch ``t`` (a ``BlocksGraph`` or a ``CSRGraph``, ``kernels.cpu.louvain.graph``)
    with the entries ``edge_rule``'s coefficients ``coef`` give."""
    # Louvain's kernels are loaded on first use (0.1 s), not by import deepcnt
    from ..kernels.cpu import louvain as klv

    if not _blocks_in_place(g):
        return _general_level0(g, t, coef)
    down, up, boff, o, layer, th, blocks_form = _epoch_pass(g, t)["pass"]
    if blocks_form:
        return klv.BlocksGraph(down, up, boff, o, layer, th, coef)
    n = g.n_nodes
    blocks = [down[boff[l]:boff[l + 1]].reshape(o[l + 1] - o[l], o[l + 2] - o[l + 1]) for l in range(boff.size - 1)]
    pin, pout, nin, nout = _louvain_channels(g, t, True)
    kept = pout[0] + nout[0]
    dense = [kept[o[l]:o[l + 1]].sum() / max(W.size, 1) >= _DENSE_FILL for l, W in enumerate(blocks)]
    cnt = np.zeros(n, np.int64)
    for l, W in enumerate(blocks):
        ns_, nt_ = W.shape
        if dense[l]:
            cnt[o[l]:o[l + 1]] += nt_
            cnt[o[l + 1]:o[l + 2]] += ns_
        else:
            klv.block_edge_counts(W, th[l], coef, cnt[o[l]:o[l + 1]], cnt[o[l + 1]:o[l + 2]])
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(cnt, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1])
    pos = indptr[:-1].copy()
    for l, W in enumerate(blocks):
        fill_block = klv.block_csr_fill_dense if dense[l] else klv.block_csr_fill
        fill_block(W, th[l], coef, o[l], o[l + 1], pos, indices, data)
    return klv.CSRGraph(indptr, indices, data)


def _general_level0(g, t, coef):
    """The level-0 ``CSRGraph`` of epoch ``t`` of any block DAG: every block (``LayeredGraph.kept_stack``:
    sparse, identity and diagonal blocks as dense stacks of their kept edges) filled at the offsets of its
    layer pair ``(i, j)``. Blocks are visited in the order of their pairs, so every row's ids ascend (as
    the chain's CSR form)."""
    from ..kernels.cpu import louvain as klv

    o, n = g.offsets, g.n_nodes
    to = g.backend.to_numpy
    blocks = []
    for l, (i, j) in enumerate(g.pairs):
        W, th = g.kept_stack(l, "Louvain", epoch=t)
        blocks.append((i, j, np.ascontiguousarray(to(W[0])), float(th[0])))
    cnt = np.zeros(n, np.int64)
    for i, j, W, th in blocks:
        klv.block_edge_counts(W, th, coef, cnt[o[i]:o[i + 1]], cnt[o[j]:o[j + 1]])
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(cnt, out=indptr[1:])
    indices = np.empty(indptr[-1], np.int32)
    data = np.empty(indptr[-1])
    pos = indptr[:-1].copy()
    for i, j, W, th in blocks:
        klv.block_csr_fill(W, th, coef, o[i], o[j], pos, indices, data)
    return klv.CSRGraph(indptr, indices, data)


def louvain_problem(g, t, gamma, mode, directed, binary):
    """The level-0 Louvain input of epoch ``t``: the graph ``A`` and the low-rank null terms.

    Returns ``(graph, X, Y, b)`` with ``B = A − Σ_r b_r X_r Y_rᵀ``, normalised so that
    ``Σ_ij B_ij δ_ij`` is Q itself; ``graph`` is a ``CSRGraph`` or a ``BlocksGraph``
    (``kernels.cpu.louvain.graph``). Memoised per epoch (``_epoch_memo``; graphs are immutable), so the next
    run on one graph starts at once: the graph per mode and view, the null terms of the ``PROBLEMS_KEPT`` most
    recent (gamma, mode, view).
    """
    # Louvain's kernels are loaded on first use (0.1 s), not by import deepcnt
    from ..kernels.cpu import louvain as klv

    memo = _epoch_memo(g, t)
    key = ("graph", mode, bool(directed), bool(binary))
    pkey = ("problem", mode, bool(directed), bool(binary), gamma)
    if pkey in memo:
        memo[pkey] = memo.pop(pkey)  # most recently used last
        return memo[pkey]
    st = _setup(g, mode, binary, directed, _louvain_channels(g, t, binary))
    c0, c1 = float(st["c0"][0]), float(st["c1"][0])
    if key not in memo:
        coef = klv.edge_rule(c0, c1, sign={"abs": "abs", "none": "as_is"}.get(mode, "signed"), binary=binary,
                             half=directed)  # the directed view's A = (W + Wᵀ)/2
        memo[key] = _level0_graph(g, t, coef)
    terms = []  # (X_r, Y_r, b_r)
    for ch, c in (("0", c0), ("1", -c1)):
        s = float(st["s" + ch][0])
        if c == 0 or s <= 0:
            continue
        kin, kout = st["kin" + ch][0], st["kout" + ch][0]
        if directed:
            terms += [(kout, kin, c * gamma / (2 * s)), (kin, kout, c * gamma / (2 * s))]
        else:
            k = kin + kout
            terms.append((k, k, c * gamma / s))
    n = g.n_nodes
    X, Y = np.empty((len(terms), n)), np.empty((len(terms), n))
    for r, (x, y, _) in enumerate(terms):
        X[r], Y[r] = x, y
    memo[pkey] = (memo[key], X, Y, np.array([br for _, _, br in terms], dtype=np.float64))
    problems = [k for k in memo if k[0] == "problem"]  # dicts keep their insertion order
    for k in problems[:-PROBLEMS_KEPT]:
        del memo[k]
    return memo[pkey]


_M64 = (1 << 64) - 1


def _splitmix64(x):
    """One step of SplitMix64 (Steele, Lea & Flood 2014) on a Python int: a bijective 64-bit mix."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def run_states(seed, runs, stream=0):
    """One non-zero uint64 xorshift state per run: SplitMix64 chained over ``seed`` (64 bits at a time),
    ``stream`` and the run index (~1 µs per run; ``SeedSequence`` cost 10-20 µs, 1-2% of a Louvain run)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    h, rest = 0, int(seed)
    while True:
        h = _splitmix64(h ^ (rest & _M64))
        rest >>= 64
        if not rest:
            break
    h = _splitmix64(h ^ int(stream))
    st = np.array([_splitmix64(h ^ r) for r in range(runs)], dtype=np.uint64)
    st[st == 0] = 1
    return st


def louvain_runs(problem, runs, seed, init=None, stream=0, refine=False):
    """``runs`` independent Louvain runs of one problem (the CPU kernel, runs spread over threads).

    ``refine``: runs seeded by ``init`` that can still move groups of nodes (:func:`louvain`'s ``refine``).

    Returns labels (runs, n) int64 and Q (runs,).
    """
    # Louvain's kernels are loaded on first use (0.1 s), not by import deepcnt
    from ..kernels.cpu import louvain as klv

    graph, X, Y, b = problem
    n = X.shape[1]
    if init is None and runs == 1:
        init = np.arange(n, dtype=np.int64)[None]
    else:
        init = np.arange(n, dtype=np.int64) if init is None else init
        init = np.ascontiguousarray(np.broadcast_to(np.asarray(init, np.int64), (runs, n)))
    labels = np.empty((runs, n), np.int64)
    q = np.empty(runs)
    klv.louvain_runs(graph, X, Y, b, init, run_states(seed, runs, stream), labels, q, refine)
    return labels, q


def seed_partitions(g, init):
    """``(chain, labels)`` of a Louvain ``init``: ``None`` (no seed), ``"previous"`` (each epoch seeded with the
    result of the one before: ``chain`` True) or a partition, checked, shape (T, N)."""
    chain = isinstance(init, str)
    if chain and init != "previous":
        raise InputError(f"init must be a partition or 'previous', got {init!r}")
    return chain, (None if (init is None or chain) else check_labels(g, init, "init")[0])


@takes_graph(skips=True)
def louvain(g, gamma=1.0, negative="asym", seed=0, init=None, directed=False, binary=False, refine=None):
    """Louvain community detection (Blondel et al. 2008) in BCT ``community_louvain`` form.

    Maximises the Q of :func:`modularity` with BCT's move rule ``dQ(u→c) = H[u,c] − H[u,a] + B_uu`` on the
    low-rank modularity matrix ``B = A − Σ_r b_r X_r Y_rᵀ`` (never N×N): random node order from ``seed``,
    moves accepted when ``dQ > 1e-10``, aggregation (with self-loops) while Q grows by ``> 1e-10``.
    The directed view optimises BCT's symmetrised ``(B + Bᵀ)/2``. Runs on the CPU for every backend.

    .. math:: Q = \\sum_{ij} B_{ij}\\,\\delta(c_i, c_j)

    Parameters
    ----------
    g : LayeredGraph
    gamma : float
    negative : str
        Negative-weight mode, as :func:`modularity`.
    seed : int
        The result is a deterministic function of the seed (and independent of the thread count).
    init : array of shape (N,) or (T, N), or "previous", optional
        Initial partition (BCT's ``ci``). ``"previous"`` seeds epoch ``t`` of a stack with the result of
        epoch ``t−1`` (Shine et al.'s temporal use); epoch 0 starts from singletons.
    directed, binary : bool
        As :func:`modularity`.
    refine : bool, optional
        A seeded run that can still move. BCT's seeded run only moves single nodes out of the seed's modules
        and merges modules: from a seed that is a local optimum (an earlier epoch's partition) it returns the
        seed, so a chain of epochs stays tied to its first partition. With ``refine``, rounds follow (as long
        as each raises Q by ``> 1e-10``) in which the nodes sharing a module both in the partition and in a
        fresh unseeded run form parts, and Louvain on the graph of the parts, started from the better of the
        two, moves whole parts between modules or alone (in the spirit of Leiden's refinement, Traag et al.
        2019). Q never ends below the seed's nor the fresh runs'; a run costs about two to three unseeded
        runs. Default: True for ``init="previous"``, False otherwise (BCT).

    Returns
    -------
    labels : ndarray, shape (N,) or (T, N), int64
        Modules ``0..C-1`` numbered in node order of first appearance.
    Q : float or ndarray of shape (T,)
        Equal to ``modularity(g, labels, ...)``.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.array([[.5, -1], [2, .25]]), np.array([[1, -.5], [0, 1.5]])])
    >>> labels, q = louvain(g)
    >>> labels.tolist(), round(q, 10)
    ([0, 0, 0, 1, 0, 1], 0.4909297052)
    """
    mode = canonical_mode(negative)
    gamma = _check_gamma(gamma)
    T = g.blocks[0].shape[0]
    chain, lab0 = seed_partitions(g, init)
    refine = chain if refine is None else bool(refine)
    labels = np.empty((T, g.n_nodes), np.int64)
    q = np.empty(T)
    for t in range(T):
        prob = louvain_problem(g, t, gamma, mode, directed, binary)
        start = lab0[t] if lab0 is not None else (labels[t - 1] if chain and t > 0 else None)
        lt, qt = louvain_runs(prob, 1, seed, start, refine=refine and start is not None)
        labels[t], q[t] = lt[0], qt[0]
    return (labels, q) if g.stacked else (labels[0], float(q[0]))
