"""Louvain's tuned kernels against the plain reference Louvain (same move rule, RNG and tie break, bit for bit),
its graph forms, scan strategies, memo and threads."""
import itertools

import numpy as np
import pytest

import deepcnt
from deepcnt.communities.modularity import louvain, modularity, run_states
from naive_communities import dense, louvain_ref, louvain_refined_ref, modularity_matrix, random_graph



def _reference_blocks(rng, seed):
    """Random blocks for the reference test: chains of 2-4 blocks, normal weights; every third seed sparse
    (30% of the entries: level 0 is a CSR matrix) and every fourth a wide first layer over 2-3 nodes (most
    nodes on the neighbours-only path with its bounds). Every node keeps a positive and a negative edge, so
    no node is isolated in any mode (see the test)."""
    if seed % 4 == 3:
        sizes = [int(rng.integers(120, 200)), int(rng.integers(2, 4)), int(rng.integers(4, 20))]
    else:
        sizes = [int(x) for x in rng.integers(3, 60, size=int(rng.integers(3, 6)))]
    blocks = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = rng.normal(size=(a, b))
        if seed % 3 == 2:
            W *= rng.random((a, b)) < 0.3
        for i in range(max(a, b)):
            W[i % a, i % b] = abs(W[i % a, i % b]) + 0.1
            W[(i + 1) % a, i % b] = -abs(W[(i + 1) % a, i % b]) - 0.1
        blocks.append(W)
    return blocks


@pytest.mark.parametrize("seed", range(16))
def test_louvain_matches_reference(seed):
    """``deepcnt.louvain`` equals the plain reference (``naive_communities.louvain_ref``: BCT's
    ``community_louvain`` on the dense N×N modularity matrix, the same xorshift node order from
    ``run_states``, the same move rule and level rule): the same labels, and Q to 1e-12.

    Where it cannot be equal to the bit, and why:

    * Q: the kernel reads Q off the last aggregated graph, whose entries after a dense sweep are node ×
      module sums updated move by move (``Hnm[v, a] −= A[u, v]``, ``Hnm[v, c] += A[u, v]``), and whose null
      term is low rank (``Σ b_t X_t Y_tᵀ``, never the N×N matrix); its scan evaluates ``h − x₀Y₀ − x₁Y₁``
      with contracted (fused multiply-add) arithmetic. The reference sums ``B`` afresh. They differ in the
      last bits only (measured: at most 2e-15, 75 of 384 cases equal to the bit), far below the move
      tolerance 1e-10, so no move differs.
    * ties: a gain equal to the bit between two candidates is broken by the lowest module id on the kernel's
      scan path, by the first neighbour in row order on its neighbours path, and its module ids are
      compacted and reused as it goes. The reference breaks ties by the lowest id in its own numbering.
      Exact ties need equal sums: binary weights; modules of isolated nodes (their gain equals "alone");
      and in the directed view the input layer (no in-strength, no edge between its nodes: ``B_uv = 0``
      exactly, so a module of input nodes ties with "alone"), likewise the output layer. So this test uses
      normal weights, keeps every node connected in every mode, and gives the directed view one input and
      one output node (binary weights are left to the tests against bctpy and the no-improving-move test).
    """
    rng = np.random.default_rng(4100 + seed)
    blocks = _reference_blocks(rng, seed)
    first, last = rng.normal(size=(1, blocks[0].shape[0])), rng.normal(size=(blocks[-1].shape[1], 1))
    for v in (first.reshape(-1), last.reshape(-1)):  # a positive and a negative edge each
        v[:2] = np.abs(v[:2]) + 0.1
        v[1] *= -1
    ends = [first] + blocks + [last]
    cases = [("asym", False, 1.0), ("sym", True, 1.0), ("smp", False, 0.7), ("pos", False, 1.0),
             ("neg", True, 1.0), ("abs", False, 1.0), ("abs", True, 1.3), ("none", False, 1.0)]
    for mode, directed, gamma in cases:
        bl = ends if directed else blocks
        h = deepcnt.LayeredGraph.from_weights([np.abs(W) for W in bl] if mode == "none" else bl)
        n = h.n_nodes
        B = modularity_matrix(dense(h, directed), mode, gamma, directed)
        for init in (None, rng.integers(0, int(rng.integers(2, 8)), n), rng.integers(0, n, n)):
            s = int(rng.integers(0, 1000))
            labels, q = louvain(h, gamma=gamma, negative=mode, seed=s, init=init, directed=directed)
            ref, q_ref = louvain_ref(B, init, run_states(s, 1)[0])
            np.testing.assert_array_equal(labels, ref, err_msg=f"{mode} directed={directed} init={init is not None}")
            assert q == pytest.approx(q_ref, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("seed", range(12))
def test_louvain_local_moving_leaves_no_improving_move(seed, monkeypatch):
    """After the local moving phase, no node has a move with dQ > 1e-10 (dQ from the dense N×N B): the
    bounds that let a node evaluate only its neighbours' modules (plus the ratio bound's outliers) never
    hide a better module. A wide first layer over a layer of 2-3 nodes keeps most nodes on that path to the
    end; odd seeds make the deeper blocks all negative, so that modules with no edge to a node attract it.
    (Checked: with both the full-scan fallback and the outliers removed, this fails.)"""
    import deepcnt.communities.modularity as com
    from deepcnt.communities.modularity import louvain_problem, run_states
    from deepcnt.kernels.cpu.louvain import moving

    rng = np.random.default_rng(950 + seed // 2)
    sizes = [int(rng.integers(150, 300)), int(rng.integers(2, 4))]
    sizes += [int(x) for x in rng.integers(4, 20, size=int(rng.integers(1, 3)))]
    blocks = [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    if seed % 2:
        blocks[1:] = [-3 * np.abs(W) for W in blocks[1:]]
    n = sum(sizes)
    for mode, directed in (("asym", False), ("sym", False), ("asym", True), ("abs", False)):
        monkeypatch.setattr(com, "_DENSE_FILL", 2.0)  # the CSR form, to read A from
        ip, ix, dv = louvain_problem(deepcnt.LayeredGraph.from_weights(blocks), 0, 1.0, mode, directed, False)[0]
        A = np.zeros((n, n))
        np.add.at(A, (np.repeat(np.arange(n), np.diff(ip)), ix), dv)
        monkeypatch.setattr(com, "_DENSE_FILL", 0.5)
        G, X, Y, b = louvain_problem(deepcnt.LayeredGraph.from_weights(blocks), 0, 1.0, mode, directed, False)
        assert type(G).__name__ == "BlocksGraph"
        B = A - (b[:, None] * X).T @ Y
        nonneg = bool(np.all(b >= 0) and np.all(X >= 0) and np.all(Y >= 0))
        # singletons, and a start of 4 modules (dense rows from the first sweep)
        for dense_ratio, part0 in itertools.product((0.0, 1.0), (np.arange(n), rng.integers(0, 4, n))):
            part = part0.copy()
            moving._local_moving(G, X, Y, b, part, run_states(seed, 1), nonneg, np.zeros(n), dense_ratio)
            M = np.zeros((n, part.max() + 2))
            M[np.arange(n), part] = 1.0  # (the last column: an empty module, "alone")
            H = B @ M
            own = H[np.arange(n), part]
            gain = H - own[:, None] + np.diag(B)[:, None]
            gain[np.arange(n), part] = -np.inf
            assert gain.max() <= 1e-10 + 1e-13, (mode, directed, dense_ratio, gain.max())


@pytest.mark.parametrize("seed", range(4))
def test_louvain_dense_mode_is_exact(seed):
    """The dense node × module mode (an N × C matrix of at most ``dense_max`` entries) must give the same
    partition as pure sparse sweeps, from singletons and from initial partitions (two runs of 5 modules: dense
    from the first sweep)."""
    from deepcnt.communities.modularity import louvain_problem, run_states
    from deepcnt.kernels.cpu.louvain import runs

    rng = np.random.default_rng(500 + seed)
    sizes = [int(x) for x in rng.integers(8, 30, size=4)]
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])])
    for mode, directed in (("asym", False), ("abs", True), ("sym", True)):
        prob = louvain_problem(g, 0, 1.0, mode, directed, False)
        n = g.n_nodes
        init = np.concatenate([np.arange(n)[None], rng.integers(0, 5, (2, n))])
        out = []
        for dense_ratio in (0.0, 1.0, 1e9):
            lab, q = np.empty((3, n), np.int64), np.empty(3)
            runs._louvain_serial(*prob, init, run_states(seed, 3), False, lab, q, dense_ratio, False)
            out.append((lab, q))
        for lab, q in out[1:]:
            np.testing.assert_array_equal(lab, out[0][0])
            np.testing.assert_allclose(q, out[0][1], atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_louvain_level0_build_kernels(seed):
    """The serial channel sums equal node_sums; a block stored densely gives the same CSR matrix as the
    sparse fill (its dropped entries as explicit zeros)."""
    import scipy.sparse as sp

    from deepcnt.kernels.cpu import louvain as klg

    g, rng = random_graph(600 + seed, max_width=12)
    s = deepcnt.node_sums(g)
    o, n = g.offsets, g.n_nodes
    out, inn = np.zeros((4, n)), np.zeros((4, n))
    for l, blk in enumerate(g.blocks):
        klg.block_channel_sums(np.ascontiguousarray(blk[0]), float(g.theta[l, 0]), False, out[:, o[l]:o[l + 1]],
                               inn[:, o[l + 1]:o[l + 2]])
    np.testing.assert_allclose(out, s.out_sums[0], atol=1e-12)
    np.testing.assert_allclose(inn, s.in_sums[0], atol=1e-12)
    rules = [dict(), dict(sign="abs"), dict(sign="as_is"), dict(binary=True), dict(half=True),
             dict(sign="abs", binary=True, half=True)]
    for rule in rules:
        c0, c1 = rng.random(), rng.random()
        coef = klg.edge_rule(c0, c1, **rule)
        mats = []
        for full in (False, True):
            cnt = np.zeros(n, np.int64)
            for l, blk in enumerate(g.blocks):
                if full:
                    cnt[o[l]:o[l + 1]] += blk.shape[2]
                    cnt[o[l + 1]:o[l + 2]] += blk.shape[1]
                else:
                    klg.block_edge_counts(blk[0], float(g.theta[l, 0]), coef, cnt[o[l]:o[l + 1]],
                                          cnt[o[l + 1]:o[l + 2]])
            ip = np.r_[0, np.cumsum(cnt)]
            ix, dv, pos = np.empty(ip[-1], np.int32), np.empty(ip[-1]), ip[:-1].copy()
            fill = klg.block_csr_fill_dense if full else klg.block_csr_fill
            for l, blk in enumerate(g.blocks):
                fill(np.ascontiguousarray(blk[0]), float(g.theta[l, 0]), coef, o[l], o[l + 1], pos, ix, dv)
            assert np.array_equal(pos, ip[1:])
            mats.append(sp.csr_matrix((dv, ix, ip), shape=(n, n)).toarray())
        np.testing.assert_array_equal(mats[0], mats[1])
        want = np.zeros((n, n))  # the rule written out: c0·w / c1·w by sign, |w|, or w; ±1; halved
        for l, blk in enumerate(g.blocks):
            w = np.asarray(blk[0], np.float64)
            kept = np.abs(w) > g.theta[l, 0]
            if rule.get("binary"):
                w = np.sign(w)
            sign = rule.get("sign", "signed")
            v = c0 * np.abs(w) if sign == "abs" else c0 * w if sign == "as_is" else np.where(w > 0, c0 * w, c1 * w)
            v = np.where(kept, v * (0.5 if rule.get("half") else 1.0), 0.0)
            want[o[l]:o[l + 1], o[l + 1]:o[l + 2]] = v
            want[o[l + 1]:o[l + 2], o[l]:o[l + 1]] = v.T
        np.testing.assert_array_equal(mats[0], want)
    with pytest.raises(ValueError, match="sign must be one of"):
        klg.edge_rule(1.0, 1.0, sign="negative")


@pytest.mark.parametrize("seed", range(6))
def test_louvain_graph_forms_agree(seed, monkeypatch):
    """Level 0 read from the weight blocks in place equals level 0 from the CSR edge list (the same values in
    the same order): the same partitions and Q, for every mode, threshold and an initial partition."""
    import deepcnt.communities.modularity as com

    rng = np.random.default_rng(700 + seed)
    sizes = [int(x) for x in rng.integers(3, 40, size=int(rng.integers(2, 5)))]
    dtype = [np.float32, np.float64][seed % 2]
    blocks = [rng.normal(size=(a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    theta = 0.3 if seed >= 3 else 0.0  # N(0, 1): about 76% of the entries kept, so the blocks form applies
    kws = [dict(), dict(negative="ignore", directed=True), dict(negative="sym", binary=True), dict(gamma=0.7),
           dict(init=rng.integers(0, 5, sum(sizes)))]
    out = {}
    for fill, form in ((0.5, "BlocksGraph"), (2.0, "CSRGraph")):  # blocks form / always the CSR
        monkeypatch.setattr(com, "_DENSE_FILL", fill)
        res = []
        for kw in kws:
            g = deepcnt.LayeredGraph.from_weights(blocks).threshold(theta)
            res.append(louvain(g, seed=seed, **kw))
            memo = g._cache["louvain"][0]
            assert type(memo[next(k for k in memo if k[0] == "graph")]).__name__ == form
        out[fill] = res
    for (la, qa), (lb, qb) in zip(out[0.5], out[2.0]):
        np.testing.assert_array_equal(la, lb)
        assert qa == pytest.approx(qb, abs=1e-12)


def test_louvain_dense_scan_max_then_first():
    """A dense sweep takes the max without storing the values (``_max_row_rank2``), then recomputes them to find
    the first module reaching it (``_first_max_row_rank2``): the same module as ``_scan_row_rank2`` +
    ``_first_max``, to the bit, for every length (vector body and remainder) and with ties."""
    from deepcnt.kernels.cpu.louvain import scan

    rng = np.random.default_rng(42)
    for m in list(range(1, 70)) + [113, 257, 995]:
        for _ in range(20):
            h = rng.normal(size=(3, m + 5)) * 1e-3
            ysum = np.abs(rng.normal(size=(2, m + 5)))
            xb = rng.normal(size=2) * 1e-4
            if rng.random() < 0.3:  # ties: repeated columns
                k = rng.integers(0, m, 2)
                h[:, k[1]], ysum[:, k[1]] = h[:, k[0]], ysum[:, k[0]]
            buf = np.empty(m + 5)
            v = scan._scan_row_rank2(h, 1, ysum, xb, m, buf, False)
            assert scan._max_row_rank2(h, 1, ysum, xb, m) == v
            assert scan._first_max_row_rank2(h, 1, ysum, xb, m, v) == scan._first_max(buf, m, v)


@pytest.mark.parametrize("seed", range(6))
def test_louvain_dense_rows_built_at_once(seed, monkeypatch):
    """``_dense_rows`` (every dense row ``Hnm[u, c] = A[u, c]`` at once, blocks form) equals ``A E`` from the CSR
    form's dense ``A`` (1e-12), and equals the rows built one by one with ``_scatter`` to the bit; columns from
    ``hi`` up are 0. Thresholds, both dtypes, directed and binary views."""
    import scipy.sparse as sp
    from numba import njit

    import deepcnt.communities.modularity as com
    from deepcnt.kernels.cpu.louvain import access, dense_rows

    @njit
    def at_once(G, part, Hnm, hi, work):
        return dense_rows._dense_rows(G, part, Hnm, hi, work)

    @njit
    def one_by_one(G, part, Hnm):
        for u in range(Hnm.shape[0]):
            access._scatter(G, part, u, Hnm, u, 1)

    rng = np.random.default_rng(1100 + seed)
    sizes = [int(x) for x in rng.integers(3, 30, size=int(rng.integers(2, 6)))]
    dtype = [np.float32, np.float64][seed % 2]
    blocks = [rng.normal(size=(a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    g0 = deepcnt.LayeredGraph.from_weights(blocks)
    n = g0.n_nodes
    for theta, mode, directed, binary in ((0.0, "asym", False, False), (0.3, "sym", True, False),
                                          (0.3, "abs", False, True)):
        graphs = []
        for fill in (0.5, 2.0):  # blocks form / CSR
            monkeypatch.setattr(com, "_DENSE_FILL", fill)
            g = g0.threshold(theta) if theta else deepcnt.LayeredGraph.from_weights(blocks)
            graphs.append(com.louvain_problem(g, 0, 1.0, mode, directed, binary)[0])
        G, csr = graphs
        assert type(G).__name__ == "BlocksGraph" and type(csr).__name__ == "CSRGraph"
        A = sp.csr_matrix((csr[2], csr[1], csr[0]), shape=(n, n)).toarray()
        for hi in (1, 7, n):
            part = rng.integers(0, hi, n)
            cap = min(n + 1, hi + 9)
            Hnm = np.full((n, cap), np.nan)
            work = np.full(n * max(sizes), np.nan)  # _dense_work's size
            assert at_once(G, part, Hnm, hi, work)
            assert not at_once(csr, part, np.zeros((n, cap)), hi, work)
            E = np.zeros((n, cap))
            E[np.arange(n), part] = 1.0
            np.testing.assert_allclose(Hnm, A @ E, rtol=0, atol=1e-12)
            ref = np.zeros((n, cap))
            one_by_one(G, part, ref)
            np.testing.assert_array_equal(Hnm, ref)


def test_louvain_memo_keeps_few_epochs():
    """The Louvain inputs memoised per graph (host copy of the blocks, level-0 graphs, null terms) are kept
    for the ``EPOCHS_KEPT`` most recent epochs only; results do not depend on what is memoised. (Before, every
    epoch of a stack stayed memoised.)"""
    import deepcnt.communities.modularity as com

    rng = np.random.default_rng(5)
    W = [rng.normal(size=(5, 8, 6)), rng.normal(size=(5, 6, 4))]
    g = deepcnt.LayeredGraph.from_weights(W)
    labels, q = louvain(g, seed=2)
    assert list(g._cache["louvain"]) == [3, 4] and com.EPOCHS_KEPT == 2
    for t in range(5):
        lt, qt = louvain(g.epoch(t), seed=2)
        np.testing.assert_array_equal(lt, labels[t])
        assert qt == q[t]
    assert louvain(g, seed=2)[1].tolist() == q.tolist()


def test_louvain_memo_keeps_few_null_models():
    """Within an epoch's memo, a sweep over resolutions keeps the null terms of the ``PROBLEMS_KEPT`` most
    recent gammas only (the level-0 graph once); results do not depend on what is memoised. (Before, every
    gamma's null terms stayed memoised: checked failing.)"""
    import deepcnt.communities.modularity as com

    rng = np.random.default_rng(6)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(12, 8)), rng.normal(size=(8, 5))])
    gammas = [0.5 + 0.1 * k for k in range(com.PROBLEMS_KEPT + 3)]
    first = [louvain(g, gamma=gm, seed=1) for gm in gammas]
    memo = g._cache["louvain"][0]
    assert sum(k[0] == "problem" for k in memo) == com.PROBLEMS_KEPT
    assert sum(k[0] == "graph" for k in memo) == 1
    assert ("problem", "asym", False, False, gammas[-1]) in memo
    for gm, (lab, q) in zip(gammas, first):
        lab2, q2 = louvain(g, gamma=gm, seed=1)
        np.testing.assert_array_equal(lab2, lab)
        assert q2 == q


def test_louvain_runs_independent_of_threads():
    """Many runs are split over threads in contiguous chunks; every run keeps its own random stream, so the
    result does not depend on the thread count."""
    import numba

    from deepcnt.communities.modularity import louvain_problem, louvain_runs

    rng = np.random.default_rng(11)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(25, 12)), rng.normal(size=(12, 7))])
    prob = louvain_problem(g, 0, 1.0, "asym", False, False)
    old = numba.get_num_threads()
    try:
        out = []
        for k in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(k)
            out.append(louvain_runs(prob, 7, seed=3))
    finally:
        numba.set_num_threads(old)
    for lab, q in out[1:]:
        np.testing.assert_array_equal(lab, out[0][0])
        np.testing.assert_array_equal(q, out[0][1])
    lab, q = out[0]
    assert len({tuple(x) for x in lab}) >= 2  # the runs differ from each other
    for r in range(7):
        assert q[r] == pytest.approx(modularity(g, lab[r]), abs=1e-9)


def test_louvain_without_null_terms():
    """negative='positive_only' on a graph with no positive edge: A = 0 and no null term (rank 0), so every
    node stays alone and Q = 0 (run with bounds checks: rank 0 must not read a null vector)."""
    rng = np.random.default_rng(12)
    g = deepcnt.LayeredGraph.from_weights([-np.abs(rng.normal(size=(5, 4))), -np.abs(rng.normal(size=(4, 3)))])
    labels, q = louvain(g, negative="positive_only")
    assert labels.tolist() == list(range(g.n_nodes)) and q == 0.0
    assert modularity(g, labels, negative="positive_only") == 0.0


@pytest.mark.parametrize("seed", range(6))
def test_refined_louvain_matches_reference(seed):
    """``louvain(init=..., refine=True)`` equals the plain reference (``naive_communities.
    louvain_refined_ref``: BCT's seeded run, then refinement rounds on the dense N×N modularity matrix, one
    xorshift stream throughout): the same labels, Q to 1e-12, and never below the seed's Q. The graphs and
    their caveats are ``test_louvain_matches_reference``'s."""
    rng = np.random.default_rng(7300 + seed)
    blocks = _reference_blocks(rng, seed)
    h = deepcnt.LayeredGraph.from_weights(blocks)
    n = h.n_nodes
    for mode, gamma in (("asym", 1.0), ("sym", 1.0), ("abs", 1.3)):
        B = modularity_matrix(dense(h, False), mode, gamma, False)
        free, _ = louvain(h, gamma=gamma, negative=mode, seed=seed)
        for init in (np.zeros(n, np.int64), rng.integers(0, 3, n), free, rng.integers(0, n, n)):
            s = int(rng.integers(0, 1000))
            labels, q = louvain(h, gamma=gamma, negative=mode, seed=s, init=init, refine=True)
            ref, q_ref = louvain_refined_ref(B, init, run_states(s, 1)[0])
            np.testing.assert_array_equal(labels, ref, err_msg=f"{mode} init={init[:6]}")
            assert q == pytest.approx(q_ref, rel=1e-12, abs=1e-14)
            assert q >= modularity(h, init, gamma, mode) - 1e-12
