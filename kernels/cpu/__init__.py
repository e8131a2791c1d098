"""CPU twins (Numba). Same module and function names as ``deepcnt.kernels.gpu``."""
from . import blockpass

__all__ = ["blockpass"]
