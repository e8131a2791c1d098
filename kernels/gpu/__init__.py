"""GPU twins (numba.cuda + CuPy). Same module and function names as ``deepcnt.kernels.cpu``.

Under ``NUMBA_ENABLE_CUDASIM=1`` the numba.cuda kernels run on the CPU simulator with numpy arrays; that is
how they are tested on machines without a device.
"""
from . import blockpass

__all__ = ["blockpass"]
