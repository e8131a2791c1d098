"""deepcnt.kernels: compute only. Raw arrays in, preallocated arrays out.

``kernels.cpu`` (Numba) and ``kernels.gpu`` (numba.cuda + CuPy) are twins: the same module names, the same
function names and signatures. This package imports numpy and numba only; cupy is imported lazily by the GPU
twins that need it.
"""
from . import config

__all__ = ["config"]
