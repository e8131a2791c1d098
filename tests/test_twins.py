"""CPU and GPU kernel twins: same modules, names and signatures; GPU (simulator) results equal CPU results."""
import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import deepcnt
from deepcnt.kernels import cpu as kcpu
from deepcnt.kernels import gpu as kgpu
from naive import random_blocks
from deepcnt.backend import to_host


def _public_functions(mod):
    out = {}
    for name, obj in vars(mod).items():
        f = getattr(obj, "py_func", obj)
        if not name.startswith("_") and inspect.isfunction(f) and f.__module__ == mod.__name__:
            out[name] = inspect.signature(f)
    return out


CPU_MODULES = sorted(m.name for m in pkgutil.iter_modules(kcpu.__path__))


@pytest.mark.parametrize("family", CPU_MODULES)
def test_twins_have_equal_signatures(family):
    cpu = importlib.import_module(f"deepcnt.kernels.cpu.{family}")
    if getattr(cpu, "CPU_ONLY", None):  # a module-level string saying why (e.g. Louvain: spec §10)
        pytest.skip(f"deepcnt.kernels.cpu.{family} is CPU-only: {cpu.CPU_ONLY}")
    try:
        gpu = importlib.import_module(f"deepcnt.kernels.gpu.{family}")
    except ImportError as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"kernels/cpu/{family}.py has no GPU twin: {exc}")
    fc, fg = _public_functions(cpu), _public_functions(gpu)
    assert fc, f"kernels/cpu/{family}.py exposes no kernel"
    assert sorted(fc) == sorted(fg)
    for name in fc:
        assert fc[name] == fg[name], f"{family}.{name}: {fc[name]} != {fg[name]}"


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_block_matvec_twins_agree(seed, parallel, monkeypatch):
    from deepcnt.kernels import config

    # small blocks take the serial path; force the parallel (chunked) kernel too
    monkeypatch.setattr(config, "PARALLEL_MIN_ELEMENTS", 0 if parallel else 1 << 62)
    rng = np.random.default_rng(seed)
    # the GPU twin tiles rows and columns (under the simulator: 8 columns, >= 4 rows a tile): shapes across tiles
    T, ns, nt = 2, int(rng.integers(1, 19)), int(rng.integers(1, 22))
    W = rng.normal(size=(T, ns, nt)).astype(rng.choice([np.float32, np.float64]))
    theta = np.array([0.0, 0.5])
    x_row, x_col = rng.random((T, ns)), rng.random((T, nt))
    outs = []
    for mod in (kcpu.blockpass, kgpu.blockpass):
        row, col = np.full((T, 4, ns), np.nan), np.full((T, 4, nt), np.nan)
        mod.block_matvec(W, theta, x_row, x_col, row, col)
        outs.append((row, col))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12)
    # and against the dense definition
    Wd = W.astype(np.float64)
    ch = [(Wd > theta[:, None, None]) * 1.0, (Wd < -theta[:, None, None]) * 1.0]
    ch += [Wd * ch[0], -Wd * ch[1]]
    for c, B in enumerate(ch):
        np.testing.assert_allclose(outs[0][0][:, c], np.einsum("tij,tj->ti", B, x_col), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(outs[0][1][:, c], np.einsum("tij,ti->tj", B, x_row), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(5))
def test_core_metrics_cpu_vs_gpu_simulator(seed):
    rng = np.random.default_rng(100 + seed)
    stack = None if seed % 2 else 2
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, max_width=5, stack=stack)).threshold(0.2)
    gg = g.to("gpu")
    assert gg.device == "gpu" and gg.backend.name in ("gpu-sim", "gpu") and g.device == "cpu"
    assert gg.to("cpu").backend is g.backend
    for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
        metric = deepcnt.get_metric(name)
        a, b = metric.compute(g), metric.compute(gg)
        for col in metric.columns:
            np.testing.assert_allclose(to_host(b[col]), a[col], rtol=1e-9, atol=1e-12, err_msg=f"{name}.{col}")
