"""Per-node motif participation (spec §4.2) against brute-force enumeration."""
import numpy as np
import pytest

import deepcnt
from deepcnt.motifs import classes as mc
from deepcnt.motifs.participation import motif_participation
from deepcnt.motifs.counts import motifs
from naive import random_blocks
from naive_motifs import brute_participation


@pytest.mark.parametrize("seed", range(6))
def test_participation_equals_brute_force(seed):
    rng = np.random.default_rng(400 + seed)
    blocks = random_blocks(rng, n_layers=int(rng.integers(1, 5)), max_width=4)
    theta = float(rng.choice([0.0, 0.4]))
    g = deepcnt.LayeredGraph.from_weights(blocks).threshold(theta)
    part = motif_participation(g)
    ref = brute_participation([(np.abs(b) > theta).astype(np.int8) for b in blocks])
    counts = motifs(g)
    for shape, v in part.items():
        np.testing.assert_array_equal(v, ref.get(shape, np.zeros(g.n_nodes, np.int64)), err_msg=shape)
        assert v.sum() == mc.SHAPES[shape].size * counts[shape]


def test_participation_stack_gpu_and_size3():
    rng = np.random.default_rng(3)
    g = deepcnt.LayeredGraph.from_weights(random_blocks(rng, n_layers=3, max_width=4, stack=2)).threshold(0.2)
    part = motif_participation(g)
    gpu = motif_participation(g.to("gpu"))
    for t in range(2):
        one = motif_participation(g.epoch(t))
        for s in part:
            np.testing.assert_array_equal(part[s][t], one[s])
            np.testing.assert_array_equal(gpu[s][t], one[s])
    assert set(motif_participation(g, size=3)) == set(mc.SHAPES_3)
