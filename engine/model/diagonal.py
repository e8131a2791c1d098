"""Diagonal blocks between two layers of one size: a per-unit scale (a normalisation layer kept as its own
block) and the identity of a skip connection.

A :class:`DiagonalBlock` ``diag(d)`` joins unit ``k`` of layer ``i`` to unit ``k`` of layer ``j`` with weight
``d_k`` (an edge where ``|d_k| > θ``, like any weight); :class:`IdentityBlock` is ``d = 1``: the skip of a
residual connection, one edge ``k -> k`` of weight 1 per unit (a threshold ``θ >= 1`` drops it, like any
weight of magnitude 1). Both are O(units) in memory and their block pass is a handful of vectorised
elementwise operations (numpy or CuPy): there is nothing a kernel would add.
"""
import numpy as np

from ..backend import to_host
from ..errors import InputError
from .blocks import ImplicitBlock
from .blocks import array_module as _xp


def diagonal_matvec(d, theta, x_row, x_col, row_out, col_out, fold=None, add=False):
    """The four masked sign-channel mat-vecs of ``diag(d)`` (contract of ``kernels.*.blockpass.block_matvec``).

    .. math:: \\mathrm{row\\_out}[t,c,k] = B_c(d_{tk})\\,x\\_col[t,k],\\qquad
              \\mathrm{col\\_out}[t,c,k] = B_c(d_{tk})\\,x\\_row[t,k]

    with ``B = (1[d > θ], 1[d < −θ], d·1[d > θ], −d·1[d < −θ])``.

    Parameters
    ----------
    d : array, shape (T, n), float32 or float64 (numpy or CuPy)
    theta : array, shape (T,), float64
    x_row, x_col : arrays, shape (T, n), float64
    row_out, col_out : arrays, shape (T, 4, n), float64, overwritten; (T, n) with a one-channel ``fold``,
        (T, 2, n) with ``"count+net"``
    fold : {None, "count", "abs", "count+net"}
        Only ``A⁺ + A⁻``, ``W⁺ + W⁻``, or ``A⁺ + A⁻`` and ``W⁺ − W⁻`` (``deepcnt.model.sums.block_pass``).
    add : bool
        Add to the outputs instead of overwriting them.
    """
    xp = _xp(d)
    d = d.astype(xp.float64, copy=False)
    th = theta[:, None]
    if fold == "count+net":
        kept = xp.abs(d) > th
        channels = (kept.astype(xp.float64), xp.where(kept, d, 0.0))
        pairs = [(b, x, out[:, c]) for c, b in enumerate(channels) for x, out in ((x_col, row_out), (x_row, col_out))]
    elif fold is not None:
        kept = xp.abs(d) > th
        b = kept.astype(xp.float64) if fold == "count" else xp.where(kept, xp.abs(d), 0.0)
        pairs = ((b, x_col, row_out), (b, x_row, col_out))
    else:
        pos = d > th
        neg = d < -th
        channels = (pos.astype(xp.float64), neg.astype(xp.float64), xp.where(pos, d, 0.0), xp.where(neg, -d, 0.0))
        pairs = [(b, x, out[:, c]) for c, b in enumerate(channels) for x, out in ((x_col, row_out), (x_row, col_out))]
    for b, x, out in pairs:
        if add:
            out += b * x
        else:
            xp.multiply(b, x, out=out)


class DiagonalBlock(ImplicitBlock):
    """A diagonal block ``diag(d)``: unit ``k`` to unit ``k`` with weight ``d_k`` (e.g. a BatchNorm's
    ``γ/√(σ²+ε)`` per unit, or per channel repeated over the channel's positions, kept as its own block).

    Parameters
    ----------
    d : array, shape (n,) or an epoch stack (T, n)
        numpy or CuPy, real; held as float32/float64.

    Attributes
    ----------
    shape : (T, n, n)
    d : array, shape (T, n)
    """

    kind = "diagonal"
    folds = True

    def __init__(self, d, stacked=None):
        if not hasattr(d, "dtype"):
            try:
                d = np.asarray(d)
            except Exception as exc:
                raise InputError(f"a diagonal block is not an array of numbers ({exc})") from None
        if d.ndim not in (1, 2):
            raise InputError(f"a diagonal block has shape {tuple(d.shape)}: expected (n,) or an epoch stack (T, n)")
        if d.dtype.kind not in "biuf":
            raise InputError(f"a diagonal block has dtype {d.dtype}: weights must be real numbers")
        if d.dtype.kind != "f" or d.dtype.itemsize < 4:
            d = d.astype(np.float64 if d.dtype.kind != "f" else np.float32)
        self.stacked = (d.ndim == 2) if stacked is None else bool(stacked)
        xp = _xp(d)
        d = xp.ascontiguousarray(d if d.ndim == 2 else d[None])
        if not bool(xp.isfinite(d).all()):
            raise InputError("a diagonal block holds NaN or infinite weights: clean the checkpoint first")
        if min(d.shape) < 1:
            raise InputError(f"a diagonal block has an empty axis: shape {tuple(d.shape)}")
        self.d = d
        self.shape = (int(d.shape[0]), int(d.shape[1]), int(d.shape[1]))
        self.dtype = d.dtype

    @classmethod
    def per_channel(cls, scale, shape):
        """The diagonal of a per-channel scale over units ``(C, H, W)`` (C-order, as a convolution's units):
        ``d[c·H·W + y·W + x] = scale[c]``, e.g. a ``BatchNorm2d``'s ``γ_c/√(σ²_c+ε)`` kept as its own block.

        Parameters
        ----------
        scale : array, shape (C,) or an epoch stack (T, C)
        shape : (C, H, W)

        Examples
        --------
        >>> DiagonalBlock.per_channel([2.0, -1.0], (2, 1, 3)).d.tolist()
        [[2.0, 2.0, 2.0, -1.0, -1.0, -1.0]]
        """
        s = scale if hasattr(scale, "dtype") else np.asarray(scale)
        try:
            C, H, W = (int(v) for v in shape)
        except (TypeError, ValueError):
            raise InputError(f"shape must be (C, H, W), got {shape!r}") from None
        if s.ndim not in (1, 2) or s.shape[-1] != C:
            raise InputError(f"a per-channel scale has shape {tuple(s.shape)} but the units have {C} channels")
        return cls(_xp(s).repeat(s, H * W, axis=-1))

    @property
    def array(self):
        """The diagonal (tells which device the block lives on)."""
        return self.d

    def _like(self, d, stacked):
        return DiagonalBlock(d, stacked=stacked)

    def __repr__(self):
        return f"{type(self).__name__}(n={self.shape[1]}, epochs={self.shape[0]})"

    def block_matvec(self, theta, x_row, x_col, row_out, col_out, backend, fold=None, add=False):
        """The four masked sign-channel mat-vecs (or one ``fold``), written or added (``add``) to the outputs:
        one compiled loop on the CPU, the vectorised :func:`diagonal_matvec` elsewhere."""
        if backend.name == "cpu":
            backend.kernel("elementwise").diagonal_matvec(self.d, theta, x_row, x_col, row_out, col_out, fold, add)
        else:
            diagonal_matvec(self.d, theta, x_row, x_col, row_out, col_out, fold, add)

    def edges(self, t, theta):
        d = to_host(self.d[t]).astype(np.float64)
        k = np.nonzero(np.abs(d) > theta)[0]
        return k, k, d[k]

    def take(self, t):
        return self._like(self.d[t], stacked=False)

    @classmethod
    def concat(cls, blocks):
        first = blocks[0]
        if any(type(b) is not type(first) or b.shape[1] != first.shape[1] for b in blocks):
            raise InputError("cannot stack diagonal blocks of different kinds or sizes")
        return first._like(_xp(first.d).concatenate([b.d for b in blocks]), stacked=True)

    def to(self, backend):
        d = backend.xp.asarray(to_host(self.d)) if backend.name == "gpu" else to_host(self.d)
        return self._like(d, stacked=self.stacked)


class IdentityBlock(DiagonalBlock):
    """The skip of a residual connection: unit ``k`` to unit ``k`` with weight 1 (``diag(1)``).

    It has no parameters: it joins an epoch stack of any length and any device
    (:meth:`LayeredGraph.from_blocks` adapts it), and ``"identity"`` in ``from_blocks`` is this block.

    Parameters
    ----------
    n : int
        Units on each side.
    n_epochs : int
    stacked : bool
    """

    kind = "identity"
    learnt = False

    def __init__(self, n, n_epochs=1, stacked=False, xp=np):
        try:
            n, n_epochs = int(n), int(n_epochs)
        except (TypeError, ValueError):
            raise InputError(f"an identity block needs an int size, got {n!r}") from None
        if n < 1 or n_epochs < 1:
            raise InputError(f"an identity block needs n >= 1 and n_epochs >= 1, got {n} and {n_epochs}")
        super().__init__(xp.ones((n_epochs, n)), stacked=stacked)

    def _like(self, d, stacked):
        return IdentityBlock(d.shape[-1], n_epochs=d.shape[0] if d.ndim == 2 else 1, stacked=stacked, xp=_xp(d))

    def with_epochs(self, T, stacked):
        """This block for a graph of ``T`` epochs (``stacked``: whether the graph is an epoch stack)."""
        return IdentityBlock(self.shape[1], n_epochs=T, stacked=stacked, xp=_xp(self.d))

    def weight_counts(self, t):
        """One weight, 1, held by ``n`` edges."""
        return np.ones(1), np.array([self.shape[1]], dtype=np.int64)
