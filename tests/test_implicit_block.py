"""The ImplicitBlock hook: a block that is not a dense array goes through every core metric and export.

``WrappedDense`` is the smallest honest implicit block (it computes the mat-vecs itself, in numpy); the real
ones (convolutions) are tested against their materialised edges in their own module.
"""
import numpy as np
import pytest

import deepcnt
from deepcnt.model.blocks import ImplicitBlock
from naive import random_blocks


class WrappedDense(ImplicitBlock):
    def __init__(self, w, stacked=False):
        self.w = np.asarray(w, dtype=np.float64)
        self.w = self.w if self.w.ndim == 3 else self.w[None]
        self.shape, self.dtype, self.stacked = self.w.shape, self.w.dtype, stacked

    def block_matvec(self, theta, x_row, x_col, row_out, col_out, backend):
        th = theta[:, None, None]
        for c, B in enumerate([self.w > th, self.w < -th, self.w * (self.w > th), -self.w * (self.w < -th)]):
            row_out[:, c] = np.einsum("tij,tj->ti", B * 1.0, x_col)
            col_out[:, c] = np.einsum("tij,ti->tj", B * 1.0, x_row)

    def edges(self, t, theta):
        i, j = np.nonzero(np.abs(self.w[t]) > theta)
        return i, j, self.w[t][i, j]

    def take(self, t):
        return WrappedDense(self.w[t])

    @classmethod
    def concat(cls, blocks):
        return WrappedDense(np.concatenate([b.w for b in blocks]), stacked=True)

    def to(self, backend):
        return self


@pytest.mark.parametrize("seed", range(6))
def test_implicit_block_equals_dense(seed):
    rng = np.random.default_rng(seed)
    blocks = random_blocks(rng, dtype=np.float64)
    dense = deepcnt.LayeredGraph.from_weights(blocks).threshold(0.3)
    mixed_blocks = [WrappedDense(b) if l % 2 == 0 else b for l, b in enumerate(blocks)]
    mixed = deepcnt.LayeredGraph.from_weights(mixed_blocks).threshold(0.3)
    for name in ("degree", "strength", "knn", "lamalfa_strength", "layers_fluctuation"):
        a, b = deepcnt.get_metric(name).compute(dense), deepcnt.get_metric(name).compute(mixed)
        for col in a:
            np.testing.assert_allclose(b[col], a[col], rtol=1e-12, err_msg=col)
    np.testing.assert_allclose(mixed.to_scipy().toarray(), dense.to_scipy().toarray())
    assert mixed.n_edges == dense.n_edges
    gp, dp = mixed.threshold(0.5, mode="proportional"), dense.threshold(0.5, mode="proportional")
    np.testing.assert_array_equal(gp.theta, dp.theta)
    st = deepcnt.LayeredGraph.stack([mixed, mixed])
    np.testing.assert_allclose(deepcnt.strength(st)[1], deepcnt.strength(mixed))
    np.testing.assert_allclose(deepcnt.knn(st.epoch(1)), deepcnt.knn(mixed))
    with pytest.raises(deepcnt.InputError, match="needs explicit edges but block 0 is an implicit WrappedDense"):
        mixed.dense_block(0, "bifan counting")
