"""Node strengths of convolutional networks (issue 8): deepcnt's implicit conv blocks vs the seeds' six nested
loops (La Malfa et al., EmanueleLM/CNT-DNNs ``Convolution.get_strengths``) and vs materialising the unrolled
edges with scipy.sparse.

Cases:
* ``conv64``: one Conv2d(64, 64, 3, padding=1) on 64×28×28 inputs (27.5M edges from 36,864 parameters);
* ``lamalfa256``: La Malfa's small CNN, Conv2d(1, 256, 3) on 1×28×28 → Flatten → Linear(173056, 10);
* ``lamalfa256-conv``: its conv layer alone (the dense layer goes through the core block pass).

deepcnt computes La Malfa's nodes strength (which runs the fused pass: every degree/strength channel) on a
fresh graph each round. The six loops run on the big ``conv64`` case once (tens of seconds) and on a small
case (Conv2d(8, 8, 3) on 28×28) that is extrapolated by the number of loop iterations. scipy.sparse builds
the COO edge list (int32 indices, float64 values, vectorised per kernel offset), converts to CSR and takes
row and column sums. Peak memory of each method is measured with tracemalloc in a separate, untimed run.

Run: ``.venv/bin/python -m pytest benchmarks/bench_cnn.py --benchmark-only -o addopts="" -s``.
"""
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import deepcnt
from deepcnt.model.conv import ConvBlock
from deepcnt.core.lamalfa import nodes_strength

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from naive_conv import seeds_conv_strengths  # noqa: E402

_MEM = {}


def _case(name):
    rng = np.random.default_rng(0)
    if name == "conv64":
        K = rng.normal(0, 0.05, size=(64, 64, 3, 3)).astype(np.float32)
        return dict(K=K, b=np.zeros(64, np.float32), in_shape=(64, 28, 28), padding=1, dense=None)
    if name == "small8":
        K = rng.normal(0, 0.05, size=(8, 8, 3, 3)).astype(np.float32)
        return dict(K=K, b=np.zeros(8, np.float32), in_shape=(8, 28, 28), padding=1, dense=None)
    K = rng.normal(0, 0.05, size=(256, 1, 3, 3)).astype(np.float32)
    Wd = rng.normal(0, 0.01, size=(256 * 26 * 26, 10)).astype(np.float32)
    return dict(K=K, b=rng.normal(0, 0.1, 256).astype(np.float32), in_shape=(1, 28, 28), padding=0,
                dense=None if name == "lamalfa256-conv" else (Wd, np.zeros(10, np.float32)))


def _graph(c):
    conv = ConvBlock(c["K"], c["in_shape"], padding=c["padding"])
    n_pos = conv.out_shape[1] * conv.out_shape[2]
    blocks, biases = [conv], [np.repeat(c["b"].astype(np.float64), n_pos)]
    if c["dense"] is not None:
        blocks.append(c["dense"][0])
        biases.append(c["dense"][1])
    return deepcnt.LayeredGraph.from_weights(blocks, biases=biases)


def deepcnt_strength(c):
    return nodes_strength(_graph(c))


def seeds_strength(c):
    """The authors' way: six Python loops for the conv, numpy sums for the dense layer (their code path)."""
    s_in, s_out = seeds_conv_strengths(c["K"], c["b"], c["in_shape"], 1, c["padding"])
    parts = [1.0 + s_in.ravel()]
    if c["dense"] is not None:
        Wd, bd = c["dense"]
        parts += [s_out.ravel() + Wd.sum(axis=1), Wd.sum(axis=0) + bd + 1.0]
    else:
        parts.append(s_out.ravel() + 1.0)
    return np.concatenate(parts)


def scipy_edges(c):
    """The unrolled conv block as a CSR matrix (C_in·H·W × C_out·H_out·W_out), built per kernel offset."""
    import scipy.sparse as sp

    K = c["K"]
    C_out, C_in, kh, kw = K.shape
    _, H, W = c["in_shape"]
    p = c["padding"]
    Ho, Wo = H + 2 * p - kh + 1, W + 2 * p - kw + 1
    rows, cols, vals = [], [], []
    ci = np.arange(C_in, dtype=np.int32)[None, :, None]
    co = np.arange(C_out, dtype=np.int32)[:, None, None]
    for ky in range(kh):
        for kx in range(kw):
            oy, ox = np.meshgrid(np.arange(Ho), np.arange(Wo), indexing="ij")
            iy, ix = oy - p + ky, ox - p + kx
            ok = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
            src = (iy[ok] * W + ix[ok]).astype(np.int32)[None, None, :]
            dst = (oy[ok] * Wo + ox[ok]).astype(np.int32)[None, None, :]
            shape = (C_out, C_in, src.size)
            rows.append(np.broadcast_to(ci * (H * W) + src, shape).ravel())
            cols.append(np.broadcast_to(co * (Ho * Wo) + dst, shape).ravel())
            vals.append(np.broadcast_to(K[:, :, ky, kx].astype(np.float64)[:, :, None], shape).ravel())
    r, cc, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    del rows, cols, vals
    return sp.csr_matrix((v, (r, cc)), shape=(C_in * H * W, C_out * Ho * Wo))


def scipy_strength(c):
    A = scipy_edges(c)
    Ho_Wo = A.shape[1] // c["K"].shape[0]
    parts = [1.0 + np.asarray(A.sum(axis=1)).ravel()]
    s_conv_in = np.asarray(A.sum(axis=0)).ravel() + np.repeat(c["b"].astype(np.float64), Ho_Wo)
    if c["dense"] is not None:
        Wd, bd = c["dense"]
        parts += [s_conv_in + Wd.sum(axis=1), Wd.sum(axis=0) + bd + 1.0]
    else:
        parts.append(s_conv_in + 1.0)
    return np.concatenate(parts)


def _peak(f, c):
    tracemalloc.start()
    f(c)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _iterations(c):
    C_out, C_in, kh, kw = c["K"].shape
    Hp = c["in_shape"][1] + 2 * c["padding"]
    return C_in * C_out * (Hp - kh + 1) ** 2 * kh * kw


METHODS = {"deepcnt": deepcnt_strength, "scipy.sparse edges": scipy_strength, "seeds six loops": seeds_strength}


CASES = ["conv64", "lamalfa256", "lamalfa256-conv"]


@pytest.fixture(scope="module", autouse=True)
def _memory_report():
    """Print the peak traced memory of each method after the timed cases."""
    yield
    if not _MEM:
        return
    print("\n=== peak memory (tracemalloc, untimed run; six loops of conv64 measured on the 8->8 case) ===")
    for (case, method), (peak, est) in _MEM.items():
        extra = f"   est. time {est:8.2f} s" if est is not None else ""
        print(f"  {case:<16} {method:<44} {peak / 2**20:10.2f} MiB{extra}")
    for case in CASES:
        c = _case(case)
        E = int(_graph(c).n_edges)
        print(f"  {case}: E = {E:,} edges, conv kernel {c['K'].nbytes / 2**10:.0f} KiB; an edge list needs "
              f">= {E * 16 / 2**20:.0f} MiB (int32 row and col + float64 weight)")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", list(METHODS))
def test_cnn_strength(benchmark, record, case, method):
    c = _case(case)
    f = METHODS[method]
    benchmark.group = f"cnn strength: {case}"
    deepcnt_strength(c)  # JIT outside the timed region
    if method == "seeds six loops" and case == "conv64":
        # the small case, extrapolated by loop iterations, then the real one once
        small = _case("small8")
        t0 = time.perf_counter()
        seeds_strength(small)
        t_small = time.perf_counter() - t0
        est = t_small * _iterations(c) / _iterations(small)
        _MEM[case, "seeds six loops (extrapolated from 8->8)"] = (_peak(seeds_strength, small), est)
        out = benchmark.pedantic(f, args=(c,), rounds=1, iterations=1, warmup_rounds=0)
    else:
        rounds = 1 if method == "seeds six loops" else 5
        out = benchmark.pedantic(f, args=(c,), rounds=rounds, iterations=1, warmup_rounds=0 if rounds == 1 else 1)
    np.testing.assert_allclose(out[: c["in_shape"][0] * 28 * 28], deepcnt_strength(c)[: c["in_shape"][0] * 28 * 28],
                               rtol=1e-4, atol=1e-4)
    record(benchmark.group, f"{'deepcnt' if method == 'deepcnt' else method}", benchmark)
    if method != "seeds six loops":
        _MEM[case, method] = (_peak(f, c), None)
    else:
        _MEM[case, method] = (_peak(seeds_strength, _case("small8")) if case == "conv64" else _peak(f, c), None)
