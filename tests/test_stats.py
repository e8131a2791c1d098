"""Pearson with a vectorised permutation p-value (spec §15): against a naive loop with the same RNG and
against scipy's permutation_test."""
import doctest

import numpy as np
import pytest
from scipy import stats as sps

from deepcnt.function import stats as stats
from deepcnt.errors import InputError


def _naive(x, y, R, seed):
    rng = np.random.default_rng(seed)
    r = sps.pearsonr(x, y).statistic
    null = np.array([sps.pearsonr(x, y[rng.permutation(len(y))]).statistic
                     for _ in range(R)])
    return r, null


@pytest.mark.parametrize("seed", range(4))
def test_against_naive_loop_same_rng(seed, monkeypatch):
    from deepcnt import config

    monkeypatch.setattr(config, "PERMUTATION_BATCH", 37)  # several batches, one ragged
    rng = np.random.default_rng(seed)
    n = int(rng.integers(9, 40))
    x = rng.normal(size=n)
    y = 0.3 * seed * x + rng.normal(size=n)
    R = 200
    r, p, null = stats.pearson_permutation(x, y, R, seed=seed + 100, return_null=True)
    r0, null0 = _naive(x, y, R, seed + 100)
    assert r == pytest.approx(r0, abs=1e-12)
    np.testing.assert_allclose(null, null0, atol=1e-12)
    ge = (np.sum(null0 >= r0 - 1e-12) + 1) / (R + 1)
    le = (np.sum(null0 <= r0 + 1e-12) + 1) / (R + 1)
    assert p == pytest.approx(min(1.0, 2 * min(ge, le)))
    assert stats.pearson_permutation(x, y, R, seed=seed + 100, alternative="greater")[1] == pytest.approx(ge)
    assert stats.pearson_permutation(x, y, R, seed=seed + 100, alternative="less")[1] == pytest.approx(le)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("seed", range(3))
def test_exact_small_cases_equal_scipy_permutation_test(seed, alternative):
    rng = np.random.default_rng(10 + seed)
    n = 6
    x = rng.normal(size=n)
    y = x * (seed - 1) + rng.normal(size=n)
    ref = sps.permutation_test((x,), lambda a: sps.pearsonr(a, y).statistic, permutation_type="pairings",
                               alternative=alternative, n_resamples=10000)
    r, p = stats.pearson_permutation(x, y, alternative=alternative)
    assert r == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, abs=1e-12)


def test_random_case_close_to_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = 0.4 * x + rng.normal(size=30)
    def stat(a, axis=-1):
        a = a - a.mean(axis=axis, keepdims=True)
        b = y - y.mean()
        return (a * b).sum(axis) / np.sqrt((a * a).sum(axis) * (b * b).sum())

    ref = sps.permutation_test((x,), stat, permutation_type="pairings", vectorized=True, n_resamples=10000, rng=1)
    r, p = stats.pearson_permutation(x, y, seed=2)
    se = np.sqrt(ref.pvalue * (1 - ref.pvalue) / 10000)
    assert abs(p - ref.pvalue) < 6 * se + 1e-4


def test_doctest():
    res = doctest.testmod(stats, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0


def test_bad_inputs():
    with pytest.raises(InputError, match="different lengths"):
        stats.pearson_permutation([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(InputError, match="NaN"):
        stats.pearson_permutation([1, np.nan, 3], [1, 2, 3])
    with pytest.raises(InputError, match="constant"):
        stats.pearson_permutation([1, 1, 1], [1, 2, 3])
    with pytest.raises(InputError, match="1-D"):
        stats.pearson_permutation(np.ones((3, 2)), [1, 2, 3])
    with pytest.raises(InputError, match="alternative"):
        stats.pearson_permutation([1, 2, 3], [1, 3, 2], alternative="both")
    with pytest.raises(InputError, match="n_permutations"):
        stats.pearson_permutation([1, 2, 3], [1, 3, 2], n_permutations=0)
