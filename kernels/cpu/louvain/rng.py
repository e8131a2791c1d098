"""The random node order of the sweeps: a xorshift64 stream per run (``state``, one non-zero uint64), so a run
is deterministic for its seed whatever the thread count."""
import numpy as np
from numba import njit

from ... import config


@njit(cache=config.CACHE)
def _next(state):
    """Advance the xorshift64 state ``state[0]`` (Marsaglia 2003: shifts 13, 7, 17) and return it."""
    x = state[0]
    x ^= x << np.uint64(13)
    x ^= x >> np.uint64(7)
    x ^= x << np.uint64(17)
    state[0] = x
    return x


@njit(cache=config.CACHE)
def _shuffle(perm, state):
    """Shuffle ``perm`` in place (Fisher–Yates, from the end) with the stream ``state``."""
    for i in range(perm.size - 1, 0, -1):
        j = np.int64(_next(state) % np.uint64(i + 1))
        tmp = perm[i]
        perm[i] = perm[j]
        perm[j] = tmp
