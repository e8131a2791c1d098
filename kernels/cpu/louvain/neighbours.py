"""The neighbours strategy of a node's best module: only the modules of its neighbours are evaluated.

Used by the sparse sweeps for a node whose degree is small against the number of modules, when a bound on the
null term (``bound``) shows that no other module can give a move. ``_null`` is the null term of one module.
"""
import numpy as np
from numba import njit
from numba.extending import overload

from .access import _is_csr


def _neighbours_best(G, part, u, h, ysum, xb):
    """``max v[c] = h[0, c] − Σ_t xb_t ysum[t, c]`` over the modules of u's neighbours, and its module, after
    a scatter into ``h[0]``: each module is read once and its entry set to NaN, so repeats (and a module set
    to NaN beforehand) drop out of the comparison without a branch on marks. Returns (value, module)."""


def _neighbours_zero(G, part, u, h):
    """``h[0, c] = 0`` for the modules of u's neighbours (after ``_scatter`` / ``_neighbours_best``)."""


@njit(inline="always")
def _null(xb, ysum, c, R):
    """``Σ_t xb_t ysum[t, c]`` (the usual ranks written out)."""
    if R == 2:
        return xb[0] * ysum[0, c] + xb[1] * ysum[1, c]
    if R == 1:
        return xb[0] * ysum[0, c]
    h = 0.0
    for t in range(R):
        h += xb[t] * ysum[t, c]
    return h


@njit(inline="always")
def _neighbour_step(c, h, ysum, xb, best, arg):
    """A neighbour's module ``c`` against the best so far: its value is read once, then set to NaN, so
    that repeats (and modules marked beforehand) drop out of the comparison."""
    uc = np.uint64(c)
    v = h[0, uc] - _null(xb, ysum, uc, xb.size)
    h[0, uc] = np.nan
    return (v, c) if v > best else (best, arg)


@njit(inline="always")
def _seg_best(o, nt, part, h, ysum, xb, best, arg):
    o = np.uint64(o)
    for j in range(np.uint64(nt)):
        best, arg = _neighbour_step(part[o + j], h, ysum, xb, best, arg)
    return best, arg


@overload(_neighbours_best)
def _ov_neighbours_best(G, part, u, h, ysum, xb):
    if _is_csr(G):
        def impl(G, part, u, h, ysum, xb):
            ip, ix = G.indptr, G.indices
            best, arg = -np.inf, -1
            for p in range(ip[u], ip[u + 1]):
                best, arg = _neighbour_step(part[ix[p]], h, ysum, xb, best, arg)
            return best, arg
        return impl

    def impl(G, part, u, h, ysum, xb):
        off, layer = G.off, G.layer
        l = layer[u]
        best, arg = -np.inf, -1
        if l > 0:
            best, arg = _seg_best(off[l - 1], off[l] - off[l - 1], part, h, ysum, xb, best, arg)
        if l < G.boff.size - 1:
            best, arg = _seg_best(off[l + 1], off[l + 2] - off[l + 1], part, h, ysum, xb, best, arg)
        return best, arg
    return impl


@overload(_neighbours_zero)
def _ov_neighbours_zero(G, part, u, h):
    if _is_csr(G):
        def impl(G, part, u, h):
            ip, ix = G.indptr, G.indices
            for p in range(ip[u], ip[u + 1]):
                h[0, part[ix[p]]] = 0.0
        return impl

    def impl(G, part, u, h):
        off, layer = G.off, G.layer
        l = layer[u]
        if l > 0:
            for v in range(np.uint64(off[l - 1]), np.uint64(off[l])):
                h[0, np.uint64(part[v])] = 0.0
        if l < G.boff.size - 1:
            for v in range(np.uint64(off[l + 1]), np.uint64(off[l + 2])):
                h[0, np.uint64(part[v])] = 0.0
    return impl
