"""Motif significance (spec §4.5): closed-form null expectations exact (full enumeration) and against Monte
Carlo within 5 standard errors; z, p, profile, concentrations; the degree null's undefined z; bad inputs."""
import itertools

import numpy as np
import pytest

import deepcnt
from deepcnt.motifs import classes as mc
from deepcnt.errors import InputError
from deepcnt.motifs.null import expected_counts, motif_significance
from deepcnt.motifs.counts import motifs


def _graph(seed, shapes=((5, 6), (6, 4), (4, 5)), theta=0.6):
    rng = np.random.default_rng(seed)
    return deepcnt.LayeredGraph.from_weights([rng.normal(size=s) for s in shapes]).threshold(theta)


def _all_arrangements(codes):
    """Every distinct arrangement of a block's colour multiset (the support of the permutation null)."""
    flat = codes.ravel()
    out = set(itertools.permutations(flat.tolist()))
    return [np.array(a, dtype=np.int8).reshape(codes.shape) for a in sorted(out)]


@pytest.mark.parametrize("signed", [False, True])
def test_permutation_expectation_is_exact(signed):
    # enumerate the whole permutation null of a 2-3-2 graph: the mean over all arrangements is E exactly
    b1 = np.array([[1, -1, 0], [0, 2, 0]], float)
    b2 = np.array([[1, 0], [0, -3], [2, 0]], float)
    g = deepcnt.LayeredGraph.from_weights([b1, b2])
    code = lambda b: ((b != 0) * (1 + (signed and 1) * (b < 0))).astype(np.int8)  # noqa: E731
    arr1, arr2 = _all_arrangements(code(b1)), _all_arrangements(code(b2))
    combos = list(itertools.product(arr1, arr2))
    k = 2 if signed else 1
    st = deepcnt.LayeredGraph.from_weights([np.stack([a for a, _ in combos]).astype(float),
                                            np.stack([b for _, b in combos]).astype(float)])
    colors = [np.stack([a for a, _ in combos]), np.stack([b for _, b in combos])]
    res = motifs(st, colors=colors, n_colors=k)
    m = np.array([np.bincount(code(b).ravel(), minlength=k + 1) for b in (b1, b2)], float)
    for null in ("permutation",):
        e = expected_counts(g.sizes, m, k, null, mc.shapes_for_size(4))
        for (s, cols), v in e.items():
            name = mc.class_name(s, cols, "1234"[:k])
            assert abs(res[name].mean() - v) < 1e-9, (name, res[name].mean(), v)


@pytest.mark.parametrize("null", ["permutation", "bernoulli"])
@pytest.mark.parametrize("kind", ["plain", "signed", "colors3"])
def test_closed_form_matches_monte_carlo(null, kind):
    g = _graph(1)
    kw = {"plain": {}, "signed": {"signed": True}}.get(kind)
    if kw is None:
        rng = np.random.default_rng(2)
        kw = {"colors": [rng.integers(1, 4, size=b.shape[1:]) for b in g.blocks], "n_colors": 3}
    R = 1500
    r = motif_significance(g, null=null, draws=R, seed=3, **kw)
    checked = 0
    for n in r.classes:
        if r.sd[n] > 0:
            assert abs(r.mc_mean[n] - r.expected[n]) <= 5 * r.sd[n] / np.sqrt(R) + 1e-9, n
            checked += 1
        else:
            assert np.isnan(r.z[n]) and n in r.reason
    assert checked > 10


def test_z_p_profile_and_concentrations():
    g = _graph(4)
    r = motif_significance(g, draws=200, seed=0, concentrations=True)
    for n in r.classes:
        if r.sd[n] > 0:
            assert np.isclose(r.z[n], (r.observed[n] - r.expected[n]) / r.sd[n])
        assert 0.0 <= r.p[n] <= 1.0
    for sz in (3, 4):
        prof = np.array([r.profile[n] for n in r.classes if mc.SHAPES[n].size == sz and np.isfinite(r.profile[n])])
        assert np.isclose((prof ** 2).sum(), 1.0)
    four = [n for n in r.classes if mc.SHAPES[n].size == 4]
    assert np.isclose(sum(r.concentration[n] for n in four), 100.0)
    assert np.isclose(sum(r.mc_concentration_mean[n] for n in four), 100.0)
    again = motif_significance(g, draws=200, seed=0)
    assert all(again.sd[n] == r.sd[n] or (np.isnan(again.sd[n]) and np.isnan(r.sd[n])) for n in r.classes)


def test_degree_null_invariants_are_nan_with_reason():
    g = _graph(5, theta=0.4)
    r = motif_significance(g, null="degree", draws=30, seed=1, signed=True)
    invariant = {"chain3", "fanout2", "fanin2", "outstar3", "instar3", "y_in2out1", "y_in1out2"}
    for n in r.classes:
        shape = n.split("[")[0]
        if shape in invariant:
            assert np.isnan(r.z[n]) and "zero spread" in r.reason[n] and r.sd[n] == 0
            assert r.expected[n] == r.observed[n]
    assert any(r.sd[n] > 0 for n in r.classes if n.startswith("bifan"))


def test_epoch_stack_gives_one_row_per_epoch():
    rng = np.random.default_rng(6)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(2, 4, 5)), rng.normal(size=(2, 5, 3))]).threshold(0.5)
    r = motif_significance(g, draws=20, seed=0, size=3)
    for n in r.classes:
        assert r.z[n].shape == (2,)
        one = motif_significance(g.epoch(1), draws=20, seed=0, size=3)
        assert r.expected[n][1] == pytest.approx(one.expected[n])


def test_gpu_simulator_twin_agrees():
    g = _graph(7, shapes=((3, 4), (4, 3)))
    a = motif_significance(g, draws=50, seed=2, signed=True)
    b = motif_significance(g.to("gpu"), draws=50, seed=2, signed=True)
    for n in a.classes:
        assert a.observed[n] == b.observed[n] and a.expected[n] == pytest.approx(b.expected[n])
        assert abs(a.mc_mean[n] - b.mc_mean[n]) <= 6 * max(a.sd[n], b.sd[n], 1e-12) / np.sqrt(50) + 1e-9


@pytest.mark.parametrize("bad,match", [
    (dict(null="fanmod"), "unknown null"),
    (dict(draws=1), "draws"),
    (dict(draws=2.5), "draws"),
    (dict(swaps_per_edge=0), "swaps_per_edge"),
    (dict(size=2), "size"),
])
def test_bad_inputs(bad, match):
    with pytest.raises(InputError, match=match):
        motif_significance(_graph(0), **bad)


def test_expectations_match_the_spec_formulas():
    from math import comb

    sizes, m = (5, 6, 4), np.array([[18.0, 12.0], [10.0, 14.0]])  # (no-edge, edge) slots per block
    e = {s: v for (s, _), v in expected_counts(sizes, m, 1, "permutation", mc.shapes_for_size(4)).items()}

    def q(l, r, s):
        N, ml = sizes[l] * sizes[l + 1], m[l, 1]
        num = np.prod([ml - i for i in range(r)]) * np.prod([N - ml - i for i in range(s)])
        return num / np.prod([N - i for i in range(r + s)])

    assert e["chain3"] == pytest.approx(m[0, 1] * m[1, 1] / sizes[1])
    assert e["bifan"] == pytest.approx(sum(comb(sizes[l], 2) * comb(sizes[l + 1], 2) * q(l, 4, 0) for l in (0, 1)))
    assert e["N"] == pytest.approx(sum(4 * comb(sizes[l], 2) * comb(sizes[l + 1], 2) * q(l, 3, 1) for l in (0, 1)))
    assert e["src_branch"] == pytest.approx(5 * comb(6, 2) * 4 * q(0, 2, 0) * 2 * q(1, 1, 1))
    b = {s: v for (s, _), v in expected_counts(sizes, m, 1, "bernoulli", mc.shapes_for_size(4)).items()}
    p = m[:, 1] / m.sum(1)
    assert b["diamond"] == pytest.approx(5 * comb(6, 2) * 4 * p[0] ** 2 * p[1] ** 2)


def test_batches_of_epochs_and_draws_give_the_same_result(monkeypatch):
    rng = np.random.default_rng(12)
    g = deepcnt.LayeredGraph.from_weights([rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 5, 3))]).threshold(0.4)
    whole = motifs(g, signed=True)
    sig = motif_significance(g.epoch(0), draws=12, seed=5)
    monkeypatch.setattr(deepcnt.config, "MOTIF_MASK_BUDGET", 1)  # one epoch / one draw per batch
    parts = motifs(g, signed=True)
    for n in whole.classes:
        np.testing.assert_array_equal(whole[n], parts[n])
    sig1 = motif_significance(g.epoch(0), draws=12, seed=5)
    for n in sig.classes:
        assert sig1.observed[n] == sig.observed[n] and sig1.expected[n] == sig.expected[n]
        assert sig1.mc_mean[n] == sig.mc_mean[n] and sig1.sd[n] == sig.sd[n]  # draws do not depend on batching


def test_most_significant_colour_class_per_shape():
    from deepcnt.motifs.null import most_significant

    g = _graph(8)
    r = motif_significance(g, draws=50, seed=0, signed=True)
    best = most_significant(r)
    for shape, (name, z) in best.items():
        cands = [r.z[n] for n in r.classes if n.split("[")[0] == shape and np.isfinite(r.z[n])]
        assert name.startswith(shape + "[") and z == max(cands)
    rs = motif_significance(deepcnt.LayeredGraph.stack([g, g]), draws=10, seed=0, size=3)
    with pytest.raises(InputError, match="epoch"):
        most_significant(rs)
    assert set(most_significant(rs, epoch=1)) <= set(mc.SHAPES_3)


def test_significance_to_frame():
    pytest.importorskip("pandas")
    r = motif_significance(_graph(9), draws=10, seed=0, null="degree")
    df = r.to_frame()
    assert len(df) == len(r.classes)
    chain = df[df["class"] == "chain3"].iloc[0]
    assert np.isnan(chain["z"]) and "zero spread" in chain["reason"]
