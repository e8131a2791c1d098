"""Training and the epoch store (issue 3).

* One CD-1 epoch of each ``testolin-dbn`` layer (784-500, 500-500, 500-2000; batch 100) on MNIST-shaped
  random binary data, against the floor: the five GEMMs of each minibatch (v0·W, h0·Wᵀ, v1·W, v0ᵀ·p0,
  v1ᵀ·p1) timed alone on preallocated tensors. Goal: within 1.5× of the floor. ``N_ITEMS`` items per epoch
  (a tenth of MNIST's 60,000 keeps the run short; the cost is linear in the items).
* An ensemble of 16 small MLPs (64-32-10 on the bundled digits, one epoch, batch 32) trained batched versus 16
  sequential single runs.
* Store append and single-epoch read of a 784-500-500-2000 network (float32 blocks and biases) versus raw
  ``np.save``/``np.load`` of the same arrays. Goal: within 2×.

torch runs on one thread (the machine has 2 cores shared with other jobs). Run:
``.venv/bin/python -m pytest benchmarks/bench_train.py --benchmark-only -o addopts="" -s``.
"""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from deepcnt.bindings.train_mlp import BatchedMLP  # noqa: E402
from floors import cd1_bmm_floor  # noqa: E402
from deepcnt.bindings.train_rbm import BatchedDBN  # noqa: E402
from deepcnt.runs.store import EpochStore  # noqa: E402

DBN = (784, 500, 500, 2000)
N_ITEMS = 6000
BATCH = 100
LAYERS = [(0, 784, 500), (1, 500, 500), (2, 500, 2000)]


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    return (rng.random((N_ITEMS, 784)) < 0.13).astype(np.float32)  # MNIST's share of "on" pixels


def _dbn_at_layer(layer, data):
    """A DBN whose layer ``layer`` is about to train (its input data precomputed, as during training)."""
    dbn = BatchedDBN(DBN, seeds=[0], epochs_per_layer=1, batch_size=BATCH).set_data(data)
    dbn._data_for(layer)
    return dbn


@pytest.mark.parametrize("layer,nv,nh", LAYERS, ids=[f"{a}-{b}" for _, a, b in LAYERS])
def test_cd1_epoch_deepcnt(benchmark, record, binary_data, layer, nv, nh):
    dbn = _dbn_at_layer(layer, binary_data)
    epochs = itertools.count(layer + 1, 0)  # always the same layer
    benchmark.pedantic(lambda: dbn.train_epoch(next(epochs)), rounds=3, iterations=1, warmup_rounds=1)
    record(f"CD-1 epoch, layer {nv}-{nh}, {N_ITEMS} items", "deepcnt CD-1 epoch", benchmark)


@pytest.mark.parametrize("layer,nv,nh", LAYERS, ids=[f"{a}-{b}" for _, a, b in LAYERS])
def test_cd1_epoch_gemm_floor(benchmark, record, layer, nv, nh):
    gemms = cd1_bmm_floor(torch, 1, nv, nh, BATCH, N_ITEMS)
    benchmark.pedantic(gemms, rounds=3, iterations=1, warmup_rounds=1)
    record(f"CD-1 epoch, layer {nv}-{nh}, {N_ITEMS} items", "GEMM floor, bmm into buffers", benchmark)


@pytest.mark.parametrize("layer,nv,nh", LAYERS, ids=[f"{a}-{b}" for _, a, b in LAYERS])
def test_cd1_epoch_gemm_floor_2d(benchmark, record, layer, nv, nh):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(nv, nh, generator=g) * 0.1
    v0 = torch.rand(BATCH, nv, generator=g)
    h0 = torch.rand(BATCH, nh, generator=g)

    def gemms():
        for _ in range(N_ITEMS // BATCH):
            p0 = v0 @ W
            v1 = h0 @ W.T
            p1 = v1 @ W
            v0.T @ p0
            v1.T @ p1

    benchmark.pedantic(gemms, rounds=3, iterations=1, warmup_rounds=1)
    record(f"CD-1 epoch, layer {nv}-{nh}, {N_ITEMS} items", "GEMM floor, 2-D matmul", benchmark)


@pytest.fixture(scope="module")
def digits():
    from deepcnt.bindings.datasets import load_dataset

    return load_dataset("digits")


MLP_KW = dict(activation="relu", init="glorot", lr=0.05, momentum=0.9, batch_size=32)


def test_ensemble16_batched(benchmark, record, digits):
    m = BatchedMLP((64, 32, 10), seeds=range(16), **MLP_KW).set_data(digits.x_train, digits.y_train)
    benchmark.pedantic(m.train_epoch, rounds=5, iterations=1, warmup_rounds=1)
    record("16 MLPs 64-32-10, one epoch on digits", "deepcnt batched (E=16)", benchmark)


def test_ensemble16_sequential(benchmark, record, digits):
    ms = [BatchedMLP((64, 32, 10), seeds=[s], **MLP_KW).set_data(digits.x_train, digits.y_train) for s in range(16)]

    def run():
        for m in ms:
            m.train_epoch()

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    record("16 MLPs 64-32-10, one epoch on digits", "16 sequential runs (E=1)", benchmark)


@pytest.fixture(scope="module")
def net_arrays():
    rng = np.random.default_rng(0)
    ws = [rng.normal(0, 0.1, (a, b)).astype(np.float32) for a, b in zip(DBN[:-1], DBN[1:])]
    bs = [rng.normal(0, 0.1, b).astype(np.float32) for b in DBN[1:]]
    return ws, bs


def test_store_append(benchmark, record, tmp_path, net_arrays):
    ws, bs = net_arrays
    store = EpochStore.create(tmp_path / "run", DBN)
    epochs = itertools.count()
    benchmark.pedantic(lambda: store.append(next(epochs), ws, bs), rounds=20, iterations=1, warmup_rounds=2)
    store.close()
    record("append one epoch of 784-500-500-2000", "deepcnt EpochStore.append", benchmark)


def test_np_save(benchmark, record, tmp_path, net_arrays):
    ws, bs = net_arrays
    counter = itertools.count()

    def save():
        e = next(counter)
        for i, a in enumerate(ws + bs):
            np.save(tmp_path / f"{e}_{i}.npy", a)

    benchmark.pedantic(save, rounds=20, iterations=1, warmup_rounds=2)
    record("append one epoch of 784-500-500-2000", "np.save of the same arrays", benchmark)


def test_store_read_one_epoch(benchmark, record, tmp_path, net_arrays):
    ws, bs = net_arrays
    store = EpochStore.create(tmp_path / "run", DBN)
    for e in range(20):
        store.append(e, ws, bs)
    store.close()
    reader = EpochStore.open(tmp_path / "run")
    idx = itertools.cycle(range(20))
    benchmark.pedantic(lambda: reader.read_arrays(next(idx)), rounds=20, iterations=1, warmup_rounds=2)
    record("read one epoch of 784-500-500-2000", "deepcnt EpochStore.read_arrays", benchmark)


def test_np_load(benchmark, record, tmp_path, net_arrays):
    ws, bs = net_arrays
    for e in range(20):
        for i, a in enumerate(ws + bs):
            np.save(tmp_path / f"{e}_{i}.npy", a)
    idx = itertools.cycle(range(20))

    def load():
        e = next(idx)
        return [np.load(tmp_path / f"{e}_{i}.npy") for i in range(6)]

    benchmark.pedantic(load, rounds=20, iterations=1, warmup_rounds=2)
    record("read one epoch of 784-500-500-2000", "np.load of the same arrays", benchmark)
