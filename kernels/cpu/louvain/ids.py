"""Module ids: relabelling a partition to compact ids ``0..C-1``."""
import numpy as np
from numba import njit

from ... import config


@njit(cache=config.CACHE)
def _renumber(part):
    """Relabel in place to 0..C-1 in order of first appearance; returns C."""
    n = part.size
    renumbering = np.full(n, -1, np.int64)
    C = 0
    for u in range(n):
        m = part[u]
        if renumbering[m] < 0:
            renumbering[m] = C
            C += 1
        part[u] = renumbering[m]
    return C


@njit(cache=config.CACHE)
def _compact(part, size, ysum, hi, renumbering):
    """Renumber the non-empty ids below ``hi`` to ``0..C-1`` in id order (``size``, ``ysum`` follow; ``renumbering``
    is a workspace of at least ``hi`` entries); returns ``C``."""
    C = 0
    for c in range(hi):
        if size[c] > 0:
            renumbering[c] = C
            size[C] = size[c]
            for t in range(ysum.shape[0]):
                ysum[t, C] = ysum[t, c]
            C += 1
    size[C:hi] = 0
    ysum[:, C:hi] = 0.0
    for u in range(part.size):
        part[u] = renumbering[part[u]]
    return C
