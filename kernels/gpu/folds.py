"""The GPU twins' way to a ``fold`` or ``add`` (``deepcnt.model.sums.block_pass``): their kernels always
write the four sign channels ``(A⁺, A⁻, W⁺, W⁻)``, into buffers when the pass asks for less or for a sum, and
the channels are then folded and written or added here (one array operation per output on the device)."""
import numpy as np

from ..common import fold_four

FOLDS = (None, "count", "abs", "count+net")


def cupy_or_numpy(a):
    """The array module of ``a``: CuPy on a device, numpy under the simulator."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def four_channel_buffers(row_out, col_out, fold, add):
    """Arrays (T, 4, n) for a kernel to write the four channels into: the outputs themselves where they are
    that (no fold, no add, C-contiguous), else fresh buffers for :func:`deliver`."""
    if fold not in FOLDS:
        raise ValueError(f"fold must be one of {FOLDS}, got {fold!r}")
    if not add and fold is None and row_out.flags.c_contiguous and col_out.flags.c_contiguous:
        return row_out, col_out
    xp = cupy_or_numpy(row_out)
    T = row_out.shape[0]
    return xp.zeros((T, 4, row_out.shape[-1])), xp.zeros((T, 4, col_out.shape[-1]))


def deliver(row, col, row_out, col_out, fold, add):
    """The ``fold`` of the four-channel sums ``row``, ``col`` written (or added, ``add``) to the outputs."""
    if fold is not None:
        row, col = fold_four(row, fold), fold_four(col, fold)
    if add:
        row_out += row
        col_out += col
    elif row is not row_out:
        row_out[...] = row
        col_out[...] = col
