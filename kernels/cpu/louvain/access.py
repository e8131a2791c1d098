"""Reading the Louvain graph ``A`` in either form (``graph``): Numba overloads that compile once per form.

A sweep reads ``A`` only through these: ``_n``, ``_nnz``, ``_deg``, ``_diag`` (sizes, degrees, self-loops),
``_scatter`` / ``_touched`` (a node's row summed per module), ``_move_rows`` (a move's update of the dense
node × module rows), ``_prefetch_row``. The stubs below are what Numba overloads; each ``_ov_*`` gives the
implementation for the form of its argument (``_is_csr``).
"""
import numpy as np
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic, overload

from .graph import BlocksGraph, CSRGraph, _entry_value


def _is_csr(G):
    """At compile time: whether the Numba type ``G`` is a ``CSRGraph`` (else a ``BlocksGraph``)."""
    if getattr(G, "instance_class", None) is CSRGraph:
        return True
    if getattr(G, "instance_class", None) is BlocksGraph:
        return False
    raise TypeError(f"a Louvain graph is a CSRGraph or a BlocksGraph, got {G}")


# The per-entry loops below take a flat buffer plus a start and a length instead of a slice, and index
# with unsigned integers: a slice is an array view, and every view costs an atomic incref/decref pair that
# Numba cannot prune in these loops (13% of a run); a signed index costs a wrap-around test per access.
@njit(inline="always")
def _down_seg(G, l, i):
    """Blocks form: row ``i`` of ``W_l`` (the neighbours in layer ``l+1``) is ``G.down[s:s+nt]``: (s, nt)."""
    off = G.off
    nt = off[l + 2] - off[l + 1]
    return np.uint64(G.boff[l] + i * nt), np.uint64(nt)


@njit(inline="always")
def _up_seg(G, l, i):
    """Blocks form: row ``i`` of ``W_lᵀ`` (the neighbours in layer ``l``) is ``G.up[s:s+ns]``: (s, ns)."""
    off = G.off
    ns = off[l + 1] - off[l]
    return np.uint64(G.boff[l] + i * ns), np.uint64(ns)


def _n(G):
    """Number of nodes."""


def _nnz(G):
    """Number of stored entries (both directions; the blocks form counts dropped entries too)."""


def _deg(G, u):
    """Stored entries of node ``u``'s row."""


def _scatter(G, part, u, h, r, k):
    """``h[r + q, part[v]] += A[u, v]`` over u's row, ``q = p mod 4`` when ``k = 4`` rows (four short dependency
    chains instead of one long one when neighbours share modules), else ``q = 0`` (``k = 1``)."""


def _touched(G, part, u, h, mark, touched):
    """``_scatter`` into one row ``h[0]``, and the modules met listed in ``touched`` (and marked); returns
    their number."""


def _move_rows(G, u, Hnm, a, c):
    """Node ``u`` moved from module ``a`` to ``c``: ``Hnm[v, a] −= A[u, v]``, ``Hnm[v, c] += A[u, v]``."""


def _prefetch_row(G, u):
    """Prefetch node ``u``'s stored row (values; the CSR's ids too) into the cache."""


def _diag(G):
    """Self-loop weights ``A[u, u]``, shape (n,)."""


@overload(_n, inline="always")
def _ov_n(G):
    if _is_csr(G):
        return lambda G: G.indptr.size - 1
    return lambda G: G.off[-1]


@overload(_nnz, inline="always")
def _ov_nnz(G):
    if _is_csr(G):
        return lambda G: G.indptr[-1]

    return lambda G: 2 * G.down.size


@overload(_deg, inline="always")
def _ov_deg(G, u):
    if _is_csr(G):
        return lambda G, u: G.indptr[u + 1] - G.indptr[u]

    def impl(G, u):
        off = G.off
        l = G.layer[u]
        d = 0
        if l < G.boff.size - 1:
            d += off[l + 2] - off[l + 1]
        if l > 0:
            d += off[l] - off[l - 1]
        return d
    return impl


@njit(inline="always")
def _plain_value(x, th, ap, bp, an, bn):
    """``_entry_value`` when nothing is dropped and no value is binary (``th ≤ 0``, ``b± = 0``): one select and a
    product (``x = 0`` gives ±0, which adds nothing)."""
    return (ap if x > 0 else an) * x


@njit(inline="always")
def _seg_rows(w, s, nt, o, th, coef, part, h, r, k, val):
    """``_scatter`` over one block segment ``w[s:s+nt]`` (targets ``o, o+1, ...``), values by ``val``
    (``_entry_value``/``_plain_value``)."""
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    o, r = np.uint64(o), np.uint64(r)
    one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
    j = np.uint64(0)
    if k == 4:
        for q in range(nt // four):
            j = four * q
            h[r, np.uint64(part[o + j])] += val(np.float64(w[s + j]), th, ap, bp, an, bn)
            h[r + one, np.uint64(part[o + j + one])] += val(np.float64(w[s + j + one]), th, ap, bp, an, bn)
            h[r + two, np.uint64(part[o + j + two])] += val(np.float64(w[s + j + two]), th, ap, bp, an, bn)
            h[r + three, np.uint64(part[o + j + three])] += val(np.float64(w[s + j + three]), th, ap, bp, an, bn)
        j = nt - nt % four
    for j in range(j, nt):
        h[r, np.uint64(part[o + j])] += val(np.float64(w[s + j]), th, ap, bp, an, bn)


@njit(inline="always")
def _seg_scatter(w, s, nt, o, th, coef, part, h, r, k):
    if th <= 0 and coef[1] == 0 and coef[3] == 0:  # the common unthresholded case: a cheaper value
        _seg_rows(w, s, nt, o, th, coef, part, h, r, k, _plain_value)
    else:
        _seg_rows(w, s, nt, o, th, coef, part, h, r, k, _entry_value)


@overload(_scatter)
def _ov_scatter(G, part, u, h, r, k):
    if _is_csr(G):
        def impl(G, part, u, h, r, k):  # no views, unsigned indices (see _down_seg)
            ip, ix, dv = G
            p, end, r = np.uint64(ip[u]), np.uint64(ip[u + 1]), np.uint64(r)
            one, two, three, four = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
            if k == 4:
                for q in range((end - p) // four):
                    h[r, np.uint64(part[np.uint64(ix[p])])] += dv[p]
                    h[r + one, np.uint64(part[np.uint64(ix[p + one])])] += dv[p + one]
                    h[r + two, np.uint64(part[np.uint64(ix[p + two])])] += dv[p + two]
                    h[r + three, np.uint64(part[np.uint64(ix[p + three])])] += dv[p + three]
                    p += four
            for p in range(p, end):
                h[r, np.uint64(part[np.uint64(ix[p])])] += dv[p]
        return impl

    def impl(G, part, u, h, r, k):
        off, layer, th, coef = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        if l > 0:  # the CSR's order: the layer below first
            s, nt = _up_seg(G, l - 1, i)
            _seg_scatter(G.up, s, nt, off[l - 1], th[l - 1], coef, part, h, r, k)
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            _seg_scatter(G.down, s, nt, off[l + 1], th[l], coef, part, h, r, k)
    return impl


@njit(inline="always")
def _seg_touched(w, s, ns, o, th, coef, part, h, mark, touched, nt):
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    o = np.uint64(o)
    for j in range(ns):
        c = part[o + j]
        h[0, c] += _entry_value(np.float64(w[s + j]), th, ap, bp, an, bn)
        if not mark[c]:
            mark[c] = True
            touched[nt] = c
            nt += 1
    return nt


@overload(_touched)
def _ov_touched(G, part, u, h, mark, touched):
    if _is_csr(G):
        def impl(G, part, u, h, mark, touched):
            ip, ix, dv = G
            nt = 0
            for p in range(ip[u], ip[u + 1]):
                c = part[ix[p]]
                h[0, c] += dv[p]
                if not mark[c]:  # written out: an inlined helper returning nt made this loop 3x slower
                    mark[c] = True
                    touched[nt] = c
                    nt += 1
            return nt
        return impl

    def impl(G, part, u, h, mark, touched):
        off, layer, th, coef = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        nt = 0
        if l > 0:
            s, ns = _up_seg(G, l - 1, i)
            nt = _seg_touched(G.up, s, ns, off[l - 1], th[l - 1], coef, part, h, mark, touched, nt)
        if l < G.boff.size - 1:
            s, ns = _down_seg(G, l, i)
            nt = _seg_touched(G.down, s, ns, off[l + 1], th[l], coef, part, h, mark, touched, nt)
        return nt
    return impl


@njit(inline="always")
def _seg_move(w, s, nt, o, th, coef, Hnm, a, c):
    ap, bp, an, bn = coef[0], coef[1], coef[2], coef[3]
    ua, uc, o = np.uint64(a), np.uint64(c), np.uint64(o)
    for j in range(nt):
        v = _entry_value(np.float64(w[s + j]), th, ap, bp, an, bn)
        Hnm[o + j, ua] -= v
        Hnm[o + j, uc] += v


@overload(_move_rows)
def _ov_move_rows(G, u, Hnm, a, c):
    if _is_csr(G):
        def impl(G, u, Hnm, a, c):
            ip, ix, dv = G
            ua, uc = np.uint64(a), np.uint64(c)
            for p in range(np.uint64(ip[u]), np.uint64(ip[u + 1])):
                v = np.uint64(ix[p])
                Hnm[v, ua] -= dv[p]
                Hnm[v, uc] += dv[p]
        return impl

    def impl(G, u, Hnm, a, c):
        off, layer, th, coef = G.off, G.layer, G.th, G.coef
        l = layer[u]
        i = u - off[l]
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            _seg_move(G.down, s, nt, off[l + 1], th[l], coef, Hnm, a, c)
        if l > 0:
            s, nt = _up_seg(G, l - 1, i)
            _seg_move(G.up, s, nt, off[l - 1], th[l - 1], coef, Hnm, a, c)
    return impl


@intrinsic
def _prefetch(typingctx, arr, i):
    """``llvm.prefetch`` (read, keep in all levels) of the cache line holding ``arr[i]`` (1-D array)."""
    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [ptr.type],
                                              ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]))
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    if not isinstance(i, types.Integer):
        return None
    return types.void(arr, i), codegen


@overload(_prefetch_row, inline="always")
def _ov_prefetch_row(G, u):
    if _is_csr(G):
        def impl(G, u):
            ip, ix, dv = G
            for p in range(ip[u], ip[u + 1], 8):
                _prefetch(dv, p)
                _prefetch(ix, p)
        return impl

    def impl(G, u):
        off, layer = G.off, G.layer
        l = layer[u]
        i = u - off[l]
        if l > 0:
            s, nt = _up_seg(G, l - 1, i)
            for q in range(np.uint64(0), nt, np.uint64(16)):
                _prefetch(G.up, s + q)
        if l < G.boff.size - 1:
            s, nt = _down_seg(G, l, i)
            for q in range(np.uint64(0), nt, np.uint64(16)):
                _prefetch(G.down, s + q)
    return impl


@overload(_diag)
def _ov_diag(G):
    if _is_csr(G):
        def impl(G):
            ip, ix, dv = G
            n = ip.size - 1
            diag = np.zeros(n)
            for u in range(n):
                seg = ix[ip[u]:ip[u + 1]]
                k = 0
                for p in range(seg.size):  # a branch-free count vectorises; most rows have no self-loop
                    k += np.int64(seg[p] == u)
                if k:
                    for p in range(ip[u], ip[u + 1]):
                        if ix[p] == u:
                            diag[u] += dv[p]
            return diag
        return impl
    return lambda G: np.zeros(G.off[-1])  # a layered graph has no self-loops
