"""deepcnt.kernels: compute only. Raw arrays in, preallocated arrays out.

``kernels.cpu`` (Numba) and ``kernels.gpu`` (numba.cuda + CuPy) are twins: the same module names, the same
function names and signatures. This package imports numpy and numba only; cupy is imported lazily by the GPU
twins that need it.
"""
from . import numba_cache

numba_cache.install()  # before any kernel module is compiled or loaded from the cache

from . import config  # noqa: E402

__all__ = ["config"]
