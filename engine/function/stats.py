"""Pearson correlation with a permutation p-value, vectorised (Shine et al.: 10,000 shuffles).

The null distribution is built in batches as one product ``Z_y[perm] @ z_x / n`` per batch of permutations,
not a Python loop. The p-value follows scipy's ``permutation_test`` exactly (its tie tolerance, ``+1`` for
random resampling, and the doubled smaller tail for ``two-sided``), and every permutation is enumerated when
``n! ≤ n_permutations``, as scipy does.
"""
import math
from itertools import permutations

import numpy as np

from .. import config
from ..errors import InputError

ALTERNATIVES = ("two-sided", "greater", "less")


def _series(x, name):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 3:
        raise InputError(f"{name} must be a 1-D series of at least 3 values, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InputError(f"{name} holds NaN or infinite values: drop those entries from both series first")
    if np.ptp(x) == 0:
        raise InputError(f"{name} is constant: its Pearson correlation is undefined")
    return x


def _z(x):
    d = x - x.mean()
    return d / np.sqrt((d * d).sum())


def permutation_indices(rng, n, size):
    """``size`` random permutations of ``range(n)`` as rows, by one ``rng.permuted`` call: the same stream as
    ``size`` successive ``rng.permutation(n)`` (so a naive loop with the same seed gives the same shuffles)."""
    return rng.permuted(np.broadcast_to(np.arange(n), (size, n)), axis=1)


def pearson_permutation(x, y, n_permutations=None, seed=0, alternative="two-sided", return_null=False):
    """Pearson ``r`` of two series and its permutation p-value.

    .. math:: r = \\frac{\\sum_i (x_i-\\bar x)(y_i-\\bar y)}{\\lVert x-\\bar x\\rVert\\,\\lVert y-\\bar y\\rVert},
              \\qquad p_{\\ge} = \\frac{1 + \\#\\{π : r_π \\ge r\\}}{1 + R}

    Parameters
    ----------
    x, y : array, shape (n,), any two per-node or per-epoch series
    n_permutations : int, default ``config.N_PERMUTATIONS`` (10,000)
    seed : int or numpy Generator, default 0 (every deepcnt function draws from seed 0 unless told otherwise)
    alternative : {"two-sided", "greater", "less"}
    return_null : bool, also return the null distribution

    Returns
    -------
    r : float
    p : float
    null : ndarray, shape (R,), only with ``return_null``

    Examples
    --------
    >>> r, p = pearson_permutation([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], seed=0)
    >>> round(r, 3), round(p, 3)
    (0.8, 0.133)
    """
    x, y = _series(x, "x"), _series(y, "y")
    if x.shape != y.shape:
        raise InputError(f"x and y have different lengths ({x.size} and {y.size})")
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    R = config.N_PERMUTATIONS if n_permutations is None else n_permutations
    if not isinstance(R, (int, np.integer)) or R < 1:
        raise InputError(f"n_permutations must be a positive integer, got {R!r}")
    n = x.size
    zx, zy = _z(x), _z(y)
    r = float(np.clip(zx @ zy, -1.0, 1.0))
    exact = math.factorial(n) <= R
    if exact:
        idx = np.array(list(permutations(range(n))), dtype=np.int64)
        null = zy[idx] @ zx
        adj = 0
    else:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        batch = config.PERMUTATION_BATCH
        null = np.concatenate([zy[permutation_indices(rng, n, min(batch, R - s))] @ zx for s in range(0, R, batch)])
        adj = 1
    gamma = abs(np.finfo(np.float64).eps * 100 * r)
    less = ((null <= r + gamma).sum() + adj) / (null.size + adj)
    greater = ((null >= r - gamma).sum() + adj) / (null.size + adj)
    if alternative == "less":
        p = less
    elif alternative == "greater":
        p = greater
    else:
        p = min(2 * min(less, greater), 1.0)
    return (r, float(p), null) if return_null else (r, float(p))
