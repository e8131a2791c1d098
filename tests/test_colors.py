"""The Zambra et al. 3-colour scheme (spec §4.7) against a loop transcription of the authors' binning."""
import numpy as np
import pytest

import deepcnt
from deepcnt.motifs.colors import zambra_bins, zambra_colors
from deepcnt.errors import InputError
from deepcnt.motifs.counts import motifs
from naive_motifs import brute_census


def _authors_categories(w, edges):
    """CategoriseWeightsBiases (bins [e_{c-1}, e_c) -> 1..5) then the remap 4->2, 3->excluded, 5->3."""
    out = np.zeros(w.shape, np.int8)
    for idx, x in np.ndenumerate(w):
        cat = 0
        for c in range(1, len(edges)):
            if edges[c - 1] <= x < edges[c]:
                cat = c
        out[idx] = {0: 0, 1: 1, 2: 2, 3: 0, 4: 2, 5: 3}[cat]
    return out


def test_bins_follow_the_gaussian_fit():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(0.1, 0.5, size=(6, 5)), rng.normal(0.1, 0.5, size=(5, 3))]
    g = deepcnt.LayeredGraph.from_weights(blocks)
    w = np.concatenate([b.ravel() for b in blocks])
    e = zambra_bins(g, exclusion_cutoff=0.55)
    half = w.std() * np.sqrt(2 * np.log(1 / 0.55))
    np.testing.assert_allclose(e[2:4], [w.mean() - half, w.mean() + half])
    np.testing.assert_allclose([e[0], e[5]], [1.1 * w.min(), 1.1 * w.max()])
    np.testing.assert_allclose(e[1], e[2] + 0.2 * (e[0] - e[2]))
    np.testing.assert_allclose(e[4], e[3] + 0.2 * (e[5] - e[3]))
    cols = zambra_colors(g, bins=e)
    for b, c in zip(blocks, cols):
        np.testing.assert_array_equal(c, _authors_categories(b, e))
        assert set(np.unique(c)) <= {0, 1, 2, 3}
    # pooling: bins fitted on two graphs differ from either alone
    h = deepcnt.LayeredGraph.from_weights([2 * b for b in blocks])
    assert not np.allclose(zambra_bins([g, h]), e)


def test_coloured_census_of_zambra_colours_equals_brute_force():
    rng = np.random.default_rng(1)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(4, 4)), rng.normal(size=(4, 3)), rng.normal(size=(3, 2))])
    cols = zambra_colors(g, exclusion_cutoff=0.55)
    res = motifs(g, colors=cols, n_colors=3)
    ref = brute_census(cols, 3)
    got = {n: int(res[n]) for n in res.classes if int(res[n])}
    assert got == ref


def test_epoch_stack_colours_have_the_stack_shape():
    rng = np.random.default_rng(2)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 5, 2))])
    cols = zambra_colors(g)
    assert cols[0].shape == (3, 4, 5) and cols[0].dtype == np.int8


@pytest.mark.parametrize("kw,match", [
    (dict(exclusion_cutoff=1.5), "exclusion_cutoff"),
    (dict(tail_fraction=0.0), "tail_fraction"),
    (dict(stretch=0.5), "stretch"),
    (dict(bins=[0, 1, 2]), "6 increasing"),
])
def test_bad_inputs(kw, match):
    g = deepcnt.LayeredGraph.from_weights([np.random.default_rng(0).normal(size=(3, 3))])
    with pytest.raises(InputError, match=match):
        zambra_colors(g, **kw)


def test_one_signed_weights_are_rejected():
    g = deepcnt.LayeredGraph.from_weights([np.abs(np.random.default_rng(0).normal(size=(4, 4))) + 1])
    with pytest.raises(InputError, match="both signs"):
        zambra_bins(g)
