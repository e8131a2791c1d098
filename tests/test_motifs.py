"""Exact motif counts (spec §4.2–4.3) against brute-force enumeration, igraph, and the §12 oracle."""
import itertools

import networkx as nx
import numpy as np
import pytest

import deepcnt
from deepcnt.motifs import classes as mc
from deepcnt.errors import InputError
from deepcnt.motifs.counts import motifs
from naive import random_blocks
from naive_motifs import all_templates, brute_census, random_codes


def _nonzero(res):
    return {n: int(res[n]) for n in res.classes if int(res[n])}


def _check(res, ref):
    got = _nonzero(res)
    assert "other" not in ref, f"subgraphs outside the 13 layered shapes: {ref['other']}"
    diff = {n: (got.get(n), ref.get(n)) for n in set(got) | set(ref) if got.get(n) != ref.get(n)}
    assert not diff, f"(motifs, brute force) differ: {diff}"


@pytest.mark.parametrize("seed", range(6))
def test_uncoloured_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        blocks = random_blocks(rng, n_layers=int(rng.integers(1, 5)), max_width=4)
        theta = float(rng.choice([0.0, 0.4]))
        g = deepcnt.LayeredGraph.from_weights(blocks).threshold(theta)
        codes = [(np.abs(b) > theta).astype(np.int8) for b in blocks]
        _check(motifs(g), brute_census(codes, 1))


@pytest.mark.parametrize("seed", range(6))
def test_signed_equals_brute_force(seed):
    rng = np.random.default_rng(50 + seed)
    for _ in range(3):
        blocks = random_blocks(rng, n_layers=int(rng.integers(1, 5)), max_width=4)
        g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.2)
        codes = [((np.abs(b) > 0.2) * (1 + (b < 0))).astype(np.int8) for b in blocks]
        _check(motifs(g, signed=True), brute_census(codes, 2, signed=True))


@pytest.mark.parametrize("seed,k", [(s, 3) for s in range(6)] + [(10, 4), (11, 4)])
def test_coloured_equals_brute_force(seed, k):
    rng = np.random.default_rng(100 + seed)
    for _ in range(3):
        codes = random_codes(rng, k, max_layers=4, max_width=4)
        g = deepcnt.LayeredGraph.from_weights([(c > 0) * rng.normal(size=c.shape) for c in codes])
        _check(motifs(g, colors=codes, n_colors=k), brute_census(codes, k))


def test_signed_is_two_colour_case():
    rng = np.random.default_rng(3)
    blocks = random_blocks(rng, n_layers=3, max_width=6)
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.1)
    codes = [((np.abs(b) > 0.1) * (1 + (b < 0))).astype(np.int8) for b in blocks]
    a, b = motifs(g, signed=True), motifs(g, colors=codes)
    assert len(a.classes) == len(b.classes)
    for na, nb in zip(a.classes, b.classes):
        assert na.replace("+", "1").replace("-", "2") == nb and a[na] == b[nb]


def test_class_inventory():
    per_shape = {s: len(mc.classes(s, 2)) for s in mc.SHAPES}
    assert per_shape["chain3"] == 4 and per_shape["bifan"] == 7 and per_shape["diamond"] == 10
    assert per_shape["fanout2"] == 3 and per_shape["N"] == 8 and per_shape["chain4"] == 8
    em = nx.algorithms.isomorphism.categorical_edge_match("color", None)
    for k in (1, 2, 3):
        for group in all_templates(k).values():  # distinct names are never isomorphic
            for (n1, t1), (n2, t2) in itertools.combinations(group, 2):
                assert not nx.is_isomorphic(t1, t2, edge_match=em), (n1, n2)
    for name in ("bifan[++|+-]", "diamond[+-|-+]", "y_in1out2[+|--]"):
        shape, cols = mc.parse_name(name, "+-")
        assert mc.class_name(shape, cols, "+-") == name


def test_oracle_222(oracle, oracle_graph):
    exp = oracle["motifs_binary_mask_W!=0"]
    res = motifs(oracle_graph)
    for name, v in exp.items():
        assert int(res[name]) == v, name
    assert int(res.per_block["bifan"][0]) == 1 and int(res.per_block["N"][1]) == 1
    s = motifs(oracle_graph, signed=True)
    sig = oracle["motifs_signed"]
    for shape in ("chain3", "fanout2", "fanin2"):
        for code, v in sig[shape].items():
            assert int(s[f"{shape}[{code}]"]) == v
    assert _nonzero(s).get("bifan[++|+-]") == 1  # "3+1-"
    assert {n: v for n, v in _nonzero(s).items() if n.startswith("bifan")} == {"bifan[++|+-]": 1}
    assert {n: v for n, v in _nonzero(s).items() if n.startswith("diamond")} == {
        "diamond[++|+-]": 1, "diamond[+-|-+]": 1}  # {++,+-} and {+-,-+}


def test_epoch_stack_and_per_block():
    rng = np.random.default_rng(5)
    blocks = random_blocks(rng, n_layers=4, max_width=6, stack=3)
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.3)
    res = motifs(g, signed=True)
    for t in range(3):
        one = motifs(g.epoch(t), signed=True)
        for n in res.classes:
            assert res[n][t] == one[n]
            np.testing.assert_array_equal(res.per_block[n][t], one.per_block[n])
            assert res.per_block[n][t].sum() == one[n]
    L = g.n_blocks
    for n in res.classes:  # no motif starts where it cannot fit
        span = mc.SHAPES[res.shape_of[n]].span
        assert not res.per_block[n][:, L - span + 1:].any()
    assert res[res.classes[0]].dtype == np.int64
    three = motifs(g, size=3)
    assert set(three.shape_of.values()) == set(mc.SHAPES_3)


def test_concentrations_and_totals():
    rng = np.random.default_rng(8)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=5)).threshold(0.2)
    res = motifs(g, signed=True)
    conc = sum(res.concentration(n) for n in res.classes if mc.SHAPES[res.shape_of[n]].size == 4)
    assert res.total(4) == 0 or abs(conc - 100.0) < 1e-9
    unc = motifs(g)
    for shape, tot in res.shape_totals().items():
        assert tot == unc[shape]


def test_igraph_motifs_randesu_agrees():
    ig = pytest.importorskip("igraph")
    rng = np.random.default_rng(11)
    em = nx.algorithms.isomorphism.categorical_edge_match("color", None)
    temps = {s: t for group in all_templates(1).values() for s, t in group}
    for _ in range(3):
        blocks = random_blocks(rng, n_layers=3, max_width=6)
        g = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.3)
        res = motifs(g)
        G = g.to_igraph()
        for size in (3, 4):
            cnt = G.motifs_randesu(size=size)
            by_shape = {}
            for iso, c in enumerate(cnt):
                if c != c or c == 0:  # NaN: not connected
                    continue
                H = nx.DiGraph(ig.Graph.Isoclass(size, iso, directed=True).get_edgelist())
                nx.set_edge_attributes(H, 1, "color")
                match = [s for s, T in temps.items() if nx.is_isomorphic(H, T, edge_match=em)]
                assert len(match) == 1
                by_shape[match[0]] = int(c)
            expect = {s: int(res[s]) for s in (mc.SHAPES_3 if size == 3 else mc.SHAPES_4) if int(res[s])}
            assert by_shape == expect


@pytest.mark.parametrize("bad,match", [
    (dict(size=5), "size"),
    (dict(colors="x"), "one integer array per block"),
    (dict(colors=[np.ones((3, 4), int)]), "arrays but the graph has"),
    (dict(colors=[np.ones((3, 4), int), np.ones((3, 2), int)]), "shape"),
    (dict(colors=[np.ones((3, 4)), np.ones((4, 2))]), "dtype"),
    (dict(colors=[np.full((3, 4), 5), np.ones((4, 2), int)]), "values"),
    (dict(colors=[np.full((3, 4), -1), np.ones((4, 2), int)]), "values"),
    (dict(colors=[np.ones((3, 4), int), np.ones((4, 2), int)], signed=True), "not both"),
    (dict(colors=[np.full((3, 4), 3), np.ones((4, 2), int)], n_colors=2), "n_colors"),
    (dict(n_colors=2), "n_colors goes with"),
])
def test_bad_inputs(bad, match):
    g = deepcnt.LayeredGraph.from_weights([np.ones((3, 4)), np.ones((4, 2))])
    with pytest.raises(InputError, match=match):
        motifs(g, **bad)


def test_unknown_class_name():
    with pytest.raises(InputError):
        mc.parse_name("triangle", "")
    with pytest.raises(InputError):
        mc.parse_name("bifan[++|+x]", "+-")


def test_registered_motifs_metric_counts():
    # the columns' contract (shapes, stacks) of every registered metric is in test_api_contract
    g = deepcnt.LayeredGraph.from_weights([np.array([[0.5, -1.0], [2.0, 0.25]]), np.array([[1.0, -0.5], [0.0, 1.5]])])
    out = deepcnt.get_metric("motifs").compute(g)
    assert out["motif_total3"] == 12 and out["motif_total4"] == 11


def test_implicit_conv_block_is_a_clear_error():
    conv = pytest.importorskip("deepcnt.model.conv")
    K = np.random.default_rng(0).normal(size=(2, 1, 3, 3)).astype(np.float32)
    g = deepcnt.LayeredGraph.from_weights([conv.ConvBlock(K, (1, 5, 5))])
    with pytest.raises(InputError, match="motifs needs explicit edges"):
        motifs(g)


def test_to_frame():
    pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=4, stack=2)).threshold(0.2)
    res = motifs(g, signed=True)
    df = res.to_frame()
    assert len(df) == 2 * len(res.classes) and set(df.columns) >= {"class", "shape", "epoch", "count"}
    row = df[(df["class"] == "bifan[++|++]") & (df["epoch"] == 1)]
    assert int(row["count"].iloc[0]) == int(res["bifan[++|++]"][1])
