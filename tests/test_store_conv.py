"""Epoch stores of convolutional networks (format 2): kernels + geometry per entry, never unrolled edges."""
import numpy as np
import pytest

import deepcnt
from deepcnt.model.conv import ConvBlock, PoolBlock, block_spec
from deepcnt.runs.pipeline import analyze
from deepcnt.runs.store import EpochStore


def _model(rng, E):
    conv = ConvBlock(rng.normal(size=(E, 3, 2, 3, 3)).astype(np.float32), (2, 6, 6), padding=1, stacked=True)
    pool = PoolBlock("avg", (3, 6, 6), 2)
    dense = rng.normal(size=(E, 27, 4)).astype(np.float32)
    return conv, pool, dense


def test_conv_store_roundtrip_graphs_and_analysis(tmp_path):
    rng = np.random.default_rng(0)
    E = 2
    conv, pool, _ = _model(rng, E)
    sizes = (72, 108, 27, 4)
    s = EpochStore.create(tmp_path / "run", sizes, n_members=E, biases=False, blocks=[conv, block_spec(pool), None])
    kept = []
    for e in range(3):
        conv, pool, dense = _model(rng, E)
        s.append(e, [conv.kernel, None, dense], scalars={"loss": float(e)})
        kept.append((conv, dense))
    s.close()
    s = EpochStore.open(tmp_path / "run")
    assert s.meta["format_version"] == 2 and s.block_specs[1]["kind"] == "pool"
    assert not (tmp_path / "run" / "arrays.zarr" / "W1").exists()  # pooling stores nothing
    for i, (conv, dense) in enumerate(kept):
        for m in range(E):
            ref = deepcnt.LayeredGraph.from_weights(
                [ConvBlock(conv.kernel[m], (2, 6, 6), padding=1), PoolBlock("avg", (3, 6, 6), 2), dense[m]])
            g = s.graph(i, member=m)
            assert isinstance(g.blocks[0], ConvBlock) and isinstance(g.blocks[1], PoolBlock)
            np.testing.assert_allclose(deepcnt.strength(g, sign="abs"), deepcnt.strength(ref, sign="abs"), rtol=1e-6)
            np.testing.assert_allclose(deepcnt.knn(g, weighted=True), deepcnt.knn(ref, weighted=True), rtol=1e-6)
    st = s.stack([0, 2], member=1)
    np.testing.assert_allclose(deepcnt.degree(st)[1], deepcnt.degree(s.graph(2, member=1)))
    all_members = s.graph(1)
    assert all_members.n_epochs == E
    a = analyze(tmp_path / "run", metrics=["degree", "strength", "knn"], threshold=0.2, batch=2)
    nodes = a.nodes()
    g = s.graph(2, member=0).threshold(0.2)
    rows = nodes[(nodes.member == 0) & (nodes.entry == 2)]
    np.testing.assert_array_equal(rows.degree.to_numpy(), deepcnt.degree(g))


def test_conv_store_bad_inputs(tmp_path):
    rng = np.random.default_rng(1)
    conv, pool, dense = _model(rng, 1)
    with pytest.raises(deepcnt.InputError, match="blocks\\[0\\] maps 72 units to 108 but the architecture has 70"):
        EpochStore.create(tmp_path / "a", (70, 108, 27, 4), blocks=[conv, pool, None])
    with pytest.raises(deepcnt.InputError, match="blocks has 2 entries"):
        EpochStore.create(tmp_path / "b", (72, 108, 27, 4), blocks=[conv, pool])
    s = EpochStore.create(tmp_path / "c", (72, 108, 27, 4), biases=False, blocks=[conv, pool, None])
    with pytest.raises(deepcnt.InputError, match="weights\\[0\\] has shape"):
        s.append(0, [np.ones((3, 2, 2, 2)), None, dense[0]])


def test_default_analysis_of_a_conv_run_skips_edge_families(tmp_path):
    rng = np.random.default_rng(2)
    conv, pool, dense = _model(rng, 1)
    s = EpochStore.create(tmp_path / "run", (72, 108, 27, 4), biases=False, blocks=[conv, pool, None])
    s.append(0, [conv.kernel[0], None, dense[0]])
    s.close()
    a = analyze(tmp_path / "run", threshold=0.1)
    used = a.metadata()["metrics"]
    assert "degree" in used and "motifs" not in used
    with pytest.raises(deepcnt.InputError, match="needs explicit edges"):
        analyze(tmp_path / "run", metrics=["motifs"], out=tmp_path / "m")
