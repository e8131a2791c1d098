"""Onnela motif intensity totals (spec §4.4) against brute-force enumeration and the §12 oracle."""
import numpy as np
import pytest

import deepcnt
from deepcnt.motifs.intensity import motif_intensity
from naive import random_blocks
from naive_motifs import brute_intensity


@pytest.mark.parametrize("seed", range(5))
def test_intensity_equals_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    blocks = random_blocks(rng, n_layers=int(rng.integers(1, 5)), max_width=4, dtype=np.float64)
    theta = float(rng.choice([0.0, 0.3]))
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(theta)
    tot, per = motif_intensity(g)
    ref = brute_intensity(blocks, theta)
    assert "other" not in ref
    for shape, v in tot.items():
        assert v == pytest.approx(ref.get(shape, 0.0), rel=1e-9, abs=1e-9), shape
        assert per[shape].sum() == pytest.approx(v, rel=1e-12, abs=1e-12)


def test_intensity_oracle_and_normalisation(oracle, oracle_graph):
    exp = oracle["motif_intensity_onnela_unnormalised"]
    tot, per = motif_intensity(oracle_graph)
    assert tot["chain3"] == pytest.approx(exp["chain3_total"], abs=1e-9)
    assert per["bifan"][0] == pytest.approx(exp["bifan_block1"], abs=1e-9)
    norm, _ = motif_intensity(oracle_graph, normalize=True)
    assert norm["chain3"] == pytest.approx(exp["chain3_total"] / 2.0, abs=1e-9)  # max |w| = 2


def test_intensity_epoch_stack_and_gpu_simulator():
    rng = np.random.default_rng(9)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=4, stack=2)).threshold(0.2)
    tot, _ = motif_intensity(g)
    for t in range(2):
        one, _ = motif_intensity(g.epoch(t))
        for s in tot:
            assert tot[s][t] == pytest.approx(one[s], rel=1e-12, abs=1e-12)
    gpu, _ = motif_intensity(g.to("gpu"))
    for s in tot:
        np.testing.assert_allclose(gpu[s], tot[s], rtol=1e-12, atol=1e-12)


def test_bad_size():
    g = deepcnt.LayeredGraph.from_weights([np.ones((2, 2))])
    with pytest.raises(deepcnt.InputError, match="size"):
        motif_intensity(g, size=5)
