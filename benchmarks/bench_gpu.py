"""GPU benchmarks (issue 16): each deepcnt case beside its floor, both measured in the same run on the same
device, and beside the same work on the CPU.

* Block pass: degree and strength (one fused pass), then degree, strength and k_nn (two passes: k_nn needs
  the degrees), of a 4096-4096-4096-4096 epoch stack (50.3 M edges per epoch, ``T`` epochs, float32), against
  one read of its weights (a CuPy sum over every block). Goal: within 2× for the one-pass metrics.
* Motif census (signed, 4-node) of a 2048⁴ stack against its GEMMs alone (the Gram and path products and the
  moment GEMMs, on preallocated masks). Goal: within 1.5×.
* Batched CD-1 of 64 RBMs 784×500 (one epoch, batch 100) against the five ``bmm`` per minibatch on
  preallocated tensors. Goal: within 1.3×.
* ``analyze(device="gpu")`` on a 50-epoch 784-500-500-2000 run (degree, strength, knn, motifs) against the
  same metrics on the same epochs already on the device (the kernels alone).

Every case is marked ``gpu`` (``make bench`` leaves them out). ``DEEPCNT_GPU_BENCH=tiny`` runs every case at
toy sizes on the numba.cuda simulator, to check the code paths on a machine without a device. Run with
``make gpu-check`` (one JSON of results) or
``python -m pytest benchmarks/bench_gpu.py --benchmark-only -o addopts="" -o python_files="bench_*.py" -s``.
"""
import itertools
import os

import numpy as np
import pytest

import deepcnt

pytestmark = pytest.mark.gpu

TINY = os.environ.get("DEEPCNT_GPU_BENCH") == "tiny"
REAL = deepcnt.gpu_available()
if not (REAL or TINY):
    pytest.skip("no CUDA device here (DEEPCNT_GPU_BENCH=tiny runs the cases on the simulator)",
                allow_module_level=True)

WIDE, WIDE_T = (16, 2) if TINY else (4096, 16)
MOTIF_N, MOTIF_T = (12, 2) if TINY else (2048, 2)
RBM_E, RBM_ITEMS = (4, 400) if TINY else (64, 6000)
RBM_BATCH = 100
RUN_SIZES, RUN_EPOCHS = ((20, 16, 16, 30), 4) if TINY else ((784, 500, 500, 2000), 50)
THETA = 0.05
ROUNDS = 1 if TINY else 3


def _gpu():
    return deepcnt.get_backend("gpu")


def _timed(benchmark, fn, rounds=ROUNDS):
    """Best-of-``rounds`` with the device synchronised inside the timed call."""
    be = _gpu()

    def run():
        out = fn()
        be.synchronize()
        return out

    return benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=1)


# ------------------------------------------------------------------------------------------- block pass
BLOCK = f"block pass, {WIDE}^4 x {WIDE_T} epochs ({3 * WIDE * WIDE * WIDE_T / 1e6:.0f} M float32 weights)"


@pytest.fixture(scope="module")
def wide():
    be = _gpu()
    if REAL:
        import cupy

        rs = cupy.random.default_rng(0)
        blocks = [rs.standard_normal((WIDE_T, WIDE, WIDE), dtype=cupy.float32) * 0.05 for _ in range(3)]
    else:
        rng = np.random.default_rng(0)
        blocks = [rng.standard_normal((WIDE_T, WIDE, WIDE), dtype=np.float32) * 0.05 for _ in range(3)]
    g = deepcnt.LayeredGraph.from_weights(blocks).to("gpu")  # no copy on a device (CuPy blocks already)
    assert g.backend is be
    return g


def _one_pass(g):
    h = g.threshold(THETA)  # a fresh view: nothing memoised
    return deepcnt.degree(h), deepcnt.strength(h)


def _two_pass(g):
    h = g.threshold(THETA)
    return deepcnt.degree(h), deepcnt.strength(h), deepcnt.knn(h)


def test_blockpass_floor(benchmark, record, wide):
    xp = wide.backend.xp
    _timed(benchmark, lambda: [xp.sum(W) for W in wide.blocks])
    record(BLOCK, "floor: one read of the weights (sum)", benchmark)
    nbytes = sum(W.nbytes for W in wide.blocks)
    print(f"\n  read bandwidth: {nbytes / benchmark.stats.stats.min / 1e9:.0f} GB/s")


def test_blockpass_degree_strength(benchmark, record, wide):
    _timed(benchmark, lambda: _one_pass(wide))
    record(BLOCK, "deepcnt degree+strength (GPU)", benchmark)


def test_blockpass_kernel_alone(benchmark, record, wide):
    """The fused kernel on every block with preallocated vectors: what the engine adds is the rest."""
    from deepcnt.kernels.gpu.blockpass import block_matvec

    xp = wide.backend.xp
    T, n = WIDE_T, WIDE
    theta, ones = xp.full(T, THETA), xp.ones((T, n))
    row, col = xp.empty((T, 4, n)), xp.empty((T, 4, n))
    _timed(benchmark, lambda: [block_matvec(W, theta, ones, ones, row, col) for W in wide.blocks])
    record(BLOCK, "deepcnt block_matvec kernels alone (GPU)", benchmark)


def test_blockpass_degree_strength_knn(benchmark, record, wide):
    gpu = _timed(benchmark, lambda: _two_pass(wide))
    record(BLOCK, "deepcnt degree+strength+knn (GPU)", benchmark)
    cpu = _two_pass(wide.to("cpu"))  # the timed results equal the CPU's: a device finds what a simulator cannot
    for a, b in zip(gpu, cpu):
        np.testing.assert_allclose(wide.backend.to_numpy(a), b, rtol=1e-9, atol=1e-9)


def test_blockpass_cpu(benchmark, record, wide):
    g = wide.to("cpu")
    benchmark.pedantic(lambda: _one_pass(g), rounds=1 if TINY else 2, iterations=1, warmup_rounds=1)
    record(BLOCK, "deepcnt degree+strength (CPU)", benchmark)


# ------------------------------------------------------------------------------------------- motifs
MOTIF = f"signed 4-node motif census, {MOTIF_N}^4 x {MOTIF_T} epochs"


@pytest.fixture(scope="module")
def dense_motif_graph():
    rng = np.random.default_rng(1)
    blocks = [rng.standard_normal((MOTIF_T, MOTIF_N, MOTIF_N)).astype(np.float32) for _ in range(3)]
    return deepcnt.LayeredGraph.from_weights(blocks).threshold(1.0).to("gpu")


def test_motifs_gpu(benchmark, record, dense_motif_graph):
    a = _timed(benchmark, lambda: deepcnt.motifs(dense_motif_graph, signed=True), rounds=1 if TINY else 3)
    record(MOTIF, "deepcnt motifs (GPU)", benchmark)
    b = deepcnt.motifs(dense_motif_graph.to("cpu"), signed=True)  # exact counts: equal to the CPU's
    for name in b:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]), err_msg=name)


def test_motifs_gemm_floor(benchmark, record, dense_motif_graph):
    """The census's GEMMs alone, into preallocated outputs: Gram and moments per block, path products and
    moments per pair of consecutive blocks."""
    from deepcnt.motifs.counts import _Block, edge_code_blocks

    g = dense_motif_graph
    be = g.backend
    xp, kern = be.xp, be.kernel("motifs")
    codes, k = edge_code_blocks(g, signed=True)
    blocks = [_Block(c, k, kern, xp) for c in codes]
    T = MOTIF_T
    grams = []
    for b in blocks:
        _, _, ns, nt = b.B.shape
        M = b.B if ns <= nt else xp.ascontiguousarray(b.B.transpose(0, 1, 3, 2))
        n = M.shape[2]
        grams.append((M, xp.empty((T, k * n, k * n), dtype=xp.float32)))
    paths = [(b1.B, b2.B, xp.empty((T, k * b1.B.shape[2], k * b2.B.shape[3]), dtype=xp.float32))
             for b1, b2 in zip(blocks[:-1], blocks[1:])]
    S, s = xp.empty((T, k * k, k * k)), xp.empty((T, k * k))

    def gemms():
        for M, G in grams:
            kern.gram(M, G)
            kern.block_moments(G, k, True, S, s)
        for B1, B2, P in paths:
            kern.path_products(B1, B2, P)
            kern.block_moments(P, k, False, S, s)

    _timed(benchmark, gemms, rounds=1 if TINY else 3)
    record(MOTIF, "floor: its GEMMs alone", benchmark)


def test_motifs_cpu(benchmark, record, dense_motif_graph):
    g = dense_motif_graph.to("cpu")
    benchmark.pedantic(lambda: deepcnt.motifs(g, signed=True), rounds=1, iterations=1, warmup_rounds=1)
    record(MOTIF, "deepcnt motifs (CPU)", benchmark)


# ------------------------------------------------------------------------------------------- CD-1
CD1 = f"CD-1 epoch, {RBM_E} RBMs 784x500, {RBM_ITEMS} items, batch {RBM_BATCH}"


def _torch_device():
    torch = pytest.importorskip("torch")
    if REAL and not torch.cuda.is_available():
        pytest.skip("torch here has no CUDA")
    return torch, ("cuda" if REAL else "cpu")


def _sync(torch, dev):
    if dev == "cuda":
        torch.cuda.synchronize()


def _rbms(device):
    from deepcnt.bindings.train_rbm import BatchedDBN

    rng = np.random.default_rng(0)
    data = (rng.random((RBM_ITEMS, 784)) < 0.13).astype(np.float32)
    dbn = BatchedDBN((784, 500), seeds=range(RBM_E), epochs_per_layer=1, batch_size=RBM_BATCH, device=device)
    dbn.set_data(data)
    dbn._data_for(0)
    return dbn


def test_cd1_gpu(benchmark, record):
    torch, dev = _torch_device()
    dbn = _rbms(dev)
    epochs = itertools.count(1, 0)

    def run():
        dbn.train_epoch(next(epochs))
        _sync(torch, dev)

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    record(CD1, "deepcnt batched CD-1 (GPU)", benchmark)


def test_cd1_bmm_floor(benchmark, record):
    from floors import cd1_bmm_floor

    torch, dev = _torch_device()
    gemms = cd1_bmm_floor(torch, RBM_E, 784, 500, RBM_BATCH, RBM_ITEMS, dev)
    benchmark.pedantic(gemms, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    record(CD1, "floor: the five bmm per minibatch", benchmark)


def test_cd1_cpu(benchmark, record):
    pytest.importorskip("torch")
    dbn = _rbms("cpu")
    epochs = itertools.count(1, 0)
    benchmark.pedantic(lambda: dbn.train_epoch(next(epochs)), rounds=1, iterations=1, warmup_rounds=0)
    record(CD1, "deepcnt batched CD-1 (CPU)", benchmark)


# ------------------------------------------------------------------------------------------- analyze
RUN = f"analyze, {'-'.join(map(str, RUN_SIZES))} x {RUN_EPOCHS} epochs (degree, strength, knn, motifs)"
RUN_METRICS = ["degree", "strength", "knn", "motifs"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("gpu-run") / "run"
    rng = np.random.default_rng(2)
    store = deepcnt.EpochStore.create(path, RUN_SIZES)
    for e in range(RUN_EPOCHS):
        ws = [rng.normal(0, 0.1, (a, b)).astype(np.float32) for a, b in zip(RUN_SIZES[:-1], RUN_SIZES[1:])]
        store.append(e, ws, [np.zeros(b, np.float32) for b in RUN_SIZES[1:]])
    store.close()
    return path


def _analyze(run, device, counter=itertools.count()):
    out = run.parent / f"analysis-{device}-{next(counter)}"
    deepcnt.analyze(run, metrics=RUN_METRICS, threshold=0.1, device=device, out=out)
    return out


def test_analyze_gpu(benchmark, record, run_dir):
    _timed(benchmark, lambda: _analyze(run_dir, "gpu"), rounds=1 if TINY else 3)
    record(RUN, "deepcnt analyze --device gpu", benchmark)


def test_analyze_kernels_alone(benchmark, record, run_dir):
    store = deepcnt.EpochStore.open(run_dir)
    graphs = [store.graph(i).to("gpu") for i in range(len(store))]
    store.close()

    def kernels():
        for g in graphs:
            h = g.threshold(0.1)
            for name in RUN_METRICS:
                deepcnt.get_metric(name).compute(h)

    _timed(benchmark, kernels, rounds=1 if TINY else 3)
    record(RUN, "floor: the metrics on graphs already on the device", benchmark)


def test_analyze_cpu(benchmark, record, run_dir):
    benchmark.pedantic(lambda: _analyze(run_dir, "cpu"), rounds=1, iterations=1, warmup_rounds=1)
    record(RUN, "deepcnt analyze --device cpu", benchmark)
