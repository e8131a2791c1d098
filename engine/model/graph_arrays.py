"""Array helpers of :class:`~deepcnt.model.graph.LayeredGraph` (part of :mod:`deepcnt.model.graph`).

Checking and converting weight blocks (:func:`_as_block`) and biases (:func:`_bias_stacks`) for the
constructors, the host copy of an array, the cut of a proportional threshold, the concatenation of blocks of
one pair (``stack``) and the signed edge values of the exports.
"""
import numpy as np

from ..backend import is_torch_tensor
from ..errors import InputError
from .blocks import ImplicitBlock


def _as_block(w, l, xp, named=False):
    """Validate one weight block and return it C-contiguous as float32/float64 (``l``: its index, or its
    name with ``named=True``)."""
    name = l if named else f"weights[{l}]"
    if isinstance(w, ImplicitBlock):
        return w  # validated by its own constructor
    if is_torch_tensor(w):
        raise InputError(
            f"{name} is a torch.Tensor: use deepcnt.bindings.torch.from_module(model), "
            "or convert it with .detach().cpu().numpy()"
        )
    if not hasattr(w, "dtype"):
        try:
            w = np.asarray(w)
        except Exception as exc:  # ragged lists and the like
            raise InputError(f"{name} is not an array of numbers ({exc})") from None
    if w.ndim not in (2, 3):
        raise InputError(
            f"{name} has shape {tuple(w.shape)}: expected a 2-D block (n_in, n_out) "
            "or a 3-D epoch stack (T, n_in, n_out)"
        )
    kind = w.dtype.kind
    if kind not in "biuf":
        raise InputError(f"{name} has dtype {w.dtype}: weights must be real numbers (float32 or float64)")
    if kind == "f" and w.dtype.itemsize < 4:
        w = w.astype(np.float32)
    elif kind != "f":
        w = w.astype(np.float64)
    w = xp.ascontiguousarray(w)
    if not _all_finite(w, xp):  # one pass in the common case; details only on failure
        for bad, what in ((xp.isnan, "NaN"), (xp.isinf, "infinite")):
            mask = bad(w)
            n_bad = int(mask.sum())
            if n_bad:
                first = tuple(int(i) for i in np.argwhere(get_backend_np(mask))[0])
                raise InputError(
                    f"{name} holds {n_bad} {what} weight(s), the first at index {first}: "
                    "clean the checkpoint or drop the epoch before building the graph"
                )
    return w


def _all_finite(w, xp, chunk=1 << 22):
    """``isfinite(w).all()`` in slices of ``chunk`` weights, so the boolean temporary stays small."""
    flat = w.reshape(-1)
    return all(bool(xp.isfinite(flat[i : i + chunk]).all()) for i in range(0, flat.size, chunk))


def get_backend_np(a):
    """Host copy of a numpy or CuPy array."""
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _bias_stacks(biases, sizes, T, stacked, xp):
    """Validated biases of layers ``1..L`` (``biases[l]`` belongs to layer ``l+1``), each shape (T, n_{l+1})."""
    out = []
    for l, b in enumerate(biases):
        n = sizes[l + 1]
        if b is None:
            out.append(xp.zeros((T, n)))
            continue
        b = xp.asarray(b, dtype=xp.float64)
        given = tuple(b.shape)
        if b.ndim == 1:
            b = xp.broadcast_to(b, (T, b.shape[0]))
        if b.ndim != 2 or b.shape != (T, n):
            raise InputError(
                f"biases[{l}] has shape {given} but layer {l + 1} has {n} nodes"
                + (f" and the stack has {T} epochs" if stacked else "")
            )
        if not bool(xp.isfinite(b).all()):
            raise InputError(f"biases[{l}] holds NaN or infinite values")
        out.append(xp.ascontiguousarray(b))
    return out


def _top_fraction_cut(mags, counts, rho):
    """The largest magnitude not kept when the top ``round(ρ·n)`` of ``n`` edges are (0 keeps all).

    ``counts[i]`` is None where every magnitude is one edge, else the multiplicity of each magnitude.
    """
    a = np.concatenate(mags)
    if all(c is None for c in counts):
        k = int(round(rho * a.size))
        return 0.0 if k >= a.size else float(np.partition(a, a.size - k - 1)[a.size - k - 1])
    c = np.concatenate([np.ones(m.size, np.int64) if c is None else c for m, c in zip(mags, counts)])
    n = int(c.sum())
    k = int(round(rho * n))
    if k >= n:
        return 0.0
    order = np.argsort(a)[::-1]  # the (k+1)-th largest magnitude, counted with multiplicity
    return float(a[order][np.searchsorted(np.cumsum(c[order]), k, side="right")])


def _concat(blocks, xp):
    if isinstance(blocks[0], ImplicitBlock):
        return type(blocks[0]).concat(blocks)
    return xp.concatenate(blocks)


def _edge_values(v, sign):
    if sign == "net":
        return v
    if sign == "abs":
        return np.abs(v)
    if sign == "positive":
        return np.maximum(v, 0.0)
    if sign == "negative":
        return np.maximum(-v, 0.0)
    if sign == "binary":
        return np.ones_like(v)
    raise InputError(f"unknown sign {sign!r}: use net, abs, positive, negative or binary")
