"""GPU twins (numba.cuda + CuPy). Same module and function names as ``deepcnt.kernels.cpu``.

Under ``NUMBA_ENABLE_CUDASIM=1`` the numba.cuda kernels run on the CPU simulator with numpy arrays; that is
how they are tested on machines without a device.
"""
import numpy as _np

# numba-cuda 0.30 (the last release; the project is in maintenance) registers an overload of np.row_stack
# when it compiles its first kernel, and NumPy 2.5 removed that alias of np.vstack: every kernel launch then
# fails with "module 'numpy' has no attribute 'row_stack'". Restoring the alias, only where it is missing, is
# the whole fix (numba 0.67 guards it the same way).
if not hasattr(_np, "row_stack"):
    _np.row_stack = _np.vstack

from . import blockpass  # noqa: E402

__all__ = ["blockpass"]
