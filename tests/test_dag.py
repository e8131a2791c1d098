"""Block DAGs (issue 15, spec §16): blocks on any pair of layers i < j, identity/diagonal/sparse blocks.

Every metric defined on block DAGs is checked against the explicit N×N adjacency built here independently
(dense numpy, networkx) from the raw weights of random block DAGs; every other metric must refuse them.
"""
import itertools

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

import deepcnt
from deepcnt import DiagonalBlock, IdentityBlock, LayeredGraph, SparseBlock
from deepcnt.kernels.common import fold_four
from naive import degree_ref, knn_ref, strength_ref

KINDS = ("dense", "sparse", "identity", "diagonal")


def _weights(rng, shape, density, sign_mode, dtype):
    w = rng.normal(0, 1, size=shape)
    if sign_mode == "positive":
        w = np.abs(w)
    elif sign_mode == "negative":
        w = -np.abs(w)
    return (w * (rng.random(size=shape) < density)).astype(dtype)


def random_dag(rng, T=None, chain_only=False):
    """A random block DAG: ``(sizes, {pair: block}, {pair: explicit (T, n_i, n_j) float64 weights}, biases)``.

    Consecutive blocks are present with probability 0.85 (a missing one leaves a DAG that is not a chain),
    skips ``(i, j > i+1)`` with probability 0.4; each block is dense, sparse (scipy or SparseBlock), an identity
    or a diagonal (the last two where ``n_i == n_j``), with signed weights of varied density.
    """
    L = int(rng.integers(1, 6))
    widths = rng.choice([[3, 3, 3, 4], [1, 2, 5, 7], [2, 2, 6, 6]])
    sizes = [int(rng.choice(widths)) for _ in range(L + 1)]
    density = rng.choice([0.3, 0.7, 1.0])
    sign_mode = rng.choice(["mixed", "mixed", "positive", "negative"])
    dtype = rng.choice([np.float32, np.float64])
    stack = 1 if T is None else T
    pairs = [(i, i + 1) for i in range(L) if chain_only or rng.random() < 0.85]
    if not chain_only:
        pairs += [(i, j) for i in range(L) for j in range(i + 2, L + 1) if rng.random() < 0.4]
    if not pairs:
        pairs = [(0, L)]
    blocks, ref = {}, {}
    for i, j in pairs:
        ni, nj = sizes[i], sizes[j]
        kinds = KINDS if ni == nj else KINDS[:2]
        kind = rng.choice(kinds)
        if kind == "identity":
            blocks[(i, j)] = "identity" if rng.random() < 0.5 else IdentityBlock(ni)
            ref[(i, j)] = np.broadcast_to(np.eye(ni), (stack, ni, ni))
        elif kind == "diagonal":
            d = _weights(rng, (stack, ni), density, sign_mode, dtype)
            blocks[(i, j)] = DiagonalBlock(d if T else d[0])
            ref[(i, j)] = np.stack([np.diag(d[t].astype(np.float64)) for t in range(stack)])
        else:
            w = _weights(rng, (stack, ni, nj), density, sign_mode, dtype)
            ref[(i, j)] = w.astype(np.float64)
            if kind == "dense":
                blocks[(i, j)] = w if T else w[0]
            elif T:
                blocks[(i, j)] = SparseBlock([sp.csr_matrix(w[t]) for t in range(T)])
            else:
                blocks[(i, j)] = sp.csr_matrix(w[0]) if rng.random() < 0.5 else SparseBlock(w[0])
    biases = {l: rng.normal(size=(stack, sizes[l]) if T else sizes[l]) for l in range(1, L + 1)
              if rng.random() < 0.7}
    return sizes, blocks, ref, biases


def explicit(sizes, ref, pairs, theta, t):
    """The N×N directed adjacency of epoch ``t`` with kept edges ``|w| > θ`` (θ per block, in ``pairs`` order)."""
    off = np.concatenate([[0], np.cumsum(sizes)])
    A = np.zeros((off[-1], off[-1]))
    for b, (i, j) in enumerate(pairs):
        w = ref[(i, j)][t]
        A[off[i]:off[i + 1], off[j]:off[j + 1]] = np.where(np.abs(w) > theta[b], w, 0.0)
    return A


def lamalfa_explicit(A, sizes, biases, t, convention):
    s = A.sum(0) + A.sum(1)
    if convention == "cnt_dnns_code":
        off = np.concatenate([[0], np.cumsum(sizes)])
        for l, b in biases.items():
            s[off[l]:off[l + 1]] += np.asarray(b)[t] if np.ndim(b) == 2 else b
        s[:off[1]] += 1.0
        s[off[-2]:] += 1.0
    return s


def is_identity(block):
    return isinstance(block, IdentityBlock) or (isinstance(block, str) and block == "identity")


def proportional_theta(blocks, ref, pairs, rho, t):
    """θ of every block (in ``pairs`` order) of a global proportional threshold: the cut of the learnt blocks'
    weights, 0 for the identity skips (they take no part and keep their edges)."""
    cut = proportional_cut(ref, [p for p in pairs if not is_identity(blocks[p])], rho, t)
    return np.array([0.0 if is_identity(blocks[p]) else cut for p in pairs])


def proportional_cut(ref, pairs, rho, t):
    """The cut of a global proportional threshold, from the explicit weights: keep the top round(ρ·E) by |w|."""
    if not pairs:
        return 0.0
    mags = np.sort(np.concatenate([np.abs(ref[p][t]).ravel() for p in pairs]))[::-1]
    mags = mags[mags > 0]
    k = int(round(rho * mags.size))
    return 0.0 if k >= mags.size else mags[k]


def _check_epoch(g, sizes, ref, biases, t, theta):
    """Every DAG metric of epoch ``t`` of ``g`` against the explicit graph."""
    A = explicit(sizes, ref, g.pairs, theta, t)
    pick = (lambda a: a[t]) if g.stacked else (lambda a: a)
    for direction in ("all", "in", "out"):
        for sign in ("all", "positive", "negative"):
            np.testing.assert_array_equal(pick(deepcnt.degree(g, direction, sign)), degree_ref(A, direction, sign))
        for sign in ("net", "positive", "negative", "abs"):
            np.testing.assert_allclose(pick(deepcnt.strength(g, direction, sign)), strength_ref(A, direction, sign),
                                       rtol=1e-12, atol=1e-12)
    assert (g.n_edges[t] if g.stacked else g.n_edges) == np.count_nonzero(A)
    np.testing.assert_allclose(pick(deepcnt.knn(g)), knn_ref(A), rtol=1e-12)
    for weight in ("abs", "positive", "negative"):
        np.testing.assert_allclose(pick(deepcnt.knn(g, weighted=True, sign=weight)),
                                   knn_ref(A, weighted=True, sign=weight), rtol=1e-9, atol=1e-12)
    for source, target in (("out", "in"), ("in", "out"), ("in+out", "in")):
        np.testing.assert_allclose(pick(deepcnt.knn(g, source=source, target=target)),
                                   knn_ref(A, source=source, target=target), rtol=1e-12)
    for convention in ("cnt_dnns_code", "plain"):
        s = lamalfa_explicit(A, sizes, biases, t, convention)
        np.testing.assert_allclose(pick(deepcnt.nodes_strength(g, convention)), s, rtol=1e-12, atol=1e-12)
        phi = [s[g.layer_slice(l)].std() for l in range(g.n_layers)]
        np.testing.assert_allclose(pick(deepcnt.layers_fluctuation(g, convention)), phi, rtol=1e-9, atol=1e-12)
    epoch = t if g.stacked else None
    np.testing.assert_allclose(g.to_scipy(epoch=epoch).toarray(), A)
    np.testing.assert_allclose(g.to_scipy(directed=False, epoch=epoch, sign="abs").toarray(), np.abs(A + A.T))
    G = g.to_networkx(epoch=epoch)
    H = nx.from_numpy_array(A, create_using=nx.DiGraph)
    assert sorted(G.edges) == sorted(H.edges)
    assert all(G.edges[e]["weight"] == pytest.approx(H.edges[e]["weight"]) for e in H.edges)


@pytest.mark.parametrize("seed", range(24))
def test_dag_metrics_against_explicit_graph(seed):
    rng = np.random.default_rng(seed)
    T = [None, None, 2, 3][seed % 4]
    sizes, blocks, ref, biases = random_dag(rng, T)
    g = LayeredGraph.from_blocks(sizes, blocks, biases=biases)
    assert g.sizes == tuple(sizes) and g.pairs == tuple(sorted(blocks)) and g.n_epochs == T
    nt = T or 1
    rule = seed % 3
    if rule == 0:
        th = np.zeros(g.n_blocks)
        theta = np.repeat(th[:, None], nt, axis=1)
    elif rule == 1:
        th = rng.choice([0.2, 0.7, 1.0, 1.5], size=g.n_blocks)  # 1.0 and above drop the identity skips
        g = g.threshold(th)
        theta = np.repeat(th[:, None], nt, axis=1)
    else:
        rho = float(rng.choice([0.1, 0.4, 0.75]))
        g = g.threshold(rho, mode="proportional")
        theta = np.stack([proportional_theta(blocks, ref, g.pairs, rho, t) for t in range(nt)], axis=1)
        np.testing.assert_allclose(g.theta, theta)
    for t in range(nt):
        _check_epoch(g, sizes, ref, biases, t, theta[:, t])


@pytest.mark.parametrize("seed", range(6))
def test_per_block_proportional_and_stack_round_trip(seed):
    rng = np.random.default_rng(100 + seed)
    sizes, blocks, ref, biases = random_dag(rng)
    g = LayeredGraph.from_blocks(sizes, blocks, biases=biases).threshold(0.5, mode="proportional", per_block=True)
    for b, p in enumerate(g.pairs):  # each block keeps the top half of its own non-zero weights
        mags = np.abs(ref[p][0]).ravel()
        kept = np.count_nonzero(mags > g.theta[b, 0])
        if is_identity(blocks[p]):  # a skip keeps every edge (a tie of equal weights would drop them all)
            assert g.theta[b, 0] == 0 and kept == sizes[p[0]]
        else:
            assert kept == np.count_nonzero(mags > proportional_cut(ref, [p], 0.5, 0))
    st = LayeredGraph.stack([g, g.threshold(0.3), g])
    assert st.pairs == g.pairs and st.n_epochs == 3
    for t, h in enumerate([g, g.threshold(0.3), g]):
        np.testing.assert_allclose(st.epoch(t).to_scipy().toarray(), h.to_scipy().toarray())
        np.testing.assert_allclose(deepcnt.knn(st)[t], deepcnt.knn(h))
        np.testing.assert_allclose(deepcnt.nodes_strength(st)[t], deepcnt.nodes_strength(h))


def test_residual_example_by_hand():
    W1 = np.array([[1.0, -2.0], [0.5, 0.0]])
    W2 = np.array([[3.0, 0.0], [0.0, -1.0]])
    g = LayeredGraph.from_blocks([2, 2, 2], {(0, 1): W1, (1, 2): W2, (0, 2): "identity"})
    assert g.pairs == ((0, 1), (0, 2), (1, 2)) and not g.is_chain and g.skip_pairs == ((0, 2),)
    # x0 -> h0 (1), h1 (-2) and y0 (1, the skip); x1 -> h0 (0.5), y1 (1); h0 -> y0 (3); h1 -> y1 (-1)
    np.testing.assert_array_equal(deepcnt.degree(g, "out"), [3, 2, 1, 1, 0, 0])
    np.testing.assert_allclose(deepcnt.strength(g, "in"), [0, 0, 1.5, -2, 4, 0])
    assert g.n_edges == 3 + 2 + 2
    np.testing.assert_allclose(g.block(0, 2).d, np.ones((1, 2)))
    np.testing.assert_array_equal(g.block(0, 1), W1)
    with pytest.raises(deepcnt.InputError, match="no block joins layers 1 and 0"):
        g.block(1, 0)
    assert "blocks=[(0, 1), (0, 2), (1, 2)]" in repr(g)


def test_chain_from_blocks_is_from_weights():
    rng = np.random.default_rng(5)
    sizes, blocks, ref, biases = random_dag(rng, chain_only=True)
    blocks = {p: ref[p][0] for p in blocks}  # dense only
    a = LayeredGraph.from_blocks(sizes, blocks, biases=biases)
    L = len(sizes) - 1
    b = LayeredGraph.from_weights([blocks[(l, l + 1)] for l in range(L)],
                                  biases=[biases.get(l) for l in range(1, L + 1)] if biases else None)
    assert a.is_chain and a.pairs == b.pairs and a.sizes == b.sizes
    for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
        x, y = deepcnt.get_metric(name).compute(a), deepcnt.get_metric(name).compute(b)
        for col in x:
            np.testing.assert_array_equal(x[col], y[col], err_msg=col)
    np.testing.assert_array_equal(a.dense_block(0), b.dense_block(0))
    deepcnt.motifs(a, size=3)  # a chain is a chain, whichever constructor


@pytest.fixture(scope="module")
def skip_graph():
    rng = np.random.default_rng(3)
    W = [rng.normal(size=(4, 4)) for _ in range(3)]
    return LayeredGraph.from_blocks([4, 4, 4, 4], {(0, 1): W[0], (1, 2): W[1], (2, 3): W[2], (1, 3): "identity"})


REFUSALS = {
    "degree_motifs": lambda g: deepcnt.degree_motifs(g),
    "channel_graph": lambda g: deepcnt.channel_graph(g),
    "dense_block": lambda g: g.dense_block(0),
    "metric 'motifs_signed'": lambda g: deepcnt.get_metric("motifs_signed").compute(g),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_other_metrics_refuse_skip_blocks(skip_graph, name):
    with pytest.raises(deepcnt.InputError, match=rf"^{name} is not yet supported on graphs with skip blocks: it "
                                                 r"has skip blocks between non-consecutive layers \(1, 3\)"):
        REFUSALS[name](skip_graph)


def test_registry_marks_the_dag_metrics():
    dag = {m.name for m in deepcnt.REGISTRY.values() if m.skips}
    assert dag == {"degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation", "modularity", "communities",
                   "weight_moments", "motifs", "motif_z"}


def test_refusal_of_a_dag_without_skips():
    g = LayeredGraph.from_blocks([2, 3, 2, 2], {(0, 1): np.ones((2, 3)), (2, 3): np.ones((2, 2))})
    assert not g.is_chain and g.skip_pairs == ()
    np.testing.assert_array_equal(deepcnt.degree(g), [3, 3, 2, 2, 2, 2, 2, 2, 2])
    with pytest.raises(deepcnt.InputError, match=r"degree_motifs is not yet supported .* do not form a chain"):
        deepcnt.degree_motifs(g)


def test_store_refuses_block_kinds_it_cannot_hold(tmp_path):
    class Mystery(deepcnt.model.ImplicitBlock):
        shape = (1, 3, 2)

    with pytest.raises(deepcnt.InputError, match="the epoch store does not yet hold Mystery blocks"):
        deepcnt.EpochStore.create(tmp_path / "run", (3, 2), blocks=[Mystery()])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("blocks, match", [
    ({(1, 0): np.ones((2, 2))}, r"does not go forward between layers 0..2"),
    ({(0, 3): np.ones((2, 2))}, r"does not go forward"),
    ({(0, 1): np.ones((2, 3))}, r"blocks\[\(0, 1\)\] has shape \(2, 3\) but layers 0 and 1 have 2 and 2 nodes"),
    ({(0, 1): np.ones((2, 2)), (0, 2): "identity"}, r"blocks\[\(0, 2\)\] has shape \(2, 2\) but layers 0 and 2"),
    ({(0, 1): "eye"}, r"the only named block is 'identity'"),
    ({(0, 1): np.ones((2, 2)), (1, 2): np.ones((2, 2, 4))}, "mix 2-D blocks and 3-D epoch stacks"),
    ({(0, 1): np.ones((2, 2, 2)), (1, 2): np.ones((3, 2, 4))}, "different numbers of epochs"),
    ({(0, 1): np.array([[np.nan, 1.0], [1.0, 1.0]])}, r"blocks\[\(0, 1\)\] holds 1 NaN weight"),
    ({}, "blocks is empty"),
    ({(0,): np.ones((2, 2))}, "is not a pair of layers"),
])
def test_from_blocks_input_errors(blocks, match):
    with pytest.raises(deepcnt.InputError, match=match):
        LayeredGraph.from_blocks([2, 2, 4], blocks)


def test_from_blocks_other_input_errors():
    with pytest.raises(deepcnt.InputError, match="layer 1 has 0 nodes"):
        LayeredGraph.from_blocks([2, 0], {(0, 1): np.ones((2, 0))})
    with pytest.raises(deepcnt.InputError, match="must be a dict"):
        LayeredGraph.from_blocks([2, 2], [np.ones((2, 2))])
    with pytest.raises(deepcnt.InputError, match=r"biases has 1 entries for layers 1..2"):
        LayeredGraph.from_blocks([2, 2, 2], {(0, 2): "identity"}, biases=[np.ones(2)])
    with pytest.raises(deepcnt.InputError, match=r"biases has keys \[0\]"):
        LayeredGraph.from_blocks([2, 2, 2], {(0, 2): "identity"}, biases={0: np.ones(2)})
    with pytest.raises(deepcnt.InputError, match="cannot stack graphs with blocks on"):
        a = LayeredGraph.from_blocks([2, 2, 2], {(0, 2): "identity"})
        LayeredGraph.stack([a, LayeredGraph.from_blocks([2, 2, 2], {(0, 1): "identity"})])
    with pytest.raises(deepcnt.InputError, match="holds NaN or infinite"):
        SparseBlock(sp.csr_matrix(np.array([[np.inf, 1.0]])))
    with pytest.raises(deepcnt.InputError, match="epoch 1 of a sparse block has shape"):
        SparseBlock([np.ones((2, 2)), np.ones((2, 3))])
    with pytest.raises(deepcnt.InputError, match="a diagonal block has shape"):
        DiagonalBlock(np.ones((2, 2, 2)))


def test_sparse_block_keeps_only_stored_entries():
    m = sp.csr_matrix((np.array([1.0, 2.0, 0.0, -3.0]), (np.array([0, 0, 1, 2]), np.array([1, 1, 0, 2]))),
                      shape=(3, 3))  # a duplicate (summed) and an explicit zero (dropped)
    b = SparseBlock(m)
    assert b.nnz.tolist() == [2] and b.indices.dtype == np.int32
    g = LayeredGraph.from_blocks([3, 3], {(0, 1): b})
    np.testing.assert_allclose(g.to_scipy().toarray()[:3, 3:], [[0, 3, 0], [0, 0, 0], [0, 0, -3]])
    s = LayeredGraph.stack([g, g.threshold(2.5)])
    assert isinstance(s.blocks[0], SparseBlock) and s.n_edges.tolist() == [2, 2]
    assert s.epoch(1).blocks[0].nnz.tolist() == [2]


def test_sparse_pattern_pass_where_every_entry_is_kept():
    """k_nn's count reads the indices alone (``data=None``) only where every stored entry of every epoch is
    kept: the same sums as the weights' pass, on both twins; at a θ reaching some stored |w|, the weights."""
    from deepcnt.kernels.cpu import sparse as kcpu
    from deepcnt.kernels.gpu import sparse as kgpu

    rng = np.random.default_rng(5)
    W = _weights(rng, (3, 9, 7), 0.4, "mixed", np.float32)
    W[1, 4] = 0.0  # an empty row
    W[2] = 0.0  # an empty epoch
    b = SparseBlock([W[t] for t in range(3)])
    smallest = min(float(np.abs(W[t][W[t] != 0]).min()) for t in range(2))
    assert b.keeps_all(np.zeros(3)) and b.keeps_all(np.full(3, smallest * 0.99))
    assert not b.keeps_all(np.full(3, smallest)) and not b.keeps_all(np.array([0.0, smallest, 0.0]))
    x_row, x_col = rng.random((3, 9)), rng.random((3, 7))
    for mod in (kcpu, kgpu):
        outs = []
        for data in (b.data, None):
            row, col = np.full((3, 9), np.nan), np.full((3, 7), np.nan)
            mod.csr_matvec(b.indptr, b.indices, data, np.zeros(3), x_row, x_col, row, col, "count")
            outs.append((row, col))
        A = (W != 0) * 1.0
        np.testing.assert_allclose(outs[1][0], np.einsum("tij,tj->ti", A, x_col), rtol=1e-12)
        np.testing.assert_allclose(outs[1][1], np.einsum("tij,ti->tj", A, x_row), rtol=1e-12)
        np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12)
        with pytest.raises(ValueError, match="only fold='count'"):
            mod.csr_matvec(b.indptr, b.indices, None, np.zeros(3), x_row, x_col, row, col, "abs")
    g = LayeredGraph.from_blocks([9, 7], {(0, 1): b})
    for theta in (0.0, smallest):  # the pattern pass, then the weights' pass (the smallest |w| is cut)
        h = g.threshold(theta)
        want = np.stack([knn_ref(explicit([9, 7], {(0, 1): W.astype(np.float64)}, h.pairs, [theta], t))
                         for t in range(3)])
        np.testing.assert_allclose(deepcnt.knn(h), want, rtol=1e-12)


# ------------------------------------------------------------------ GPU twins (simulator)
@pytest.mark.parametrize("parallel_min", [0, 1 << 40], ids=["parallel", "serial"])
def test_csr_kernel_twins_against_dense(monkeypatch, parallel_min):
    from deepcnt.kernels import config
    from deepcnt.kernels.cpu import sparse as kcpu
    from deepcnt.kernels.gpu import sparse as kgpu

    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", parallel_min)
    rng = np.random.default_rng(11)
    T, ns, nt = 3, 7, 5
    W = _weights(rng, (T, ns, nt), 0.5, "mixed", np.float64)
    W[1, 2] = 0.0  # an empty row
    b = SparseBlock([W[t] for t in range(T)])
    theta = np.array([0.0, 0.4, 1.1])
    x_row, x_col = rng.random((T, ns)), rng.random((T, nt))
    for mod in (kcpu, kgpu):
        row, col = np.full((T, 4, ns), np.nan), np.full((T, 4, nt), np.nan)
        mod.csr_matvec(b.indptr, b.indices, b.data, theta, x_row, x_col, row, col)
        for t in range(T):
            th = theta[t]
            chans = [(W[t] > th) * 1.0, (W[t] < -th) * 1.0]
            chans += [W[t] * chans[0], -W[t] * chans[1]]
            for c, B in enumerate(chans):
                np.testing.assert_allclose(row[t, c], B @ x_col[t], rtol=1e-12, atol=1e-15)
                np.testing.assert_allclose(col[t, c], x_row[t] @ B, rtol=1e-12, atol=1e-15)


def _csr_channels_ref(indptr, indices, data, theta, x_row, x_col, nt):
    """The four channel mat-vecs of a raw CSR stack from its dense matrices (numpy, float64)."""
    T, ns = indptr.shape[0], indptr.shape[1] - 1
    row, col = np.zeros((T, 4, ns)), np.zeros((T, 4, nt))
    for t in range(T):
        W = np.zeros((ns, nt))
        for i in range(ns):
            e = slice(indptr[t, i], indptr[t, i + 1])
            W[i, indices[e]] = data[e]  # each row's columns are distinct
        th = theta[t]
        chans = [(W > th) * 1.0, (W < -th) * 1.0]
        chans += [W * chans[0], -W * chans[1]]
        for c, B in enumerate(chans):
            row[t, c], col[t, c] = B @ x_col[t], x_row[t] @ B
    return row, col


@pytest.mark.parametrize("seed", range(6))
def test_csr_kernel_chunks_dtypes_and_thresholds(seed):
    """The CPU CSR pass against dense numpy on random sparse stacks: every row chunking (one chunk, several,
    one per row), float32/float64 data, int32/int64 indices, empty rows, stored zeros and weights at exactly
    ±θ (not kept), one-signed and mixed blocks, epochs with different entries; the GPU twin (simulator) on the
    same small inputs."""
    from deepcnt.kernels.cpu import sparse as kcpu
    from deepcnt.kernels.gpu import sparse as kgpu

    rng = np.random.default_rng(300 + seed)
    T, ns, nt = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 30))
    W = _weights(rng, (T, ns, nt), rng.choice([0.05, 0.3, 0.9]), ["mixed", "positive", "negative"][seed % 3],
                 np.float64)
    W[:, rng.random(ns) < 0.2] = 0.0  # empty rows
    theta = rng.choice([0.0, 0.3, 1.0], size=T)
    ptrs, idx, dat = [], [], []
    for t in range(T):
        m = sp.csr_matrix(W[t])
        m.data[::7] = np.where(rng.random(m.data[::7].size) < 0.5, theta[t], -theta[t])  # on the threshold
        if m.nnz:
            m.data[0] = 0.0  # a stored zero is no edge
        ptrs.append(m.indptr + sum(len(d) for d in dat))
        idx.append(m.indices)
        dat.append(m.data)
    indptr = np.stack(ptrs).astype(np.int64)
    indices = np.concatenate(idx).astype([np.int32, np.int64][seed % 2])
    data = np.concatenate(dat).astype([np.float32, np.float64][(seed // 2) % 2])
    theta = theta.astype(np.float32).astype(np.float64)  # ±θ exactly representable in float32 data
    x_row, x_col = rng.random((T, ns)), rng.random((T, nt))
    ref = _csr_channels_ref(indptr, indices, data.astype(np.float64), theta, x_row, x_col, nt)
    runs = [lambda r, c: kcpu.csr_matvec(indptr, indices, data, theta, x_row, x_col, r, c),
            lambda r, c: kgpu.csr_matvec(indptr, indices, data, theta, x_row, x_col, r, c)]
    runs += [lambda r, c, k=k: kcpu._matvec(indptr, indices, data, theta, x_row, x_col, r, c, None, False, k)
             for k in sorted({1, min(3, ns), ns})]
    for run in runs:
        row, col = np.full((T, 4, ns), np.nan), np.full((T, 4, nt), np.nan)
        run(row, col)
        np.testing.assert_allclose(row, ref[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(col, ref[1], rtol=1e-12, atol=1e-12)
    # the folds, written or added into strided slices of wider arrays (as the block pass hands them)
    for fold, add in itertools.product(("count", "abs", "count+net"), (False, True)):
        want = [fold_four(r, fold) for r in ref]
        for nchunks in sorted({1, min(3, ns), ns}):
            for mod in ("cpu", "gpu"):
                outs = [np.full(w.shape[:-1] + (w.shape[-1] + 2,), 0.5 if add else np.nan) for w in want]
                row, col = (o[..., 1:-1] for o in outs)
                if mod == "cpu":
                    kcpu._matvec(indptr, indices, data, theta, x_row, x_col, row, col, fold, add, nchunks)
                else:
                    kgpu.csr_matvec(indptr, indices, data, theta, x_row, x_col, row, col, fold, add)
                for o, w in zip(outs, want):
                    np.testing.assert_allclose(o[..., 1:-1], w + 0.5 if add else w, rtol=1e-12, atol=1e-12)
                    assert (o[..., [0, -1]] == 0.5).all() if add else np.isnan(o[..., [0, -1]]).all()


@pytest.mark.parametrize("T", [None, 2])
def test_dag_cpu_vs_gpu_simulator(T):
    rng = np.random.default_rng(21)
    sizes = [3, 3, 4, 3]
    d = _weights(rng, (T or 1, 3), 1.0, "mixed", np.float32)
    blocks = {(0, 1): DiagonalBlock(d if T else d[0]),
              (1, 2): SparseBlock([_weights(rng, (3, 4), 0.6, "mixed", np.float64) for _ in range(T or 1)])
              if T else sp.csr_matrix(_weights(rng, (3, 4), 0.6, "mixed", np.float64)),
              (2, 3): _weights(rng, (T, 4, 3) if T else (4, 3), 1.0, "mixed", np.float64),
              (0, 3): "identity", (1, 3): "identity"}
    g = LayeredGraph.from_blocks(sizes, blocks, biases=[None, np.ones(4), None]).threshold(0.3)
    gg = g.to("gpu")
    assert gg.backend.name in ("gpu-sim", "gpu") and gg.pairs == g.pairs
    for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
        metric = deepcnt.get_metric(name)
        a, b = metric.compute(g), metric.compute(gg)
        for col in metric.columns:
            np.testing.assert_allclose(gg.backend.to_numpy(b[col]), a[col], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name}.{col}")
    for t in range(T or 1):
        e = t if T else None
        np.testing.assert_allclose(gg.to_scipy(epoch=e).toarray(), g.to_scipy(epoch=e).toarray())
    back = gg.to("cpu")
    np.testing.assert_allclose(deepcnt.strength(back), deepcnt.strength(g))


@pytest.mark.parametrize("seed", range(4))
def test_to_sparse_keeps_every_metric(seed):
    rng = np.random.default_rng(200 + seed)
    sizes, blocks, ref, biases = random_dag(rng, T=[None, 2][seed % 2])
    g = LayeredGraph.from_blocks(sizes, blocks, biases=biases).threshold(0.6)
    s = g.to_sparse()
    for b, d, th in zip(s.blocks, g.blocks, g.theta):
        if isinstance(d, np.ndarray):  # each dense block becomes CSR of its kept edges, and only those
            assert isinstance(b, SparseBlock)
            assert b.nnz.tolist() == [int((np.abs(d[t]) > th[t]).sum()) for t in range(d.shape[0])]
        else:
            assert b is d
    for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
        a, b = deepcnt.get_metric(name).compute(g), deepcnt.get_metric(name).compute(s)
        for col in a:
            np.testing.assert_allclose(b[col], a[col], rtol=1e-12, atol=1e-12, err_msg=col)
    kept = g.to_sparse(max_density=0.0)  # only blocks left empty by the threshold are converted
    for b, d, th in zip(kept.blocks, g.blocks, g.theta):
        if isinstance(d, np.ndarray) and (np.abs(d) > th[:, None, None]).any():
            assert b is d


def test_chain_of_sparse_blocks_refuses_edge_metrics_with_a_hint():
    g = LayeredGraph.from_weights([SparseBlock(np.eye(3)), np.ones((3, 2))])
    assert g.is_chain and g.n_edges == 9
    with pytest.raises(deepcnt.InputError, match="dense_block needs explicit edges but block 0 is an "
                                                 "implicit SparseBlock: degree, strength, knn"):
        g.dense_block(0)


def test_chain_of_sparse_blocks_counts_motifs_as_the_dense_chain():
    # motifs read a sparse (identity, diagonal) block as the dense stack of its kept edges (kept_stack)
    d = LayeredGraph.from_weights([np.eye(3) - 0.5 * np.ones((3, 3)), np.ones((3, 2))]).threshold(0.2)
    g = LayeredGraph.from_weights([SparseBlock(np.eye(3) - 0.5 * np.ones((3, 3))), np.ones((3, 2))]).threshold(0.2)
    a, b = deepcnt.motifs(d, signed=True), deepcnt.motifs(g, signed=True)
    assert a.classes == b.classes and all(a[n] == b[n] for n in a.classes)
    a, b = deepcnt.motif_intensity(d)[0], deepcnt.motif_intensity(g)[0]
    assert all(a[s] == pytest.approx(b[s], rel=1e-12) for s in a)
    a, b = deepcnt.motif_participation(d), deepcnt.motif_participation(g)
    assert all((a[s] == b[s]).all() for s in a)
    with pytest.raises(deepcnt.InputError, match="motifs needs explicit edges but block 0 is an implicit ConvBlock"):
        deepcnt.motifs(LayeredGraph.from_weights([deepcnt.ConvBlock(np.ones((1, 1, 2, 2)), (1, 3, 3)),
                                                  np.ones((4, 2))]))


def test_igraph_export_of_a_dag():
    ig = pytest.importorskip("igraph")
    g = LayeredGraph.from_blocks([2, 3, 2], {(0, 1): np.ones((2, 3)), (0, 2): DiagonalBlock([2.0, -1.0]),
                                             (1, 2): sp.csr_matrix(np.array([[1.0, 0], [0, 0], [0, -3.0]]))})
    G = g.to_igraph()
    assert isinstance(G, ig.Graph) and G.ecount() == g.n_edges == 10
    ones = [((i, j), 1.0) for i in (0, 1) for j in (2, 3, 4)]
    assert sorted(zip(G.get_edgelist(), G.es["weight"])) == sorted(
        ones + [((0, 5), 2.0), ((1, 6), -1.0), ((2, 5), 1.0), ((4, 6), -3.0)])


def test_strength_histograms_of_a_dag():
    g = LayeredGraph.from_blocks([2, 3, 2], {(0, 1): np.ones((2, 3)), (0, 2): "identity", (1, 2): np.ones((3, 2))})
    counts, edges = deepcnt.strength_histograms(g, bins=4, value_range=(0, 8))
    s = deepcnt.strength(g)  # inputs 3 + 1, hidden 2 + 2, outputs 3 + 1
    assert s.tolist() == [4.0] * 7
    assert [c.sum() for c in counts] == [2, 3, 2] and counts[0][0].tolist() == [0, 0, 2, 0]


def test_residual_conv_unit_against_explicit_graph():
    """x -> conv -> BN scale (diagonal, per channel) -> conv -> y, plus the identity skip x -> y (a BasicBlock)."""
    torch = pytest.importorskip("torch")
    from naive_conv import layer_dense

    from deepcnt import ConvBlock

    torch.manual_seed(0)
    shape = (2, 4, 3)
    c1, c2 = (torch.nn.Conv2d(2, 2, 3, padding=1, bias=False) for _ in range(2))
    gamma = np.array([1.5, -0.5])
    n = int(np.prod(shape))
    blocks = {(0, 1): ConvBlock(c1.weight.detach().numpy(), shape, padding=1),
              (1, 2): DiagonalBlock(np.repeat(gamma, 12)),
              (2, 3): ConvBlock(c2.weight.detach().numpy(), shape, padding=1),
              (0, 3): "identity"}
    g = LayeredGraph.from_blocks([n] * 4, blocks).threshold(0.1)
    D1, D2 = layer_dense(c1, shape)[0], layer_dense(c2, shape)[0]
    ref = {(0, 1): D1[None], (1, 2): np.diag(np.repeat(gamma, 12))[None], (2, 3): D2[None], (0, 3): np.eye(n)[None]}
    _check_epoch(g, [n] * 4, ref, {}, 0, np.full(4, 0.1))


def test_per_channel_diagonal_and_dense_stack_to_sparse():
    d = DiagonalBlock.per_channel(np.array([[1.0, -2.0], [0.5, 0.0]]), (2, 2, 1))
    assert d.stacked and d.d.tolist() == [[1.0, 1.0, -2.0, -2.0], [0.5, 0.5, 0.0, 0.0]]
    with pytest.raises(deepcnt.InputError, match="the units have 3 channels"):
        DiagonalBlock.per_channel(np.ones(2), (3, 1, 1))
    W = np.array([[[0.0, 1.0], [2.0, 0.0]], [[3.0, 0.0], [0.0, 0.0]]])
    b = SparseBlock(W)
    assert b.stacked and b.nnz.tolist() == [2, 1]
    g = LayeredGraph.from_blocks([2, 2, 4], {(0, 1): b, (1, 2): np.ones((2, 2, 4)), (0, 2): np.ones((2, 2, 4))})
    assert g.n_edges.tolist() == [2 + 8 + 8, 1 + 8 + 8]
    h = LayeredGraph.from_blocks([4, 4], {(0, 1): d})
    np.testing.assert_array_equal(deepcnt.strength(h, "out"), [[1, 1, -2, -2, 0, 0, 0, 0], [0.5, 0.5, 0, 0, 0, 0, 0, 0]])
