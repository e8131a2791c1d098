"""Motifs and communities on block DAGs (issue 15): checked against the explicit N×N graph of random block DAGs
with skips, sparse blocks, identities and diagonals (brute-force enumeration, dense numpy formulas)."""
import itertools

import numpy as np
import pytest

import deepcnt
from deepcnt import LayeredGraph
from deepcnt.motifs import classes as mc
from deepcnt.motifs.counts import count_codes, edge_code_blocks
from deepcnt.motifs.dag import dag_census3, dag_expected3
from deepcnt.communities.consensus import consensus_und
from deepcnt.communities.modularity import run_states
from naive_communities import (agreement_ref, louvain_ref, modularity_matrix, participation_ref, signed_q,
                               zscore_ref)
from naive_motifs import brute_census, brute_participation, colour_matrix_digraph
from test_dag import explicit, random_dag


def _has_triangle(pairs):
    return any((p, r) in pairs for p, q in pairs for q2, r in pairs if q2 == q)


def _dag(seed, T=None, theta=(0.0, 0.3, 1.0), max_nodes=26):
    """A random block DAG with a layer triangle (a skip that closes a path of blocks, so feed-forward loops
    can occur) and at most ``max_nodes`` nodes (brute force stays fast), a random threshold per block, and
    its explicit matrices per epoch."""
    rng = np.random.default_rng(seed)
    while True:
        sizes, blocks, ref, _ = random_dag(rng, T=T)
        if sum(sizes) <= max_nodes and _has_triangle(set(blocks)):
            break
    g = LayeredGraph.from_blocks(sizes, blocks)
    g = g.threshold(rng.choice(theta, size=g.n_blocks))
    mats = [explicit(sizes, ref, g.pairs, g.theta[:, t], t) for t in range(g.n_epochs or 1)]
    return g, mats


def _brute3(C, k, signed, lowest=0, layer_of=None):
    """Brute-force 3-node census of the colour matrix ``C`` restricted to layers >= ``lowest``."""
    if lowest:
        keep = layer_of >= lowest
        C = C[np.ix_(keep, keep)]
    want = brute_census(None, k, signed, sizes=(3,), graph=colour_matrix_digraph(C))
    assert "other" not in want  # every connected 3-node subgraph of a DAG is one of the four shapes
    return want


@pytest.mark.parametrize("seed", range(10))
def test_dag_motifs3_against_brute_force(seed):
    g, mats = _dag(600 + seed, T=[None, 2][seed % 2])
    for signed in (False, True):
        res = deepcnt.motifs(g, size=3, signed=signed)
        assert set(mc.parse_name(n, res.symbols)[0] for n in res.classes) == set(mc.SHAPES_3 if g.is_chain else mc.SHAPES_3_DAG)
        for t, A in enumerate(mats):
            C = (A != 0) * (1 + (signed & (A < 0)))
            want = _brute3(C, 2 if signed else 1, signed)
            got = {n: int(np.atleast_1d(res[n])[t]) for n in res.classes}
            assert got == {n: want.get(n, 0) for n in res.classes}, (g.pairs, got, want)


@pytest.mark.parametrize("seed", range(4))
def test_dag_motifs3_per_block_is_by_lowest_layer(seed):
    g, (A,) = _dag(700 + seed)
    res = deepcnt.motifs(g, size=3)
    layer_of = g.layer_of()
    C = (A != 0).astype(int)
    above = [_brute3(C, 1, False, p, layer_of) for p in range(g.n_layers)]  # motifs with every node in >= p
    for n in res.classes:
        assert res.per_block[n].shape == (g.n_layers - 1,)
        want = [above[p].get(n, 0) - above[p + 1].get(n, 0) for p in range(g.n_layers - 1)]
        np.testing.assert_array_equal(res.per_block[n], want, err_msg=n)


@pytest.mark.parametrize("seed", range(3))
def test_dag_motifs3_explicit_colours(seed):
    g, (A,) = _dag(800 + seed)
    rng = np.random.default_rng(seed)
    colors = [rng.integers(0, 4, size=b.shape[1:]) for b in g.blocks]
    res = deepcnt.motifs(g, size=3, colors=colors, n_colors=3)
    C = np.zeros(A.shape, dtype=int)
    o = g.offsets
    for (i, j), c in zip(g.pairs, colors):
        C[o[i]:o[i + 1], o[j]:o[j + 1]] = c
    C = C * (A != 0)
    want = _brute3(C, 3, False)
    assert {n: int(res[n]) for n in res.classes} == {n: want.get(n, 0) for n in res.classes}


def test_residual_unit_feed_forward_loops_by_hand():
    # x -> h -> y with the identity skip x -> y: every path x_k -> h -> y_k closes into a loop
    W1, W2 = np.ones((3, 4)), np.ones((4, 3))
    g = LayeredGraph.from_blocks([3, 4, 3], {(0, 1): W1, (1, 2): W2, (0, 2): "identity"})
    res = deepcnt.motifs(g, size=3)
    assert int(res["ffl"]) == 3 * 4  # (x_k, h, y_k)
    assert int(res["chain3"]) == 3 * 4 * 3 - 12
    assert int(res["fanout2"]) == 3 * 10 + 4 * 3 - 12  # pairs out of x (4 + 1 targets), out of h; less loops
    assert int(res["fanin2"]) == 3 * 10 + 4 * 3 - 12


def _brute4(C, k, signed, lowest=0, layer_of=None):
    """Brute-force 3- and 4-node census of the colour matrix ``C`` (layers >= ``lowest``)."""
    if lowest:
        keep = layer_of >= lowest
        C = C[np.ix_(keep, keep)]
    want = brute_census(None, k, signed, graph=colour_matrix_digraph(C))
    assert "other" not in want  # every connected 4-node subgraph of a DAG is one of the 24 shapes
    return want


@pytest.mark.parametrize("seed", range(8))
def test_dag_motifs4_against_brute_force(seed):
    g, mats = _dag(1100 + seed, T=[None, 2][seed % 2], max_nodes=15)
    for signed in (False, True):
        res = deepcnt.motifs(g, size=4, signed=signed)
        assert {mc.parse_name(n, res.symbols)[0] for n in res.classes} == set(mc.SHAPES_3_DAG + mc.SHAPES_4_DAG)
        for t, A in enumerate(mats):
            C = (A != 0) * (1 + (signed & (A < 0)))
            want = _brute4(C, 2 if signed else 1, signed)
            got = {n: int(np.atleast_1d(res[n])[t]) for n in res.classes}
            assert got == {n: want.get(n, 0) for n in res.classes}, (g.pairs, got, want)
            assert int(np.atleast_1d(res.total(4))[t]) == sum(v for n, v in want.items()
                                                              if mc.SHAPES[n.split("[")[0]].size == 4)


def test_dag_motifs4_per_block_and_explicit_colours():
    g, (A,) = _dag(1200, max_nodes=14)
    res = deepcnt.motifs(g, size=4)
    layer_of = g.layer_of()
    C = (A != 0).astype(int)
    above = [_brute4(C, 1, False, p, layer_of) for p in range(g.n_layers)]  # motifs with every node in >= p
    for n in res.classes:
        want = [above[p].get(n, 0) - above[p + 1].get(n, 0) for p in range(g.n_layers - 1)]
        np.testing.assert_array_equal(res.per_block[n], want, err_msg=n)
    rng = np.random.default_rng(5)
    colors = [rng.integers(0, 4, size=b.shape[1:]) for b in g.blocks]
    res = deepcnt.motifs(g, size=4, colors=colors, n_colors=3)
    o = g.offsets
    for (i, j), c in zip(g.pairs, colors):
        C[o[i]:o[i + 1], o[j]:o[j + 1]] = c
    want = _brute4(C * (A != 0), 3, False)
    assert {n: int(res[n]) for n in res.classes} == {n: want.get(n, 0) for n in res.classes}


def test_residual_unit_4node_classes_by_hand():
    # x -> h -> y with the identity skip x -> y (all ones): every 4-node set holds one loop (x_k, h, y_k)
    g = LayeredGraph.from_blocks([3, 4, 3], {(0, 1): np.ones((3, 4)), (1, 2): np.ones((4, 3)), (0, 2): "identity"})
    res = deepcnt.motifs(g, size=4)
    assert int(res["tt4_no12"]) == 3 * 6  # x_k -> {h_a, h_b} -> y_k and x_k -> y_k
    assert int(res["ffl_mid_out"]) == 3 * 4 * 2  # the loop and h_a -> y_m
    assert int(res["ffl_mid_in"]) == 3 * 4 * 2  # the loop and x_m -> h_a
    assert int(res["diamond"]) == 3 * 6 * 2  # x_k -> {h_a, h_b} -> y_m, m != k
    assert {n for n in res.classes if res[n]} - set(mc.SHAPES_3_DAG) == {
        "tt4_no12", "ffl_mid_out", "ffl_mid_in", "diamond", "bifan", "outstar3", "instar3", "y_in2out1",
        "y_in1out2"}


@pytest.mark.parametrize("size", (3, 4))
@pytest.mark.parametrize("seed", range(3))
def test_dag_census_on_a_chain_equals_the_chain_census(seed, size):
    """On a chain the DAG census of every class (and signed) equals the chain census; the classes that need a
    skip (the feed-forward loop, the 4-node DAG-only shapes) are zero."""
    from deepcnt.motifs.dag4 import dag_census4

    rng = np.random.default_rng((900 if size == 3 else 1300) + seed)
    sizes = rng.integers(1, 9 - size, size=int(rng.integers(2, size + 2)))
    g = LayeredGraph.from_weights([rng.normal(size=(2, a, b)) for a, b in zip(sizes[:-1], sizes[1:])])
    g = g.threshold(0.3)
    assert g.is_chain
    census, shapes, dag_only = ((dag_census3, mc.SHAPES_3, ("ffl",)) if size == 3
                                else (dag_census4, mc.SHAPES_4, mc.SHAPES_4_DAG_ONLY))
    for signed in (False, True):
        codes, k = edge_code_blocks(g, signed=signed)
        chain = count_codes(codes, k, shapes, g.backend.kernel("motifs"), g.backend.xp)
        dag = census(g, codes, k)
        for key, v in chain.items():
            np.testing.assert_array_equal(dag[key], v, err_msg=str(key))
        assert all(not v.any() for (s, _), v in dag.items() if s in dag_only)


def test_dag_shape_templates():
    # every shape's automorphisms, as listed, are those of its template; the 24 templates are distinct classes
    from deepcnt.motifs.dag4 import classify

    for s in mc.SHAPES:
        assert set(mc.SHAPES[s].group) == set(mc.automorphisms(mc.EDGES[s])), s
    for s in mc.SHAPES_4_DAG:
        assert classify([e + (1,) for e in mc.EDGES[s]]) == (s, (1,) * len(mc.EDGES[s]))
    assert len(mc.SHAPES_4_DAG) == 24


def test_dag_motifs_epoch_batches(monkeypatch):
    g, _ = _dag(1050, T=2)
    whole = deepcnt.motifs(g, size=4, signed=True)
    monkeypatch.setattr(deepcnt.config, "MOTIF_MASK_BUDGET", 1)  # one epoch per batch
    parts = deepcnt.motifs(g, size=4, signed=True)
    for n in whole.classes:
        np.testing.assert_array_equal(whole.per_block[n], parts.per_block[n])


def _enumerate_null(sizes, codes, k, null):
    """Every outcome of the null on each block (distinct slot arrangements for the permutation null, every
    colouring for Bernoulli) with its probability, and the exact mean of each class's count over them."""
    per_block = []
    for c in codes:
        if null == "permutation":
            outs = sorted(set(itertools.permutations(c.ravel().tolist())))
            per_block.append([(np.array(o).reshape(c.shape), 1.0 / len(outs)) for o in outs])
        else:
            p = np.bincount(c.ravel(), minlength=k + 1) / c.size
            per_block.append([(np.array(o).reshape(c.shape), float(np.prod(p[list(o)])))
                              for o in itertools.product(range(k + 1), repeat=c.size)])
    combos = list(itertools.product(*per_block))
    stacks = [np.stack([cb[b][0] for cb in combos]).astype(np.int8) for b in range(len(codes))]
    w = np.array([np.prod([x[1] for x in cb]) for cb in combos])
    return stacks, w


@pytest.mark.parametrize("null,sizes", [("permutation", (2, 2, 2)), ("bernoulli", (2, 2, 1))])
def test_dag_null_expectations_are_exact(null, sizes):
    from deepcnt.motifs.dag4 import dag_census4, dag_expected4

    rng = np.random.default_rng(7)
    pairs = ((0, 1), (0, 2), (1, 2))
    g = LayeredGraph.from_blocks(sizes, {p: np.ones((sizes[p[0]], sizes[p[1]])) for p in pairs})
    for k in (1, 2):
        codes = [rng.integers(0, k + 1, size=(sizes[i], sizes[j])) for i, j in pairs]
        stacks, w = _enumerate_null(sizes, codes, k, null)
        m = np.array([np.bincount(c.ravel(), minlength=k + 1) for c in codes], dtype=float)
        for census, expected in ((dag_census3, dag_expected3), (dag_census4, dag_expected4)):
            raw = census(g, stacks, k)
            exp = expected(sizes, pairs, m, k, null)
            assert set(exp) == set(raw)
            for key, v in raw.items():
                assert exp[key] == pytest.approx(float(w @ v.sum(axis=1)), abs=1e-9), key


def test_dag4_null_expectations_with_four_layers():
    # four layers, every pair a block (tt4 can occur), Bernoulli null with one slot per block: every outcome
    from deepcnt.motifs.dag4 import dag_census4, dag_expected4

    sizes = (1, 1, 2, 1)
    pairs = tuple(itertools.combinations(range(4), 2))
    g = LayeredGraph.from_blocks(sizes, {p: np.ones((sizes[p[0]], sizes[p[1]])) for p in pairs})
    codes = [np.eye(sizes[i], sizes[j], dtype=int) for i, j in pairs]
    stacks, w = _enumerate_null(sizes, codes, 1, "bernoulli")
    raw = dag_census4(g, stacks, 1)
    m = np.array([np.bincount(c.ravel(), minlength=2) for c in codes], dtype=float)
    exp = dag_expected4(sizes, pairs, m, 1, "bernoulli")
    assert exp[("tt4", (1,) * 6)] > 0
    for key, v in raw.items():
        assert exp[key] == pytest.approx(float(w @ v.sum(axis=1)), abs=1e-9), key


def test_dag_motif_significance():
    g, _ = _dag(1700)
    sig = deepcnt.motif_significance(g, size=3, signed=True, draws=40, seed=1)
    obs = deepcnt.motifs(g, size=3, signed=True)
    assert sig.classes == obs.classes
    for n in sig.classes:
        assert sig.observed[n] == obs[n]
        if sig.sd[n] > 0:  # the Monte Carlo mean near the exact expectation
            assert abs(sig.mc_mean[n] - sig.expected[n]) < 5 * sig.sd[n] / np.sqrt(40) + 1e-9, n
    deg = deepcnt.motif_significance(g, size=3, null="degree", draws=5)
    assert np.isnan(deg.z["chain3"]) or deg.sd["chain3"] > 0  # paths through a skip are not degree-invariant


def test_dag_motif_significance4():
    g, _ = _dag(1701, max_nodes=16)
    sig = deepcnt.motif_significance(g, size=4, draws=40, seed=1, concentrations=True)
    obs = deepcnt.motifs(g, size=4)
    assert sig.classes == obs.classes
    for n in sig.classes:
        assert sig.observed[n] == obs[n]
        if sig.sd[n] > 0:
            assert abs(sig.mc_mean[n] - sig.expected[n]) < 5 * sig.sd[n] / np.sqrt(40) + 1e-9, n
    assert any(sig.sd[n] > 0 for n in mc.SHAPES_4_DAG_ONLY)
    assert sig.concentration["chain4"] == pytest.approx(obs.concentration("chain4"))


@pytest.mark.parametrize("size", [3, 4])
def test_dag_motifs_gpu_simulator(size):
    g, _ = _dag(1000, T=2)
    gg = g.to("gpu")
    for kw in (dict(), dict(signed=True)):
        a, b = deepcnt.motifs(g, size=size, **kw), deepcnt.motifs(gg, size=size, **kw)
        assert a.classes == b.classes
        for n in a.classes:
            np.testing.assert_array_equal(a[n], b[n])
            np.testing.assert_array_equal(a.per_block[n], b.per_block[n])


# ------------------------------------------------------------------------------------------- communities
MODES = ["asym", "sym", "smp", "pos", "neg", "abs", "none"]


def _views(A):
    """The feed-forward matrix and the undirected view ``A + Aᵀ`` of an explicit graph."""
    return {True: A, False: A + A.T}


@pytest.mark.parametrize("seed", range(6))
def test_dag_modularity_against_explicit_graph(seed):
    g, mats = _dag(1100 + seed, T=[None, 2][seed % 2], theta=(0.0, 0.2, 0.5), max_nodes=40)
    rng = np.random.default_rng(seed)
    T = len(mats)
    ci = np.stack([rng.integers(0, int(rng.integers(1, 5)), g.n_nodes) for _ in range(T)])
    gamma = float(rng.choice([0.7, 1.0, 1.5]))
    for directed in (False, True):
        for binary in (False, True):
            for mode in MODES:
                want = []
                for t, A in enumerate(mats):
                    W = _views(np.sign(A) if binary else A)[directed]
                    if mode == "none":
                        W = np.abs(W)
                    want.append(np.nan if (mode == "neg" and not (W < 0).any()) or not W.any()
                                else signed_q(W, ci[t], mode, gamma))
                if np.isnan(want).any():
                    continue
                h = g if mode != "none" else _abs_graph(g)
                q = deepcnt.modularity(h, ci if g.stacked else ci[0], gamma, mode, directed, binary)
                np.testing.assert_allclose(q, want if g.stacked else want[0], atol=1e-9,
                                           err_msg=f"{mode} directed={directed} binary={binary}")


def _abs_graph(g):
    """The graph of |w| (for negative='none', which refuses negative edges), rebuilt from the explicit blocks."""
    blocks = {}
    for l, p in enumerate(g.pairs):
        W, th = g.kept_stack(l, "test")
        blocks[p] = np.where(np.abs(W) > th[:, None, None], np.abs(W), 0.0)
    h = LayeredGraph.from_blocks(g.sizes, {p: (b if g.stacked else b[0]) for p, b in blocks.items()})
    return h


@pytest.mark.parametrize("seed", range(4))
def test_dag_participation_and_zscore_against_explicit_graph(seed):
    g, (A,) = _dag(1200 + seed, theta=(0.0, 0.3), max_nodes=40)
    ci = np.random.default_rng(seed).integers(0, 3, g.n_nodes)
    views = {"all": A + A.T, "out": A, "in": A.T}
    chans = {"positive": lambda W: np.maximum(W, 0), "negative": lambda W: np.maximum(-W, 0),
             "binary": lambda W: (W != 0) * 1.0, "abs": np.abs, "net": lambda W: W}
    for direction, W in views.items():
        for sign in ("positive", "negative", "binary", "abs"):
            np.testing.assert_allclose(deepcnt.participation(g, ci, sign, direction),
                                       participation_ref(chans[sign](W), ci), atol=1e-9, err_msg=(direction, sign))
        for weight in ("net", "positive", "abs", "binary"):
            for ddof in (0, 1):
                np.testing.assert_allclose(deepcnt.module_zscore(g, ci, ddof, weight, direction),
                                           zscore_ref(chans[weight](W), ci, ddof), atol=1e-9,
                                           err_msg=(direction, weight, ddof))


def _connected_dag(seed):
    """A block DAG with a skip and continuous weights where every node has edges (no exact ties in Louvain's
    gains: the conditions of tests/test_communities.py::test_louvain_matches_reference), and its explicit
    matrix. Chain blocks are dense or sparse, skips dense, sparse or diagonal."""
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 5))
    sizes = [int(n) for n in rng.integers(2, 6, size=L + 1)]
    pairs = [(i, i + 1) for i in range(L)] + [(i, j) for i in range(L) for j in range(i + 2, L + 1)
                                               if rng.random() < 0.5]
    if len(pairs) == L:
        pairs.append((0, L))
    blocks, off = {}, np.concatenate([[0], np.cumsum(sizes)])
    A = np.zeros((off[-1], off[-1]))
    for i, j in pairs:
        kind = rng.choice(["dense", "sparse", "diagonal"] if sizes[i] == sizes[j] and j > i + 1 else ["dense"] * 2
                          + ["sparse"])
        if kind == "diagonal":
            d = rng.normal(size=sizes[i])
            blocks[(i, j)], w = deepcnt.DiagonalBlock(d), np.diag(d)
        else:
            w = rng.normal(size=(sizes[i], sizes[j]))
            if kind == "sparse":
                w[rng.random(w.shape) < 0.3] = 0.0
                w[0, 0] = w[0, 0] or 1.0
            blocks[(i, j)] = deepcnt.SparseBlock(w) if kind == "sparse" else w
        A[off[i]:off[i + 1], off[j]:off[j + 1]] = w
    return LayeredGraph.from_blocks(sizes, blocks), A


@pytest.mark.parametrize("seed", range(6))
def test_dag_louvain_against_reference(seed):
    """Louvain on a block DAG (its level 0 the CSR of every block) equals the dense reference Louvain
    (``naive_communities.louvain_ref``) on the explicit graph: the same labels, Q to 1e-12."""
    g, A = _connected_dag(1300 + seed)
    if not ((np.abs(A).sum(0) + np.abs(A).sum(1)) > 0).all():
        pytest.skip("an isolated node (its gains tie)")
    rng = np.random.default_rng(seed)
    for mode, gamma in (("asym", 1.0), ("sym", 1.0), ("smp", 0.7), ("abs", 1.3)):
        B = modularity_matrix(A + A.T, mode, gamma, False)
        for init in (None, rng.integers(0, 3, g.n_nodes)):
            s = int(rng.integers(0, 1000))
            labels, q = deepcnt.louvain(g, gamma=gamma, negative=mode, seed=s, init=init)
            ref, q_ref = louvain_ref(B, init, run_states(s, 1)[0])
            np.testing.assert_array_equal(labels, ref, err_msg=f"{mode} init={init is not None}")
            assert q == pytest.approx(q_ref, rel=1e-12, abs=1e-14)
            assert q == pytest.approx(signed_q(A + A.T, labels, mode, gamma), abs=1e-9)
        labels, q = deepcnt.louvain(g, gamma=gamma, negative=mode, directed=True, seed=seed)
        assert q == pytest.approx(signed_q(A, labels, mode, gamma), abs=1e-9)  # Q of its own partition


def test_dag_louvain_route_on_a_chain_equals_the_chain_route():
    """A chain with a sparse block goes through the CSR of every block (``_general_level0``): the same labels
    and Q as the dense chain read in place."""
    rng = np.random.default_rng(5)
    W = [rng.normal(size=(4, 6)), rng.normal(size=(6, 5)), rng.normal(size=(5, 3))]
    d = LayeredGraph.from_weights(W).threshold(0.3)
    s = LayeredGraph.from_weights([W[0], deepcnt.SparseBlock(W[1]), W[2]]).threshold(0.3)
    for kw in (dict(), dict(directed=True), dict(negative="sym", gamma=0.8)):
        for seed in range(3):
            (la, qa), (lb, qb) = deepcnt.louvain(d, seed=seed, **kw), deepcnt.louvain(s, seed=seed, **kw)
            np.testing.assert_array_equal(la, lb)
            assert qa == pytest.approx(qb, abs=1e-12)


def test_dag_consensus_against_reference():
    g, A = _connected_dag(1400)
    runs, seed = 6, 3
    B = modularity_matrix(A + A.T, "asym", 1.0, False)
    parts = np.stack([louvain_ref(B, None, st)[0] for st in run_states(seed, runs)])
    want = consensus_und(agreement_ref(parts) / runs, 0.1, 10, seed)
    np.testing.assert_array_equal(deepcnt.consensus(g, runs=runs, seed=seed), want)


def test_dag_registry_entries():
    g, A = _connected_dag(1500)
    cols = deepcnt.get_metric("modularity").compute(g)
    lab = deepcnt.get_metric("communities").compute(g)["module"]
    assert cols["modularity_q"] == pytest.approx(signed_q(A + A.T, lab, "asym"), abs=1e-9)
    assert cols["n_modules"] == lab.max() + 1


def test_dag_communities_gpu_simulator():
    g, _ = _dag(1600, T=2, theta=(0.0, 0.3), max_nodes=40)
    gg = g.to("gpu")
    ci = np.random.default_rng(0).integers(0, 3, g.n_nodes)
    to = gg.backend.to_numpy
    for directed in (False, True):
        np.testing.assert_allclose(deepcnt.modularity(gg, ci, directed=directed),
                                   deepcnt.modularity(g, ci, directed=directed), atol=1e-12)
    np.testing.assert_allclose(to(deepcnt.participation(gg, ci)), deepcnt.participation(g, ci), atol=1e-12)
    np.testing.assert_allclose(to(deepcnt.module_zscore(gg, ci)), deepcnt.module_zscore(g, ci), atol=1e-12)
    for a, b in zip(deepcnt.louvain(gg), deepcnt.louvain(g)):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_dag_louvain_epoch_stack_is_per_epoch():
    g, _ = _dag(1800, T=3, theta=(0.0, 0.2), max_nodes=40)
    labels, q = deepcnt.louvain(g, seed=4)
    prev, _ = deepcnt.louvain(g, seed=4, init="previous")
    for t in range(3):
        lt, qt = deepcnt.louvain(g.epoch(t), seed=4)
        np.testing.assert_array_equal(labels[t], lt)
        assert q[t] == pytest.approx(qt, abs=1e-12)
    np.testing.assert_array_equal(prev[0], labels[0])


def test_dag_motif_significance_gpu_simulator():
    g = LayeredGraph.from_blocks([3, 3, 3], {(0, 1): np.array([[1, -1, 0], [0.5, 0, 2], [0, -3, 1]]),
                                             (1, 2): np.array([[0, 1, 1], [-1, 0, 2], [1, 1, 0]]), (0, 2): "identity"})
    a = deepcnt.motif_significance(g, size=4, draws=30, seed=2, signed=True)
    b = deepcnt.motif_significance(g.to("gpu"), size=4, draws=30, seed=2, signed=True)
    for n in a.classes:
        assert a.observed[n] == b.observed[n] and a.expected[n] == pytest.approx(b.expected[n])
        assert abs(a.mc_mean[n] - b.mc_mean[n]) <= 6 * max(a.sd[n], b.sd[n], 1e-12) / np.sqrt(30) + 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_dag_motif_participation_against_brute_force(seed):
    g, mats = _dag(2000 + seed, T=[None, 2][seed % 2])
    part = deepcnt.motif_participation(g, size=3)
    res = deepcnt.motifs(g, size=3)
    for t, A in enumerate(mats):
        want = brute_participation(None, sizes=(3,), matrix=A)
        for s in mc.SHAPES_3_DAG:
            got = np.atleast_2d(part[s])[t]
            np.testing.assert_array_equal(got, want.get(s, np.zeros(g.n_nodes, int)), err_msg=s)
            assert got.sum() == 3 * np.atleast_1d(res[s])[t]
    if seed == 1:  # the GPU (simulator) twin
        b = deepcnt.motif_participation(g.to("gpu"), size=3)
        for s in part:
            np.testing.assert_array_equal(part[s], b[s])


@pytest.mark.parametrize("seed", range(4))
def test_dag_motif_participation4_against_brute_force(seed, monkeypatch):
    g, mats = _dag(2100 + seed, T=[None, 2][seed % 2], max_nodes=15)
    if seed == 3:  # tt4 tables in chunks of one node
        monkeypatch.setattr(deepcnt.config, "MOTIF_MASK_BUDGET", 1)
    part = deepcnt.motif_participation(g, size=4)
    res = deepcnt.motifs(g, size=4)
    assert set(part) == set(mc.SHAPES_3_DAG + mc.SHAPES_4_DAG)
    for t, A in enumerate(mats):
        want = brute_participation(None, matrix=A)
        for s in part:
            got = np.atleast_2d(part[s])[t]
            np.testing.assert_array_equal(got, want.get(s, np.zeros(g.n_nodes, int)), err_msg=s)
            assert got.sum() == mc.SHAPES[s].size * np.atleast_1d(res[s])[t]
    if seed == 0:  # the GPU (simulator) twin
        b = deepcnt.motif_participation(g.to("gpu"), size=4)
        for s in part:
            np.testing.assert_array_equal(part[s], b[s])


def test_dag_motifs4_tt4_in_chunks(monkeypatch):
    # four layers all joined (tt4 occurs): the n⁴ contraction summed over chunks of its first vertex is the same
    rng = np.random.default_rng(11)
    sizes = [3, 2, 3, 2]
    g = LayeredGraph.from_blocks(sizes, {p: rng.normal(size=(sizes[p[0]], sizes[p[1]]))
                                         for p in itertools.combinations(range(4), 2)}).threshold(0.3)
    whole = deepcnt.motifs(g, size=4, signed=True)
    A = np.zeros((10, 10))
    o = g.offsets
    for (i, j), W in zip(g.pairs, g.blocks):
        A[o[i]:o[i + 1], o[j]:o[j + 1]] = np.where(np.abs(W) > 0.3, W, 0)
    want = _brute4((A != 0) * (1 + (A < 0)), 2, True)
    assert sum(v for n, v in want.items() if n.startswith("tt4[")) > 0
    assert {n: int(whole[n]) for n in whole.classes} == {n: want.get(n, 0) for n in whole.classes}
    monkeypatch.setattr(deepcnt.config, "MOTIF_MASK_BUDGET", 1)  # one node of vertex 0 per chunk
    parts = deepcnt.motifs(g, size=4, signed=True)
    for n in whole.classes:
        np.testing.assert_array_equal(whole.per_block[n], parts.per_block[n])
    part, want = deepcnt.motif_participation(g, size=4), brute_participation(None, matrix=A)
    assert want["tt4"].sum() > 0
    for s in part:
        np.testing.assert_array_equal(part[s], want.get(s, np.zeros(10, int)), err_msg=s)


@pytest.mark.parametrize("seed", range(2))
def test_dag_motif_z_metric_against_brute_force(seed):
    # the registered motif_z on a block DAG: the z of every class of the 24 + 4, its observed count the brute force
    from deepcnt.motifs.metrics import PIPELINE_DRAWS

    g, mats = _dag(1720 + seed, T=[None, 2][seed], max_nodes=14)
    m = deepcnt.get_metric("motif_z")
    assert m.skips and set(m.columns) == {f"motifz_{s}" for s in mc.SHAPES_3_DAG + mc.SHAPES_4_DAG}
    cols = m.compute(g)
    assert set(cols) == set(m.columns)
    for t, A in enumerate(mats):
        sig = deepcnt.motif_significance(g.epoch(t) if g.stacked else g, size=4, draws=PIPELINE_DRAWS, seed=0)
        want = _brute4((A != 0).astype(np.int8), 1, False)
        for s in mc.SHAPES_3_DAG + mc.SHAPES_4_DAG:
            obs, exp_, sd = (float(d[s]) for d in (sig.observed, sig.expected, sig.sd))
            assert obs == want.get(s, 0), s
            z = float(np.atleast_1d(cols[f"motifz_{s}"])[t])
            if sd > 0:
                assert z == pytest.approx((obs - exp_) / sd), s
            else:
                assert np.isnan(z), s
    assert any(np.isfinite(cols[f"motifz_{s}"]).any() for s in ("ffl",) + mc.SHAPES_4_DAG_ONLY)


def test_motif_z_metric_on_a_chain_has_nan_dag_classes():
    rng = np.random.default_rng(1730)
    g = LayeredGraph.from_weights([rng.normal(size=(2, a, b)) for a, b in [(4, 5), (5, 4), (4, 3)]]).threshold(0.4)
    cols = deepcnt.get_metric("motif_z").compute(g)
    sig = [deepcnt.motif_significance(g.epoch(t), size=4, draws=20, seed=0) for t in range(2)]
    for s in mc.SHAPES_3 + mc.SHAPES_4:  # every epoch seeded alike: its z does not depend on the stack it is in
        np.testing.assert_array_equal(cols[f"motifz_{s}"], [sig[0].z[s], sig[1].z[s]], err_msg=s)
        assert cols[f"motifz_{s}"][1] == deepcnt.get_metric("motif_z").compute(g.epoch(1))[f"motifz_{s}"]
    for s in ("ffl",) + mc.SHAPES_4_DAG_ONLY:  # they cannot occur on a chain: no z, not a z of 0
        assert cols[f"motifz_{s}"].shape == (2,) and np.isnan(cols[f"motifz_{s}"]).all(), s


@pytest.mark.parametrize("terms, sizes, widest", [
    ("ab,ac,a,bc", {}, 2), ("ab,bc,cd,b,c", {}, 2), ("ab,ac,ad,bc,bd,cd", {}, 3),
    # a bifan onto a wide layer (c, d: a language model's logits): sum c, d out first, never a (c, d) table
    ("ac,ad,bc,bd", {"a": 4, "b": 4, "c": 50, "d": 50}, 16), ("ab,bc,bd", {"c": 50, "d": 50}, 50)])
def test_elimination_path_keeps_tables_small(terms, sizes, widest):
    """The path sums a row-sum factor into a pair factor before two pair factors meet on that vertex, and sums
    out first the vertex whose neighbours make the smallest table, so no intermediate is larger than the shape
    needs (``widest`` entries; a three-vertex table only for the complete ``tt4``); numpy's einsum on the
    path equals the plain einsum."""
    from deepcnt.motifs.dag4 import elimination_path

    n = {c: sizes.get(c, 1 if not sizes else 2) for c in "abcd"}
    path = elimination_path(terms, "", tuple(sorted(sizes.items())))
    ops = [frozenset(t) for t in terms.split(",")]
    largest = 0
    for step in path[1:]:
        merged = frozenset().union(*(ops[i] for i in step))
        ops = [o for i, o in enumerate(ops) if i not in step]
        ops.append(frozenset(v for v in merged if any(v in o for o in ops)))
        largest = max(largest, int(np.prod([n[c] for c in ops[-1]])) if sizes else len(ops[-1]))
    assert largest <= widest
    rng = np.random.default_rng(7)
    arrays = [rng.random(tuple(n[c] if sizes else 5 for c in t)) for t in terms.split(",")]
    want = np.einsum(terms + "->", *arrays)
    np.testing.assert_allclose(np.einsum(terms + "->", *arrays, optimize=path), want, rtol=1e-12)
