"""Dense mode's node × module rows built all at once from the blocks form (``_dense_rows``).

``Hnm[u, c] = A[u, c]`` (``c < hi``) for every node, through a module-major tile per ``_TILE`` nodes of a
layer: 81 against 210 µs row by row on 784-100-100-10. The CSR form builds its rows one by one in the first
dense sweep (``moving._sweeps``, ``access._scatter``).
"""
import numpy as np
from numba import njit
from numba.extending import overload

from .access import _is_csr, _plain_value
from .graph import _entry_value


def _dense_rows(G, part, Hnm, hi, work):
    """All the dense rows at once: ``Hnm[u, c] = A[u, c]`` for ``c < hi``, 0 up to ``Hnm.shape[1]``; returns
    True. Blocks form only (the CSR form returns False: its rows are built one by one, ``_scatter``)."""


def _dense_work(G, k):
    """Entries of ``_dense_rows``' workspace for up to ``k`` module ids: ``k × _TILE`` (blocks form), 0 (CSR)."""


#: nodes per tile of ``_dense_rows`` (its module-major workspace is ``hi × _TILE``, in L1/L2).
_TILE = 128


@njit(inline="always")
def _add_rows(w, s, nl, val, th, coef, T, c):
    """``T[c, :nl] += val(w[s:s+nl])``: one source row of a block added into module ``c``'s row (vectorised;
    unsigned indices: with signed ones the wrap-around tests kept this loop scalar, 4x slower)."""
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    s, c = np.uint64(s), np.uint64(c)
    for j in range(np.uint64(nl)):
        T[c, j] += val(np.float64(w[s + j]), th, ap, bp, an, bn)


@njit(inline="always")
def _tile_rows(G, part, Hnm, hi, work, l, j0, nb, val):
    """``_dense_rows`` for the ``nb`` nodes ``j0 ..`` of layer ``l``, through the module-major tile ``T =
    work[:hi·nb]`` (hi, nb): the block below adds the tile's slice of each source's row (``down``) into its
    module's row of ``T``, the block above each target's (``up``), in the order ``_scatter`` adds them (so each
    sum is the same to the bit); then ``T`` is transposed into the rows, in strips of 8 modules."""
    down, up, boff, off, th, coef = G.down, G.up, G.boff, G.off, G.th, G.coef
    L = boff.size - 1
    nl = off[l + 1] - off[l]
    unb, uhi, o = np.uint64(nb), np.uint64(hi), np.uint64(off[l] + j0)
    cap, eight = np.uint64(Hnm.shape[1]), np.uint64(8)
    T = work[:hi * nb].reshape((hi, nb))
    for c in range(uhi):
        for j in range(unb):
            T[c, j] = 0.0
    if l > 0:
        for i in range(off[l] - off[l - 1]):
            _add_rows(down, boff[l - 1] + i * nl + j0, nb, val, th[l - 1], coef, T, part[off[l - 1] + i])
    if l < L:
        for v in range(off[l + 2] - off[l + 1]):
            _add_rows(up, boff[l] + v * nl + j0, nb, val, th[l], coef, T, part[off[l + 1] + v])
    top = uhi - uhi % eight
    for c0 in range(np.uint64(0), top, eight):
        for j in range(unb):
            for c in range(c0, c0 + eight):
                Hnm[o + j, c] = T[c, j]
    for j in range(unb):
        for c in range(top, uhi):
            Hnm[o + j, c] = T[c, j]
        for c in range(uhi, cap):
            Hnm[o + j, c] = 0.0


@overload(_dense_rows)
def _ov_dense_rows(G, part, Hnm, hi, work):
    if _is_csr(G):
        return lambda G, part, Hnm, hi, work: False

    def impl(G, part, Hnm, hi, work):
        off, th, coef = G.off, G.th, G.coef
        plain = coef[1] == 0 and coef[3] == 0
        for l in range(th.size):
            plain = plain and th[l] <= 0
        for l in range(off.size - 1):
            for j0 in range(0, off[l + 1] - off[l], _TILE):
                nb = min(_TILE, off[l + 1] - off[l] - j0)
                if plain:  # the common unthresholded case: a cheaper value (_seg_scatter)
                    _tile_rows(G, part, Hnm, hi, work, l, j0, nb, _plain_value)
                else:
                    _tile_rows(G, part, Hnm, hi, work, l, j0, nb, _entry_value)
        return True
    return impl


@overload(_dense_work)
def _ov_dense_work(G, k):
    if _is_csr(G):
        return lambda G, k: 0
    return lambda G, k: k * _TILE
