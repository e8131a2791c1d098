"""Exact motif counts of layered graphs: every class, signed and coloured, per block and per epoch.

A connected 3- or 4-node subgraph of a layered DAG is one of 13 shapes (:mod:`deepcnt.motifs.classes`), and every
count is a closed form in degree vectors and block products: colour masks ``B_c``, their Gram matrices
``G_{xy} = B_x B_yᵀ`` (bi-fan, N) and path products ``P_{ab} = B^a_l B^b_{l+1}`` (diamond, branches). Induced
counts of N and the branches follow by inclusion–exclusion against the bi-fans and diamonds.
"""
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from .. import config
from ..backend import to_host
from ..errors import InputError
from ..model.graph import takes_graph
from . import classes as mc

MAX_COLORS = 4


@dataclass
class MotifCounts:
    """Motif census of a layered graph.

    Attributes
    ----------
    classes : tuple of str
        Canonical class names (:mod:`deepcnt.motifs.classes`), shape by shape.
    shape_of : dict
        Class name → shape name.
    counts : dict
        Class name → int64 count, shape () or (T,) for an epoch stack.
    per_block : dict
        Class name → int64 array, shape (L,) or (T, L): the count of the motifs whose lowest layer is ``l``
        (one-block shapes: block ``l``; chains and paths: blocks ``l, l+1, ...``; on a block DAG, the layer of
        the motif's lowest node, ``L = n_layers - 1``); zero where none fits.
    symbols : str
        Colour symbols of the names (``""``, ``"+-"`` or ``"1234"[:k]``).
    """

    classes: Tuple[str, ...]
    shape_of: Dict[str, str]
    counts: Dict[str, np.ndarray]
    per_block: Dict[str, np.ndarray] = field(repr=False)
    symbols: str = ""

    def __getitem__(self, name):
        return self.counts[name]

    def __iter__(self):
        return iter(self.classes)

    def shape_totals(self):
        """Counts summed over the colourings of each shape: ``{shape: count}``."""
        out = {}
        for name in self.classes:
            s = self.shape_of[name]
            out[s] = out.get(s, 0) + self.counts[name]
        return out

    def total(self, size):
        """Number of connected induced ``size``-node subgraphs (3 or 4)."""
        tot = self.shape_totals()
        return sum(v for s, v in tot.items() if mc.SHAPES[s].size == size)

    def to_frame(self):
        """A pandas table: one row per class (and epoch), columns class, shape, size, [epoch], count, concentration."""
        import pandas as pd

        rows = []
        for name in self.classes:
            shape = self.shape_of[name]
            cnt, conc = np.atleast_1d(self.counts[name]), np.atleast_1d(self.concentration(name))
            stacked = np.ndim(self.counts[name]) > 0
            for t in range(cnt.shape[0]):
                row = {"class": name, "shape": shape, "size": mc.SHAPES[shape].size}
                if stacked:
                    row["epoch"] = t
                row.update(count=int(cnt[t]), concentration=float(conc[t]))
                rows.append(row)
        return pd.DataFrame(rows)

    def concentration(self, name):
        """FANMOD-style concentration of a class: its share (%) of the connected subgraphs of its size."""
        size = mc.SHAPES[self.shape_of[name]].size
        tot = np.asarray(self.total(size), dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return 100.0 * np.asarray(self.counts[name], dtype=float) / tot


# ---------------------------------------------------------------------------------------------- inputs
def edge_code_blocks(g, signed=False, colors=None, n_colors=None):
    """Colour code of every slot of every block: 0 = no edge, 1..k = colour.

    ``n_colors`` fixes ``k`` for explicit colours (default: the largest colour present).

    Returns
    -------
    codes : list of int8 arrays, shape (T, n_i, n_j), one per block (in the order of ``g.pairs``)
    k : int
        Number of colours.
    """
    be = g.backend
    xp = be.xp
    kern = be.kernel("motifs")
    if colors is None and n_colors is not None:
        raise InputError("n_colors goes with colors=: signed counts have 2 colours, uncoloured counts 1")
    if colors is not None:
        if signed:
            raise InputError("give either signed=True or colors=, not both (signs are the 2-colour case)")
        cols = _check_colors(g, colors)
        top = max(int(c.max()) if c.size else 0 for c in cols)
        k = max(1, top) if n_colors is None else n_colors
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_COLORS or k < top:
            raise InputError(f"n_colors must be an integer in [max colour = {top}, {MAX_COLORS}], got {n_colors!r}")
        codes = []
        for l, c in enumerate(cols):
            W, th = g.kept_stack(l, "motifs")
            th = xp.asarray(th, dtype=xp.float64)[:, None, None]
            codes.append(xp.where(xp.abs(W) > th, xp.asarray(c), 0).astype(xp.int8))
        return codes, k
    codes = []
    for l in range(g.n_blocks):
        W, th = g.kept_stack(l, "motifs")
        out = xp.empty(W.shape, dtype=xp.int8)
        kern.edge_codes(W, xp.asarray(th, dtype=xp.float64), bool(signed), out)
        codes.append(out)
    return codes, (2 if signed else 1)


def _check_colors(g, colors):
    xp = g.backend.xp
    if isinstance(colors, (str, bytes)) or hasattr(colors, "ndim") or not hasattr(colors, "__len__"):
        raise InputError("colors must be a list with one integer array per block")
    if len(colors) != g.n_blocks:
        raise InputError(f"colors has {len(colors)} arrays but the graph has {g.n_blocks} blocks")
    T = g.blocks[0].shape[0]
    out = []
    for l, (c, W) in enumerate(zip(colors, g.blocks)):
        c = xp.asarray(c)  # W may be implicit here: only its shape is read
        if c.dtype.kind not in "iub":
            raise InputError(f"colors[{l}] has dtype {c.dtype}: colours are integers 0..{MAX_COLORS}")
        if c.ndim == 2:
            c = xp.broadcast_to(c, (T,) + c.shape)
        if tuple(c.shape) != tuple(W.shape):
            raise InputError(
                f"colors[{l}] has shape {tuple(c.shape)} but block {l} has shape {tuple(W.shape[1:])}"
                + (f" with {T} epochs" if g.stacked else "")
            )
        if c.size and (int(c.min()) < 0 or int(c.max()) > MAX_COLORS):
            raise InputError(
                f"colors[{l}] holds values in [{int(c.min())}, {int(c.max())}]: use 0 (no edge) and 1..{MAX_COLORS}"
            )
        out.append(c.astype(xp.int8))
    return out


# ---------------------------------------------------------------------------------------------- counting
class _Block:
    """Masks and degree vectors of one block for a batch of T epochs (or null draws)."""

    def __init__(self, codes, k, kern, xp):
        T, ns, nt = codes.shape
        self.B = xp.empty((T, k, ns, nt), dtype=xp.float32)
        kern.color_masks(codes, self.B)
        self.r = xp.rint(self.B.sum(axis=3, dtype=xp.float64)).astype(xp.int64)  # kout^c of the sources
        self.c = xp.rint(self.B.sum(axis=2, dtype=xp.float64)).astype(xp.int64)  # kin^c of the targets
        self.m = self.r.sum(axis=2)
        self._gram = None
        self._mv = {}


def _matvecs(blk, key, v, xp):
    """``B_b v_c`` for every colour pair, memoised on the block: (T, k, n_s, k) float64.

    Runs in float32 when every entry is an integer below 2^24 (then the GEMM is exact).
    """
    if key not in blk._mv:
        B = blk.B
        T, k, ns, nt = B.shape
        exact32 = (float(v.sum(axis=2).max()) if v.size else 0.0) < 2**24
        dt = xp.float32 if exact32 else xp.float64
        Bv = xp.empty((T, k * ns, k), dtype=dt)
        for t in range(T):  # 2-D GEMMs: (k n_s, n_t) @ (n_t, k)
            xp.matmul(B[t].reshape(k * ns, nt).astype(dt, copy=False), v[t].T.astype(dt), out=Bv[t])
        Bv = Bv.reshape(T, k, ns, k).astype(xp.float64)
        blk._mv[key] = Bv
    return blk._mv[key]


def _bilinear(u, Bv, xp):
    """``Q[t,a,b,c] = u_aᵀ B_b v_c`` from ``Bv = B_b v_c`` (see :func:`_matvecs`): (T,k,k,k) float64."""
    return xp.einsum("tai,tbic->tabc", u.astype(xp.float64), Bv)


def _gram_moments(blk, kern, xp):
    """Pair moments of the coloured Gram matrices on the smaller side (diagonal excluded).

    Returns ``(S, s, side)``: ``S[t,x,y,x',y'] = Σ_{u≠u'} G_xy G_x'y'``, ``s[t,x,y] = Σ_{u≠u'} G_xy`` with
    ``G_xy = B_x B_yᵀ`` on the rows (``side="rows"``) or ``B_xᵀ B_y`` on the columns (``side="cols"``).
    """
    if blk._gram is None:
        B = blk.B
        T, k, ns, nt = B.shape
        side = "rows" if ns <= nt else "cols"
        M = B if side == "rows" else xp.ascontiguousarray(B.transpose(0, 1, 3, 2))
        n = M.shape[2]
        G = xp.empty((T, k * n, k * n), dtype=xp.float32)
        kern.gram(M, G)
        S = xp.empty((T, k * k, k * k))
        s = xp.empty((T, k * k))
        kern.block_moments(G, k, True, S, s)
        blk._gram = (S.reshape(T, k, k, k, k), s.reshape(T, k, k), side)
    return blk._gram


def _path_moments(b1, b2, kern, xp):
    """Pair moments of the coloured path products ``P_ab = B1_a B2_b``: S (T,k,k,k,k), s (T,k,k)."""
    T, k, n0, _ = b1.B.shape
    n2 = b2.B.shape[3]
    P = xp.empty((T, k * n0, k * n2), dtype=xp.float32)
    kern.path_products(b1.B, b2.B, P)
    S = xp.empty((T, k * k, k * k))
    s = xp.empty((T, k * k))
    kern.block_moments(P, k, False, S, s)
    return S.reshape(T, k, k, k, k), s.reshape(T, k, k)


def _pairterm(S, s, t1, t2):
    """Σ over entries of the number of unordered pairs with types {t1, t2}: C2 if equal, product otherwise."""
    if t1 == t2:
        return (S[(slice(None),) + t1 + t1] - s[(slice(None),) + t1]) / 2
    return S[(slice(None),) + t1 + t2]


def _bifan(gm, cols):
    S, s, side = gm
    x1, x2, y1, y2 = cols  # rows = sources (i1: x1 x2, i2: y1 y2), columns = targets
    if side == "rows":  # column types (colour from i, colour from i') for ordered (i, i')
        a, b, a2, b2 = (x1, y1), (x2, y2), (y1, x1), (y2, x2)
    else:  # row types (colour to j, colour to j') for ordered (j, j')
        a, b, a2, b2 = (x1, x2), (y1, y2), (x2, x1), (y2, y1)
    terms = {tuple(sorted((a, b))), tuple(sorted((a2, b2)))}
    tot = 0
    for t1, t2 in terms:
        tot = tot + _pairterm(S, s, tuple(c - 1 for c in t1), tuple(c - 1 for c in t2))
    return tot / 2


def _n_subtract(gm, cols, k):
    """Σ over (i1≠i2, j1≠j2) of the N paths with colours ``cols`` whose missing slot i2→j1 is an edge."""
    S, s, side = gm
    c1, c2, c3 = (c - 1 for c in cols)
    if side == "rows":
        tot = S[:, c1, :, c2, c3].sum(axis=1)
        return tot - (s[:, c1, c3] if c1 == c2 else 0)
    tot = S[:, c1, c2, :, c3].sum(axis=1)
    return tot - (s[:, c1, c2] if c2 == c3 else 0)


def _count_batch(codes, k, shapes, kern, xp):
    """Counts of every class of ``shapes`` for one batch: {(shape, cols): int64 array (T, L)}."""
    L = len(codes)
    T = codes[0].shape[0]
    blocks = [_Block(c, k, kern, xp) for c in codes]
    out = {}
    cls = {s: mc.classes(s, k) for s in shapes}

    def put(shape, cols, l, val):
        arr = out.setdefault((shape, cols), np.zeros((T, L), dtype=np.int64))
        arr[:, l] = np.rint(to_host(val)).astype(np.int64)

    for l in range(L):
        b = blocks[l]
        for shape, src in (("fanout2", "r"), ("fanin2", "c"), ("outstar3", "r"), ("instar3", "c")):
            if shape in cls:
                x = getattr(b, src)
                for cols in cls[shape]:
                    put(shape, cols, l, mc.edge_choices(x, list(cols)).sum(axis=1))
        if "bifan" in cls or "N" in cls:
            gm = _gram_moments(b, kern, xp)
            for cols in cls.get("bifan", ()):
                put("bifan", cols, l, _bifan(gm, cols))
            if "N" in cls:
                Q = _bilinear(b.r, _matvecs(b, "c", b.c, xp), xp)
                rr = xp.einsum("tai,tbi->tab", b.r.astype(xp.float64), b.r)
                cc = xp.einsum("taj,tbj->tab", b.c.astype(xp.float64), b.c)
                for c1, c2, c3 in cls["N"]:
                    d12, d23 = c1 == c2, c2 == c3
                    ni = Q[:, c1 - 1, c2 - 1, c3 - 1]
                    if d23:
                        ni = ni - rr[:, c1 - 1, c2 - 1]
                    if d12:
                        ni = ni - cc[:, c2 - 1, c3 - 1]
                    if d12 and d23:
                        ni = ni + b.m[:, c2 - 1]
                    put("N", (c1, c2, c3), l, ni - _n_subtract(gm, (c1, c2, c3), k))
        if l + 1 < L:
            n = blocks[l + 1]
            kin, kout = b.c, n.r  # degrees of the middle layer l+1
            for cols in cls.get("chain3", ()):
                put("chain3", cols, l, (kin[:, cols[0] - 1] * kout[:, cols[1] - 1]).sum(axis=1))
            for cols in cls.get("y_in2out1", ()):
                put("y_in2out1", cols, l, (mc.edge_choices(kin, list(cols[:2])) * kout[:, cols[2] - 1]).sum(axis=1))
            for cols in cls.get("y_in1out2", ()):
                put("y_in1out2", cols, l, (kin[:, cols[0] - 1] * mc.edge_choices(kout, list(cols[1:]))).sum(axis=1))
            if any(s in cls for s in ("diamond", "src_branch", "snk_branch")):
                S, s = _path_moments(b, n, kern, xp)
                for a, bb, c, d in cls.get("diamond", ()):
                    put("diamond", (a, bb, c, d), l, _pairterm(S, s, (a - 1, bb - 1), (c - 1, d - 1)))
                if "src_branch" in cls:
                    Q = _bilinear(b.r, _matvecs(b, "r_next", n.r, xp), xp)  # r_l^a ᵀ B_l^b r_{l+1}^c
                    cr = xp.einsum("taj,tbj->tab", b.c.astype(xp.float64), n.r)
                    for c1, c2, c3 in cls["src_branch"]:
                        v = Q[:, c1 - 1, c2 - 1, c3 - 1] - S[:, c1 - 1, :, c2 - 1, c3 - 1].sum(axis=1)
                        if c1 == c2:
                            v = v - cr[:, c2 - 1, c3 - 1] + s[:, c1 - 1, c3 - 1]
                        put("src_branch", (c1, c2, c3), l, v)
                if "snk_branch" in cls:
                    Q = _bilinear(b.c, _matvecs(n, "c", n.c, xp), xp)  # c_l^a ᵀ B_{l+1}^b c_{l+1}^c
                    cr = xp.einsum("taj,tbj->tab", b.c.astype(xp.float64), n.r)
                    for c1, c2, c3 in cls["snk_branch"]:
                        v = Q[:, c1 - 1, c3 - 1, c2 - 1] - S[:, c1 - 1, c3 - 1, :, c2 - 1].sum(axis=1)
                        if c2 == c3:
                            v = v - cr[:, c1 - 1, c3 - 1] + s[:, c1 - 1, c3 - 1]
                        put("snk_branch", (c1, c2, c3), l, v)
        if l + 2 < L and "chain4" in cls:
            Q = _bilinear(b.c, _matvecs(blocks[l + 1], "r_next", blocks[l + 2].r, xp), xp)
            for a, bb, c in cls["chain4"]:
                put("chain4", (a, bb, c), l, Q[:, a - 1, bb - 1, c - 1])
    # shapes that do not fit anywhere still get their (zero) classes
    for s in shapes:
        for cols in cls[s]:
            out.setdefault((s, cols), np.zeros((T, L), dtype=np.int64))
    return out



def count_codes(codes, k, shapes, kern, xp):
    """Counts for a list of colour-code stacks, processed in batches that fit the mask budget.

    Returns {(shape, colours): int64 array (T, L)} (host arrays).
    """
    T = codes[0].shape[0]
    slots = sum(int(c.shape[1]) * int(c.shape[2]) for c in codes)
    batch = max(1, int(config.MOTIF_MASK_BUDGET // max(1, 4 * k * slots)))
    result = None
    for t0 in range(0, T, batch):
        part = _count_batch([c[t0:t0 + batch] for c in codes], k, shapes, kern, xp)
        if result is None:
            result = {key: np.zeros((T,) + v.shape[1:], dtype=np.int64) for key, v in part.items()}
        for key, v in part.items():
            result[key][t0:t0 + batch] = v
    return result


@takes_graph(skips=True)
def motifs(g, size=4, signed=False, colors=None, n_colors=None, per_block=True):
    """Exact counts of every connected induced motif class of a layered graph.

    On a block DAG (skip blocks, :meth:`LayeredGraph.from_blocks`) a class is the isomorphism class of a
    connected induced subgraph as a (coloured) directed acyclic graph. ``size=3`` counts the three layered
    classes and the feed-forward loop ``ffl`` (``i→j→k`` closed by ``i→k``) (:mod:`deepcnt.motifs.dag`);
    ``size=4`` adds all 24 connected acyclic 4-node classes (:mod:`deepcnt.motifs.dag4`): the chain's ten,
    which keep their names, and fourteen that need a skip block (``bypass4``, the feed-forward loop with a
    pendant edge ``ffl_{src,mid,snk}_{in,out}``, the transitive tournament ``tt4`` and ``tt4_noab``, it without
    the edge ``a→b``; templates in :data:`deepcnt.motifs.classes.EDGES`). Those counts come from block
    contractions (GEMM paths) and two exact inversions, never from enumerating node sets; on a chain the
    result is the chain census, unchanged.

    .. math::
        \\mathrm{bifan}_l = \\tfrac14\\big[\\lVert A_l^\\top A_l\\rVert_F^2 - \\textstyle\\sum_i r_i^2
        - \\sum_j c_j^2 + m_l\\big], \\qquad
        \\mathrm{diamond}_l = \\sum_{i,k} \\binom{(A_l A_{l+1})_{ik}}{2}, \\ \\dots

    Parameters
    ----------
    g : LayeredGraph
        Edges are the kept weights ``|w| > θ``.
    size : {3, 4}
        3: ``chain3``, ``fanout2``, ``fanin2`` (and ``ffl`` on a block DAG); 4: those plus the ten 4-node
        shapes of a chain (the 24 of :data:`deepcnt.motifs.classes.SHAPES_4_DAG` on a block DAG).
    signed : bool
        Split every class by edge sign (colour 1 = ``+``, 2 = ``-``): 4 chain3 classes, 7 bi-fan, 10 diamond, ...
    colors : list of int arrays, shape (n_i, n_j) or (T, n_i, n_j), optional
        An explicit colour ``1..k`` (k ≤ 4) for every slot of every block (in the order of ``g.pairs``),
        ``0`` = no edge. An edge is
        counted when it is kept by ``g`` and its colour is non-zero.
    n_colors : int, optional
        ``k`` for ``colors`` (default: the largest colour present); classes of all ``k`` colours are listed.
    per_block : bool
        Keep the breakdown by the motif's lowest layer.

    Returns
    -------
    MotifCounts
        ``counts[name]`` is an int64 scalar, or shape (T,) for an epoch stack; ``per_block[name]`` shape (L,)
        or (T, L). Class names are listed in :mod:`deepcnt.motifs.classes`.

    Raises
    ------
    InputError
        Bad size, colours of the wrong number/shape/dtype, colours outside 0..4, signed and colours together;
        a convolution block on a block DAG.

    Examples
    --------
    >>> import numpy as np, deepcnt
    >>> g = deepcnt.LayeredGraph.from_weights([np.ones((2, 2)), np.ones((2, 1))])
    >>> int(motifs(g)["bifan"]), int(motifs(g)["diamond"])
    (1, 2)
    """
    shapes = mc.shapes_for_size(size)
    if not g.is_chain:
        codes, k = edge_code_blocks(g, signed=signed, colors=colors, n_colors=n_colors)
        raw, shapes = dag_census(g, codes, k, size)
        return _package(raw, mc.symbols_for(k, signed, colors is not None), shapes, g.stacked, per_block)
    codes, k = edge_code_blocks(g, signed=signed, colors=colors, n_colors=n_colors)
    be = g.backend
    raw = count_codes(codes, k, shapes, be.kernel("motifs"), be.xp)
    return _package(raw, mc.symbols_for(k, signed, colors is not None), shapes, g.stacked, per_block)


def dag_census(g, codes, k, size):
    """The census of a block DAG: ``({(shape, colours): int64 (T, L)}, shapes)`` for ``size`` 3 or 4."""
    from .dag import dag_census3

    raw = dag_census3(g, codes, k)
    if size == 3:
        return raw, mc.SHAPES_3_DAG
    from .dag4 import dag_census4

    raw.update(dag_census4(g, codes, k))
    return raw, mc.SHAPES_3_DAG + mc.SHAPES_4_DAG


def _package(raw, symbols, shapes, stacked, per_block=True):
    k = max(1, len(symbols))
    names, shape_of, counts, pb = [], {}, {}, {}
    for s in shapes:
        for cols in mc.classes(s, k):
            name = mc.class_name(s, cols, symbols)
            arr = raw[(s, cols)]
            names.append(name)
            shape_of[name] = s
            counts[name] = arr.sum(axis=1) if stacked else arr.sum(axis=1)[0]
            if per_block:
                pb[name] = arr if stacked else arr[0]
    return MotifCounts(tuple(names), shape_of, counts, pb, symbols)
