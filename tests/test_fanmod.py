"""Reproduce a peer's FANMOD census exactly (Zambra et al.'s 31-20-20-4 MLP, 3 edge colours; spec §4.7).

Every coloured 4-node class FANMOD reports must have count = frequency × 36900 / 100 in ``motifs``; FANMOD's
adjacency-matrix classes are mapped to deepcnt's canonical names by networkx isomorphism (edge colours matched).
"""
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from deepcnt.motifs import classes as mc
from deepcnt.bindings import fanmod
from deepcnt.motifs.counts import motifs
from naive_motifs import all_templates

DATA = Path(__file__).parent / "data" / "fanmod"
SHAPE_SUMS = {"outstar3": 1440, "instar3": 2576, "y_in2out1": 4920, "y_in1out2": 4090, "chain4": 2152, "bifan": 895,
              "N": 8080, "diamond": 1343, "src_branch": 3953, "snk_branch": 7451}


@pytest.fixture(scope="module")
def census():
    g, colors = fanmod.read_edgelist(DATA / "mlp-31-20-20-4_graph.txt", [31, 20, 20, 4])
    total, rows = fanmod.read_census(DATA / "mlp-31-20-20-4_fanmod-s4.csv")
    return g, colors, total, rows


def _iso_name(A, temps, em):
    H = nx.DiGraph()
    H.add_nodes_from(range(A.shape[0]))
    for u, v in zip(*np.nonzero(A)):
        H.add_edge(int(u), int(v), color=int(A[u, v]))
    sig_matches = [name for group in temps.values() for name, T in group if nx.is_isomorphic(H, T, edge_match=em)]
    assert len(sig_matches) == 1, sig_matches
    return sig_matches[0]


def test_fanmod_census_reproduced_exactly(census):
    g, colors, total, rows = census
    assert g.sizes == (31, 20, 20, 4) and g.n_edges == 333 and total == 36900
    res = motifs(g, colors=colors, n_colors=3)
    assert res.total(4) == total
    temps = all_templates(3)
    em = nx.algorithms.isomorphism.categorical_edge_match("color", None)
    seen = {}
    for row in rows:
        name = _iso_name(row.adjacency, temps, em)
        assert fanmod.classify(row.adjacency) == name
        expect = row.frequency * total / 100.0
        assert abs(expect - round(expect)) < 0.05, (row.id, expect)
        assert int(res[name]) == round(expect), (row.id, name, int(res[name]), expect)
        assert name not in seen
        seen[name] = round(expect)
        assert np.isclose(res.concentration(name), row.frequency, rtol=1e-4, atol=1e-5)
    assert sum(seen.values()) == total
    four = [n for n in res.classes if mc.SHAPES[res.shape_of[n]].size == 4]
    assert {n: int(res[n]) for n in four if int(res[n])} == seen  # no class FANMOD did not see
    assert {s: int(v) for s, v in res.shape_totals().items() if s in SHAPE_SUMS} == SHAPE_SUMS


def test_fanmod_readers_reject_bad_files(tmp_path):
    from deepcnt.errors import InputError

    bad = tmp_path / "g.txt"
    bad.write_text("0 1 2\n")
    with pytest.raises(InputError, match="does not go from one layer to the next"):
        fanmod.read_edgelist(bad, [3, 2])
    bad.write_text("0 x\n")
    with pytest.raises(InputError, match="expected"):
        fanmod.read_edgelist(bad, [3, 2])
    bad.write_text("0 9 1\n")
    with pytest.raises(InputError, match="outside"):
        fanmod.read_edgelist(bad, [3, 2])
    with pytest.raises(InputError, match="not a FANMOD census"):
        fanmod.read_census(bad)


def test_classify_names_the_block_dag_shapes():
    # FANMOD's global switching makes skip edges: its 4-node DAG classes get deepcnt's DAG names too
    A = np.zeros((4, 4), int)
    A[0, 1] = A[1, 2] = A[2, 3] = 1
    A[0, 3] = 2
    assert fanmod.classify(A) == "bypass4[111|2]"
    A = np.zeros((4, 4), int)
    A[0, 1] = A[1, 2] = A[0, 2] = A[1, 3] = 1
    assert fanmod.classify(A, symbols="") == "ffl_mid_out"
