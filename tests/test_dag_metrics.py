"""Motifs and communities on block DAGs (issue 15): checked against the explicit N×N graph of random block DAGs
with skips, sparse blocks, identities and diagonals (brute-force enumeration, dense numpy formulas)."""
import numpy as np
import pytest

import deepcnt
from deepcnt import LayeredGraph
from deepcnt.motifs import classes as mc
from deepcnt.motifs.counts import count_codes, edge_code_blocks
from deepcnt.motifs.dag import dag_census3
from naive_motifs import brute_census, colour_matrix_digraph
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


@pytest.mark.parametrize("seed", range(3))
def test_dag_census_on_a_chain_equals_the_chain_census(seed):
    rng = np.random.default_rng(900 + seed)
    sizes = rng.integers(1, 6, size=int(rng.integers(2, 5)))
    g = LayeredGraph.from_weights([rng.normal(size=(2, a, b)) for a, b in zip(sizes[:-1], sizes[1:])])
    g = g.threshold(0.3)
    assert g.is_chain
    for signed in (False, True):
        codes, k = edge_code_blocks(g, signed=signed)
        chain = count_codes(codes, k, mc.SHAPES_3, g.backend.kernel("motifs"), g.backend.xp)
        dag = dag_census3(g, codes, k)
        for key, v in chain.items():
            np.testing.assert_array_equal(dag[key], v, err_msg=str(key))
        assert all(not v.any() for (s, _), v in dag.items() if s == "ffl")


def test_dag_motifs_of_size_4_refused(monkeypatch):
    g = LayeredGraph.from_blocks([2, 2, 2], {(0, 1): np.ones((2, 2)), (1, 2): np.ones((2, 2)), (0, 2): "identity"})
    with pytest.raises(deepcnt.InputError, match=r"^motifs of size 4 is not yet supported on graphs with skip "
                                                 r"blocks: .*\(0, 2\)\. Count the 3-node classes .* size=3\)$"):
        deepcnt.motifs(g)


def test_dag_motifs3_gpu_simulator():
    g, _ = _dag(1000, T=2)
    gg = g.to("gpu")
    for kw in (dict(), dict(signed=True)):
        a, b = deepcnt.motifs(g, size=3, **kw), deepcnt.motifs(gg, size=3, **kw)
        assert a.classes == b.classes
        for n in a.classes:
            np.testing.assert_array_equal(a[n], b[n])
            np.testing.assert_array_equal(a.per_block[n], b.per_block[n])
