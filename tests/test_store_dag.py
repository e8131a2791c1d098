"""Epoch stores of block DAGs (format 3, issue 15): blocks on any pair i < j, of every kind (dense, identity,
diagonal, sparse CSR per entry), written and read back exactly; ``analyze`` and ``deepcnt analyze`` on them."""
import json

import numpy as np
import pytest
import scipy.sparse as sp

import deepcnt
from deepcnt import DiagonalBlock, IdentityBlock, LayeredGraph, SparseBlock
from deepcnt.bindings.cli import main
from deepcnt.errors import InputError
from deepcnt.runs.pipeline import analyze
from deepcnt.runs.store import EpochStore

KINDS = ("dense", "sparse", "identity", "diagonal")


def random_layout(rng):
    """Sizes, pairs and a kind per pair: a random DAG in which every kind appears (skips included)."""
    L = int(rng.integers(3, 6))
    sizes = [int(v) for v in rng.choice([3, 4, 5], size=L + 1)]
    sizes[1] = sizes[0]  # room for an identity and a diagonal
    sizes[2] = sizes[0]
    pairs = [(i, i + 1) for i in range(L)] + [(i, j) for i in range(L) for j in range(i + 2, L + 1)
                                              if rng.random() < 0.5]
    pairs = sorted(set(pairs) | {(0, 2)})
    kinds = {}
    for i, j in pairs:
        square = sizes[i] == sizes[j]
        kinds[(i, j)] = str(rng.choice(KINDS if square else KINDS[:2]))
    kinds[(0, 1)], kinds[(1, 2)], kinds[(0, 2)] = "identity", "diagonal", "sparse"
    kinds[(L - 1, L)] = "dense"
    return sizes, pairs, kinds


def random_entry(rng, sizes, kinds, E, dtype):
    """One entry of E members: ``({pair: block as given to from_blocks}, {pair: explicit (E, n_i, n_j)}, biases)``."""
    blocks, ref = {}, {}
    for (i, j), kind in kinds.items():
        ni, nj = sizes[i], sizes[j]
        if kind == "identity":
            blocks[(i, j)] = "identity"
            ref[(i, j)] = np.broadcast_to(np.eye(ni), (E, ni, ni))
        elif kind == "diagonal":
            d = (rng.normal(size=(E, ni)) * (rng.random((E, ni)) < 0.7)).astype(dtype)
            blocks[(i, j)] = DiagonalBlock(d)
            ref[(i, j)] = np.stack([np.diag(x.astype(np.float64)) for x in d])
        else:
            density = 1.0 if kind == "dense" else rng.choice([0.0, 0.2, 0.6])
            w = (rng.normal(size=(E, ni, nj)) * (rng.random((E, ni, nj)) < density)).astype(dtype)
            blocks[(i, j)] = w if kind == "dense" else SparseBlock([sp.csr_matrix(m) for m in w])
            ref[(i, j)] = w.astype(np.float64)
    biases = [rng.normal(size=(E, n)).astype(dtype) for n in sizes[1:]]
    return blocks, ref, biases


def explicit(g, t):
    """The N×N adjacency of epoch ``t`` of ``g`` from its edges (every kind exports its edges)."""
    return g.to_scipy(epoch=t if g.stacked else None).toarray()


@pytest.mark.parametrize("seed", range(6))
def test_random_block_dags_round_trip_exactly(tmp_path, seed):
    rng = np.random.default_rng(seed)
    E = int(rng.integers(1, 4))
    dtype = [np.float32, np.float64][seed % 2]
    sizes, pairs, kinds = random_layout(rng)
    entries = [random_entry(rng, sizes, kinds, E, dtype) for _ in range(3)]
    graphs = [LayeredGraph.from_blocks(sizes, b, biases=bs) for b, _, bs in entries]
    s = EpochStore.create_for(tmp_path / "run", graphs[0], n_members=E, dtype=np.dtype(dtype).name,
                              compress=seed % 3 == 0)  # zstd chunks through zarr; sparse files raw either way
    for k, g in enumerate(graphs):
        s.append_graph(10 * k, g, scalars={"loss": float(k)})
    s.close()

    s = EpochStore.open(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "meta.json").read_text())
    assert meta["format_version"] == 3 and [tuple(p) for p in meta["pairs"]] == pairs
    assert [None if b is None else b["kind"] for b in meta["blocks"]] == [
        None if kinds[p] == "dense" else kinds[p] for p in pairs]
    assert s.pairs == tuple(pairs) and list(s.epochs) == [0, 10, 20]
    for k, (_, ref, bs) in enumerate(entries):
        for m in range(E):
            g = s.graph(k, member=m)
            assert g.pairs == tuple(pairs) and g.sizes == tuple(sizes)
            for p, b in zip(g.pairs, g.blocks):
                kind = kinds[p]
                assert type(b) is {"dense": np.ndarray, "sparse": SparseBlock, "identity": IdentityBlock,
                                   "diagonal": DiagonalBlock}[kind]
                assert np.dtype(b.dtype) == dtype or kind == "identity"
                if kind == "sparse":  # O(kept edges): exactly the non-zero entries are stored
                    assert b.nnz.tolist() == [np.count_nonzero(ref[p][m])]
            dense = {p: (b[0] if isinstance(b, np.ndarray) else None) for p, b in zip(g.pairs, g.blocks)}
            for p, w in dense.items():
                if w is not None:
                    np.testing.assert_array_equal(w, ref[p][m].astype(dtype))
            o = np.concatenate([[0], np.cumsum(sizes)])
            A = np.zeros((o[-1], o[-1]))
            for (i, j), w in ref.items():
                A[o[i]:o[i + 1], o[j]:o[j + 1]] = w[m]
            np.testing.assert_array_equal(explicit(g, 0), A)  # bit for bit (float32 widened exactly)
            for l, b in enumerate(bs):
                np.testing.assert_array_equal(g.biases[l][0], b[m].astype(np.float64))
        # every member at once, and stacks of entries
        both = s.graph(k)
        if E > 1:
            np.testing.assert_array_equal(deepcnt.strength(both), deepcnt.strength(graphs[k]))
    st = s.stack([0, 2], member=E - 1)
    for t, k in enumerate([0, 2]):
        np.testing.assert_array_equal(explicit(st, t), explicit(s.graph(k, member=E - 1), 0))
    np.testing.assert_array_equal(s.scalars()["loss"], [0.0, 1.0, 2.0])


def _dag_run(tmp_path, E=2, n=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes, pairs, kinds = [4, 4, 4, 3], [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)], None
    kinds = {(0, 1): "dense", (0, 2): "identity", (1, 2): "diagonal", (1, 3): "sparse", (2, 3): "dense"}
    graphs = []
    for _ in range(n):
        blocks, _, bs = random_entry(rng, sizes, kinds, E, np.float32)
        graphs.append(LayeredGraph.from_blocks(sizes, blocks, biases=bs))
    with EpochStore.create_for(tmp_path / "run", graphs[0], n_members=E) as s:
        for k, g in enumerate(graphs):
            s.append_graph(k, g, scalars={"loss": [0.5 * k] * E})
    return graphs


def test_sparse_entries_are_checked_like_the_others(tmp_path):
    _dag_run(tmp_path, E=2, n=2)
    f = tmp_path / "run" / "sparse" / "W3" / "c.1"
    raw = bytearray(f.read_bytes())
    raw[-1] ^= 0x40  # the last value of member 1
    f.write_bytes(bytes(raw))
    s = EpochStore.open(tmp_path / "run")
    s.graph(0)
    s.graph(1, member=0)  # member 0's part is intact
    with pytest.raises(InputError, match=r"array W3 of entry 1 \(epoch 1\), member 1, fails its checksum"):
        s.graph(1, member=1)
    f.write_bytes(bytes(raw[:-3]))
    with pytest.raises(InputError, match="array W3 of entry 1 is corrupt or truncated"):
        s.graph(1)
    f.unlink()
    with pytest.raises(InputError, match="entry 1 .* has no data for W3"):
        s.graph(1)


@pytest.mark.parametrize("change", [
    lambda m: m.update(pairs=[[0, 1], [0, 2], [1, 3], [1, 2], [2, 3]]),
    lambda m: m.update(pairs=[[0, 1], [0, 2], [1, 2], [1, 3], [2, 9]]),
    lambda m: m.update(pairs=[[0, 1], [0, 2], [1, 2], [1, 3]]),
    lambda m: m["blocks"].__setitem__(1, {"kind": "mystery"}),
    lambda m: m["blocks"].__setitem__(4, {"kind": "identity"}),
    lambda m: m.update(pairs="(0, 1)"),
])
def test_corrupt_layout_in_metadata_is_one_line(tmp_path, change):
    _dag_run(tmp_path, E=1, n=1)
    f = tmp_path / "run" / "meta.json"
    meta = json.loads(f.read_text())
    change(meta)
    f.write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"^epoch store metadata \S+meta.json is corrupt: its blocks do not fit"):
        EpochStore.open(tmp_path / "run")


def test_append_refuses_what_the_layout_does_not_hold(tmp_path):
    graphs = _dag_run(tmp_path, E=2, n=1)
    s = EpochStore.open(tmp_path / "run", "a")
    g = graphs[0]
    with pytest.raises(InputError, match="holds 1 network.*holds 2"):
        s.append_graph(5, g.epoch(0))
    chain = LayeredGraph.from_weights([np.ones((2, 4, 4)), np.ones((2, 4, 4)), np.ones((2, 4, 3))])
    with pytest.raises(InputError, match=r"blocks on \[\(0, 1\), \(1, 2\), \(2, 3\)\], but this store holds"):
        s.append_graph(5, chain)
    ws = [np.ones((2, 4, 4)), None, np.ones((2, 4)), np.ones((2, 4, 3)), np.ones((2, 4, 3))]
    bad = list(ws)
    bad[3] = SparseBlock(np.ones((4, 3)))
    with pytest.raises(InputError, match=r"weights\[3\] is a sparse block of 1 epoch.*expected 2"):
        s.append(5, bad, biases=[np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 3))])
    bad = list(ws)
    bad[3] = np.full((2, 4, 3), np.nan)
    with pytest.raises(InputError, match=r"weights\[3\].*NaN"):
        s.append(5, bad, biases=[np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 3))])
    bad = list(ws)
    bad[2] = SparseBlock([np.ones((4, 4))] * 2)
    with pytest.raises(InputError, match=r"weights\[2\] is a SparseBlock, but this store holds a diagonal"):
        s.append(5, bad, biases=[np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 3))])
    # a dense array into a sparse block is held as its non-zero entries, a sparse block into a dense one densely
    ws[0] = SparseBlock([np.eye(4), 2 * np.eye(4)])
    s.append(5, ws, biases=[np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 3))])
    assert len(s) == 2 and s.graph(1, member=1).blocks[3].nnz.tolist() == [12]
    np.testing.assert_array_equal(s.graph(1, member=1).blocks[0][0], 2 * np.eye(4))
    s.close()
    with pytest.raises(InputError, match=r"blocks\[1\] maps 4 units to 4 but the architecture has 4 -> 3 on the "
                                         r"pair \(0, 2\)"):
        EpochStore.create(tmp_path / "x", (4, 4, 3), pairs=[(0, 1), (0, 2), (1, 2)],
                          blocks=[None, "identity", None])
    with pytest.raises(InputError, match=r"block pair \(2, 1\) does not go forward"):
        EpochStore.create(tmp_path / "x", (4, 4, 3), pairs=[(0, 1), (2, 1)])
    with pytest.raises(InputError, match="blocks\\[0\\] is 'eye'"):
        EpochStore.create(tmp_path / "x", (4, 4), blocks=["eye"])
    assert not (tmp_path / "x").exists()


def test_chain_stores_keep_their_format(tmp_path):
    s = EpochStore.create(tmp_path / "chain", (3, 4, 2))
    s.append(0, [np.ones((3, 4)), np.ones((4, 2))], biases=[np.zeros(4), np.zeros(2)])
    s.close()
    meta = json.loads((tmp_path / "chain" / "meta.json").read_text())
    assert meta["format_version"] == 1 and "pairs" not in meta and "blocks" not in meta
    assert not (tmp_path / "chain" / "sparse").exists()
    assert EpochStore.open(tmp_path / "chain").pairs == ((0, 1), (1, 2))
    # a chain of a sparse block needs the new format (an older deepcnt refuses it instead of misreading it)
    g = LayeredGraph.from_weights([SparseBlock(np.eye(3)), np.ones((3, 2))])
    s = EpochStore.create_for(tmp_path / "sparse", g)
    s.append_graph(0, g)
    s.close()
    assert json.loads((tmp_path / "sparse" / "meta.json").read_text())["format_version"] == 3
    np.testing.assert_array_equal(deepcnt.degree(EpochStore.open(tmp_path / "sparse").graph(0)), deepcnt.degree(g))


def test_analyze_a_dag_run_equals_the_metrics_of_its_graphs(tmp_path):
    graphs = _dag_run(tmp_path, E=2, n=3)
    a = analyze(tmp_path / "run", threshold=0.3, batch=2)
    assert a.metadata()["metrics"] == ["communities", "degree", "knn", "lamalfa_strength", "layers_fluctuation",
                                       "modularity", "motifs", "strength", "weight_moments"]
    nodes, epochs = a.nodes(), a.epochs()
    for k, g in enumerate(graphs):
        for m in range(2):
            h = g.epoch(m).threshold(0.3)
            rows = nodes[(nodes.member == m) & (nodes.entry == k)]
            np.testing.assert_array_equal(rows.degree.to_numpy(), deepcnt.degree(h))
            np.testing.assert_allclose(rows.strength_abs.to_numpy(), deepcnt.strength(h, sign="abs"), rtol=1e-12)
            np.testing.assert_allclose(rows.knn_w_abs.to_numpy(), deepcnt.knn(h, weighted=True, sign="abs"),
                                       rtol=1e-12)
            np.testing.assert_allclose(rows.lamalfa_strength.to_numpy(), deepcnt.nodes_strength(h), rtol=1e-12)
            row = epochs[(epochs.member == m) & (epochs.entry == k)]
            assert int(row.n_edges.iloc[0]) == h.n_edges
            np.testing.assert_allclose(row[[f"layers_fluctuation_L{l}" for l in range(4)]].to_numpy()[0],
                                       deepcnt.layers_fluctuation(h), rtol=1e-12)
            labels, q = deepcnt.louvain(h)  # communities on the block DAG (identity, diagonal, sparse blocks)
            np.testing.assert_array_equal(rows.module.to_numpy(), labels)
            np.testing.assert_allclose(row.modularity_q.iloc[0], q, rtol=1e-12)
            np.testing.assert_allclose(rows.participation_pos.to_numpy(), deepcnt.participation(h, labels),
                                       rtol=1e-12)
            for col, v in deepcnt.weight_moments(h).items():  # the learnt weights (identities left out)
                np.testing.assert_allclose(row[col].iloc[0], v, rtol=1e-9, err_msg=col)
            m4 = deepcnt.motifs(h, size=4)  # the 4-node census of the block DAG, DAG-only classes included
            assert all(row[f"motif_{n}"].iloc[0] == m4[n] for n in m4.classes)
            assert row.motif_total4.iloc[0] == m4.total(4)
    with pytest.raises(InputError, match=r"^motifs_signed is not yet supported on graphs with skip blocks: it "
                                         r"has skip blocks between non-consecutive layers \(0, 2\), \(1, 3\)\. .*"
                                         r"leave the others out"):
        analyze(tmp_path / "run", metrics=["degree", "motifs_signed", "modularity"], out=tmp_path / "other")
    assert not (tmp_path / "other").exists()


def test_cli_analyze_of_a_dag_run(tmp_path, capsys):
    _dag_run(tmp_path, E=1, n=2)
    assert main(["analyze", str(tmp_path / "run"), "--quiet"]) == 0
    nodes = deepcnt.Analysis(tmp_path / "run" / "analysis", 0, 0).nodes()
    assert len(nodes) == 2 * 15 and "knn" in nodes
    assert "weight_skew" in deepcnt.Analysis(tmp_path / "run" / "analysis", 0, 0).epochs()
    # the report draws every block that has weights (identity skips have none; a sparse block its kept edges),
    # and the receptive fields of the dense first block with their EMD clusters (every path: skips too)
    assert main(["report", str(tmp_path / "run"), "--rf-clusters", "--quiet"]) == 0
    report = tmp_path / "run" / "analysis" / "report"
    for name in ("weights.png", "per_epoch.png", "receptive_fields_epoch0.png", "rf_dendrogram.png",
                 "rf_cluster_means.png"):
        assert (report / name).stat().st_size > 0, name
    assert "Not drawn" not in (report / "index.html").read_text()
    capsys.readouterr()
    assert main(["analyze", str(tmp_path / "run"), "--metrics", "motifs_signed", "--out", str(tmp_path / "m")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "motifs_signed is not yet supported on graphs with skip blocks" in err[0]
    # what to use instead: the API's signed census of the block DAG, every one of its 419 sign classes
    assert err[0].endswith("Its 419 sign classes of a block DAG are counted by deepcnt.motifs(g, signed=True); "
                           "the motifs and motif_z columns work on it")
    assert len(deepcnt.motifs(EpochStore.open(tmp_path / "run").graph(0), signed=True).classes) == 419


def test_analyze_a_dag_run_with_motif_z(tmp_path, capsys):
    # motif_z is defined on block DAGs: the z of the chain's 13 classes, the loop and the 14 that need a skip
    from deepcnt.motifs.metrics import PIPELINE_DRAWS

    graphs = _dag_run(tmp_path, E=1, n=2)
    assert main(["analyze", str(tmp_path / "run"), "--metrics", "motifs,motif_z", "--threshold", "0.3",
                 "--quiet"]) == 0
    epochs = deepcnt.Analysis(tmp_path / "run" / "analysis", 0, 0).epochs()
    zcols = deepcnt.get_metric("motif_z").columns
    assert set(zcols) <= set(epochs.columns) and "motif_ffl" in epochs
    for k, g in enumerate(graphs):
        h = g.epoch(0).threshold(0.3)  # seeded per epoch: the same z whichever batch analyze puts it in
        sig = deepcnt.motif_significance(h, size=4, draws=PIPELINE_DRAWS, seed=0)
        row = epochs[epochs.entry == k]
        for col in zcols:
            np.testing.assert_allclose(row[col].iloc[0], sig.z[col[len("motifz_"):]], rtol=1e-12, err_msg=col)
    assert np.isfinite(epochs.motifz_ffl).all()


def test_analyze_a_chain_run_with_a_sparse_block_counts_motifs(tmp_path):
    # motifs and communities read sparse blocks as their kept edges; the weight moments their stored entries
    rng = np.random.default_rng(3)
    g = LayeredGraph.from_weights([SparseBlock(rng.normal(size=(4, 5)) * (rng.random((4, 5)) < 0.6)),
                                   rng.normal(size=(5, 3)).astype(np.float64)])
    with EpochStore.create_for(tmp_path / "run", g) as s:
        s.append_graph(0, g)
    a = analyze(tmp_path / "run", threshold=0.2)
    assert {"motifs", "modularity", "communities", "weight_moments"} <= set(a.metadata()["metrics"])
    h = EpochStore.open(tmp_path / "run").graph(0).threshold(0.2)
    m = deepcnt.motifs(h)
    row = a.epochs().iloc[0]
    assert all(row[f"motif_{n}"] == m[n] for n in m.classes)
    w = deepcnt.weight_moments(h)
    assert all(row[k] == pytest.approx(float(v), rel=1e-12) for k, v in w.items())
