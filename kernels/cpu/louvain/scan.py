"""The scans: a node's value for every module id at once, and the first module reaching the best.

A node ``u`` in module ``a`` moves to the module ``c`` of largest gain

.. math:: \\Delta Q(u \\to c) = H[u, c] - H[u, a] + B_{uu}, \\qquad
          H[u, c] = A[u, c] - \\sum_t b_t X_{t,u} \\sum_{v \\in c} Y_{t,v},

so the scans compute ``v[c] = A[u, c] − Σ_t xb[t] ysum[t, c]`` (``xb[t] = b_t X[t, u]``) for every id
``c < m`` and its maximum; ``A[u, ·]`` is a dense-mode row ``Hnm[u]``, one scatter row, or the sum of four
interleaved scatter rows (``access._scatter``). One function per case, each a plain loop that LLVM
vectorises (``_fmax``):

* ``_scan_row_rank2``: one row, rank ≤ 2: sparse sweeps with many modules or few repeats (one scatter row),
  and a node whose bound says a non-neighbour module could give a move;
* ``_scan_four_rows_rank2``: four interleaved rows (zeroed on the way), rank ≤ 2: sparse sweeps where the
  neighbours share modules;
* ``_scan_any_rank``: one or four rows, any rank: every scan of rank > 2 (signed directed: 4);
* ``_max_row_rank2``: one dense-mode row, rank ≤ 2, values not stored: dense sweeps, where few nodes move.

``_scan_values`` picks among the first three (they store the values); ``_first_max`` then finds the first
id reaching the max among the stored values, ``_first_max_row_rank2`` recomputes them (after
``_max_row_rank2``). Ranks up to 2 come with ``ysum`` and ``xb`` padded to 2 rows (zeros) so that those
kernels are branch-free. Rows are addressed by index, not sliced: every array view costs an atomic
incref/decref pair.
"""
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from ... import config

#: the scans' fast-math flags (no value there is NaN).
_SCAN_MATH = {"nnan", "nsz", "contract"}


@intrinsic
def _fmax(typingctx, a, b):
    """``llvm.maxnum.f64``: a max that LLVM vectorises as a reduction (Python's ``max`` and a compare-select do
    not vectorise in Numba)."""
    def codegen(context, builder, sig, args):
        d = ir.DoubleType()
        return builder.call(builder.module.declare_intrinsic("llvm.maxnum", [d], ir.FunctionType(d, [d, d])), args)
    return types.float64(types.float64, types.float64), codegen


@njit(inline="always")
def _fold_rows(h, c):
    """``Σ_k h[k, c]``: the partial sums of the interleaved scatter rows (1 or 4 rows)."""
    if h.shape[0] == 4:
        return (h[0, c] + h[1, c]) + (h[2, c] + h[3, c])
    return h[0, c]


@njit(inline="always")
def _scan_values(h, r, k, ysum, xb, m, values, clear):
    """``values[c] = v[c] = Σ_{q<k} h[r+q, c] − Σ_t xb_t ysum[t, c]`` for ``c < m``; returns ``max_c v[c]``.
    With ``clear``, those rows of ``h`` are zeroed on the way (the scatter rows are then ready for the next
    node).

    ``k`` is 1 (a dense-mode row ``Hnm[r]``, or the scatter row) or 4 (the interleaved scatter rows, ``r = 0``,
    always cleared). A kernel with the shapes as branches inside costs 75 instead of 25 cycles per call, and
    ~2x per id: hence one kernel per case.
    """
    if ysum.shape[0] == 2:
        if k == 4:
            return _scan_four_rows_rank2(h, ysum, xb, m, values)
        return _scan_row_rank2(h, r, ysum, xb, m, values, clear)
    return _scan_any_rank(h, r, k, ysum, xb, m, values, clear)


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan_row_rank2(h, r, ysum, xb, m, values, clear):
    """``_scan_values`` for one row and rank ≤ 2 (padded): a plain loop that LLVM vectorises (the test of
    ``clear`` is hoisted out of it)."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        v = h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c]
        if clear:
            h[r, c] = 0.0
        values[c] = v
        best = _fmax(best, v)
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan_four_rows_rank2(h, ysum, xb, m, values):
    """``_scan_values`` for four interleaved rows (``h[0:4]``) and rank ≤ 2 (padded), zeroing them."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        v = ((h[0, c] + h[1, c]) + (h[2, c] + h[3, c])) - x0 * ysum[0, c] - x1 * ysum[1, c]
        h[0, c] = 0.0
        h[1, c] = 0.0
        h[2, c] = 0.0
        h[3, c] = 0.0
        values[c] = v
        best = _fmax(best, v)
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _scan_any_rank(h, r, k, ysum, xb, m, values, clear):
    """``_scan_values`` for any rank (4 for signed directed) and either row count."""
    rank = xb.size
    best = -np.inf
    for c in range(m):
        v = h[r, c]
        if k == 4:
            v = (h[r, c] + h[r + 1, c]) + (h[r + 2, c] + h[r + 3, c])
        for t in range(rank):
            v -= xb[t] * ysum[t, c]
        values[c] = v
        best = _fmax(best, v)
    if clear:
        for q in range(r, r + k):
            for c in range(m):
                h[q, c] = 0.0
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _max_row_rank2(h, r, ysum, xb, m):
    """``max_c v[c]`` of ``_scan_row_rank2`` without storing the values (nor clearing): a dense sweep, where few
    nodes move, then finds the module with ``_first_max_row_rank2`` only when the max gives a move. The store
    cost 40% (36 against 21 ns for 113 ids)."""
    x0, x1 = xb[0], xb[1]
    best = -np.inf
    for c in range(m):
        best = _fmax(best, h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c])
    return best


@njit(cache=config.CACHE, fastmath=_SCAN_MATH)
def _first_max_row_rank2(h, r, ysum, xb, m, best):
    """The first ``c < m`` whose value (recomputed as in ``_max_row_rank2``, to the bit) equals ``best``, else
    ``m``."""
    x0, x1 = xb[0], xb[1]
    first = m
    for c in range(m):
        first = min(first, c if h[r, c] - x0 * ysum[0, c] - x1 * ysum[1, c] == best else m)
    return first


@njit(cache=config.CACHE)
def _first_max(values, m, best):
    """The first ``c < m`` with ``values[c] == best`` (after ``_scan_values``; an integer min-reduction, which
    vectorises), else ``m``."""
    first = m
    for c in range(m):
        first = min(first, c if values[c] == best else m)
    return first


@njit(inline="always")
def _zero_rows(h, m):
    """``h[:, :m] = 0`` as plain loops (Numba's 2-D slice assignment is slow)."""
    for r in range(h.shape[0]):
        for c in range(m):
            h[r, c] = 0.0
