"""Function and information (issue 5): EMD matrices of receptive fields, mutual information of pixels, and the
permutation test, each against the tool a user has today, in the same run.

* EMD, 500 receptive fields of 784 pixels (28×28; smooth random fields, positive part, as trained RBM fields
  look): the full matrix is 124,750 pairs (tens of core-minutes exact), so every method is timed on the same
  sample of pairs drawn from its upper triangle and the full-matrix time is extrapolated by the pair count
  (printed). Methods: POT ``emd2`` on the full 784-bin support, one core (the floor a user has today);
  deepcnt exact (support-restricted POT over a process pool on all cores); deepcnt batched Sinkhorn (CPU BLAS,
  default ε), with its Spearman correlation and max relative error against the exact values.
* MI of all 784 pixels over 60,000 items (MNIST-shaped random data, 10 classes): deepcnt's vectorised binary MI
  vs a per-pixel loop with scikit-learn's ``mutual_info_score`` (goal ≥ 100×); and the optimal-threshold IP
  (exhaustive over 256 grey levels) vs the same exhaustive search with ``mutual_info_score`` (extrapolated from
  a few pixels).
* Pearson permutation p-value, 10,000 shuffles of a 784-long series: vectorised vs a loop of ``pearsonr``.

Run: ``.venv/bin/python -m pytest benchmarks/bench_function.py --benchmark-only -o addopts="" -s``.
"""
import math
import numpy as np
import pytest

from deepcnt.function import information as inf
from deepcnt.function import stats as stats
from deepcnt.function import transport as tr
from deepcnt.function.receptive import rf_distributions

N_RF, SHAPE = 500, (28, 28)
N_PAIRS = 120  # timed sample of the 124,750 pairs
FULL_PAIRS = N_RF * (N_RF - 1) // 2
_EXACT = {}


@pytest.fixture(scope="module")
def rfs():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    fields = np.stack([gaussian_filter(rng.normal(size=SHAPE), 2.5).ravel() for _ in range(N_RF)])
    P = rf_distributions(fields, "pos")
    all_pairs = tr.upper_pairs(N_RF)
    pairs = all_pairs[np.sort(rng.choice(len(all_pairs), N_PAIRS, replace=False))]
    return P, tr.ground_metric(SHAPE), pairs


def _pot_one_core(P, M, pairs):
    import ot

    return np.array([ot.emd2(P[i], P[j], M, numItermax=1_000_000) for i, j in pairs])


EMD_GROUP = f"EMD of {N_PAIRS} sampled pairs of {N_RF} RFs x 784 px (full matrix = {FULL_PAIRS} pairs)"


def _extrapolate(name, benchmark):
    t = benchmark.stats.stats.min
    print(f"\n  {name}: {t / N_PAIRS * 1e3:.2f} ms/pair -> full {N_RF}-RF matrix ~ {t * FULL_PAIRS / N_PAIRS / 60:.1f} min")


def test_emd_deepcnt_exact_all_cores(benchmark, record, rfs):
    P, M, pairs = rfs
    benchmark.group = EMD_GROUP
    out = benchmark.pedantic(tr.emd_pairs, args=(P, M, pairs), kwargs={"n_jobs": tr.n_cores()}, rounds=3,
                             warmup_rounds=0)
    record(EMD_GROUP, f"deepcnt exact ({tr.n_cores()} cores, restricted support)", benchmark)
    _EXACT["deepcnt"] = out
    _extrapolate("deepcnt exact", benchmark)


def test_emd_pot_one_core(benchmark, record, rfs):
    P, M, pairs = rfs
    benchmark.group = EMD_GROUP
    out = benchmark.pedantic(_pot_one_core, args=(P, M, pairs), rounds=2, warmup_rounds=0)
    record(EMD_GROUP, "POT emd2, one core, full support", benchmark)
    _extrapolate("POT one core", benchmark)
    if "deepcnt" in _EXACT:
        np.testing.assert_allclose(_EXACT["deepcnt"], out, rtol=1e-9, atol=1e-9)
    _EXACT["pot"] = out


def test_emd_deepcnt_sinkhorn(benchmark, record, rfs):
    P, M, pairs = rfs
    benchmark.group = EMD_GROUP
    out = benchmark.pedantic(tr.sinkhorn_pairs, args=(P, M, pairs), rounds=1, warmup_rounds=1)
    record(EMD_GROUP, "deepcnt Sinkhorn (CPU BLAS, default eps)", benchmark)
    _extrapolate("deepcnt Sinkhorn", benchmark)
    exact = _EXACT.get("deepcnt", _EXACT.get("pot"))
    if exact is None:
        exact = tr.emd_pairs(P, M, pairs)
    cmp = tr.compare_to_exact(out[0], exact)
    print(f"  Sinkhorn vs exact: eps={out[1]['eps']:.3g}, iterations={out[1]['n_iter']}, "
          f"spearman={cmp['spearman']:.6f}, max rel err={cmp['max_rel_error']:.4f}, "
          f"mean rel err={cmp['mean_rel_error']:.4f}")


# ------------------------------------------------------------------ mutual information
S_MI, P_MI, C_MI = 60_000, 784, 10


@pytest.fixture(scope="module")
def mnist_like():
    rng = np.random.default_rng(1)
    y = rng.integers(0, C_MI, size=S_MI)
    centre = rng.random((C_MI, P_MI)) ** 4  # class-dependent "ink" probability per pixel
    on = rng.random((S_MI, P_MI)) < centre[y]
    X = np.where(on, rng.integers(64, 256, size=(S_MI, P_MI)), 0).astype(np.uint8)
    return X, y


def _sk_loop(X, y, theta=127):
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(X[:, p] > theta, y) for p in range(X.shape[1])]) / math.log(2)


def _deepcnt_mi(X, y, theta=127):
    return inf.binary_information(inf.binarize(X, theta), y)


MI_GROUP = f"MI of {P_MI} binarised pixels x {S_MI} items, {C_MI} classes"


def test_mi_deepcnt(benchmark, record, mnist_like):
    X, y = mnist_like
    benchmark.group = MI_GROUP
    benchmark.pedantic(_deepcnt_mi, args=(X, y), rounds=5, warmup_rounds=1)
    record(MI_GROUP, "deepcnt binary_information (vectorised)", benchmark)


def test_mi_sklearn_loop(benchmark, record, mnist_like):
    X, y = mnist_like
    benchmark.group = MI_GROUP
    out = benchmark.pedantic(_sk_loop, args=(X, y), rounds=1, warmup_rounds=0)
    record(MI_GROUP, "sklearn mutual_info_score per pixel", benchmark)
    np.testing.assert_allclose(_deepcnt_mi(X, y), out, rtol=1e-9, atol=1e-12)


IP_GROUP = f"IP, optimal threshold over 256 levels, {P_MI} px x {S_MI} items"
N_SK_IP = 3  # pixels of the exhaustive sklearn search (extrapolated to 784)


def test_ip_deepcnt(benchmark, record, mnist_like):
    X, y = mnist_like
    benchmark.group = IP_GROUP
    benchmark.pedantic(inf.pixel_information, args=(X, y), rounds=2, warmup_rounds=1)
    record(IP_GROUP, "deepcnt pixel_information", benchmark)


class _Extrapolated:
    """What ``record`` reads from a benchmark (``.stats.stats.min``), for a time scaled from a timed sample."""

    def __init__(self, seconds):
        self.stats = type("S", (), {"stats": type("T", (), {"min": seconds})()})()


def test_ip_sklearn_exhaustive_extrapolated(benchmark, record, mnist_like):
    from sklearn.metrics import mutual_info_score

    X, y = mnist_like
    levels = np.unique(X)
    cols = [100, 400, 700][:N_SK_IP]

    def search():
        return [max(mutual_info_score(X[:, p] > t, y) for t in levels) / math.log(2) for p in cols]

    benchmark.group = IP_GROUP
    best = benchmark.pedantic(search, rounds=1, warmup_rounds=0)  # timed: N_SK_IP pixels
    ours = inf.pixel_information(X[:, cols], y)["IP"]
    np.testing.assert_allclose(ours, best, rtol=1e-9, atol=1e-12)
    record(IP_GROUP, f"sklearn exhaustive per pixel ({N_SK_IP} px timed, x{P_MI / N_SK_IP:.0f})",
           _Extrapolated(benchmark.stats.stats.min * P_MI / N_SK_IP))


# ------------------------------------------------------------------ permutation test
PERM_GROUP = "Pearson permutation p-value, n=784, 10,000 shuffles"


@pytest.fixture(scope="module")
def series():
    rng = np.random.default_rng(2)
    x = rng.normal(size=784)
    return x, 0.05 * x + rng.normal(size=784)


def _naive_perm(x, y, R=10_000, seed=0):
    from scipy.stats import pearsonr

    rng = np.random.default_rng(seed)
    r = pearsonr(x, y).statistic
    null = np.array([pearsonr(x, y[rng.permutation(len(y))]).statistic for _ in range(R)])
    return r, null


def test_perm_deepcnt(benchmark, record, series):
    benchmark.group = PERM_GROUP
    benchmark.pedantic(stats.pearson_permutation, args=series, kwargs={"seed": 0}, rounds=3, warmup_rounds=1)
    record(PERM_GROUP, "deepcnt pearson_permutation", benchmark)


def test_perm_naive_loop(benchmark, record, series):
    benchmark.group = PERM_GROUP
    r, null = benchmark.pedantic(_naive_perm, args=series, rounds=1, warmup_rounds=0)
    record(PERM_GROUP, "loop of scipy pearsonr", benchmark)
    r2, _, null2 = stats.pearson_permutation(*series, seed=0, return_null=True)
    np.testing.assert_allclose(null2, null, atol=1e-12)
