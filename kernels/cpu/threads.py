"""BLAS's thread count for a region of CPU work (threadpoolctl)."""
import contextlib
import functools

from threadpoolctl import ThreadpoolController

CPU_ONLY = "the thread count of the CPU's BLAS; a GPU's products run in cuBLAS, which has no such setting"


@functools.lru_cache(maxsize=1)
def _controller():
    """The controller of the loaded BLAS libraries, built once: finding them takes about 0.5 ms, a limit set
    through a built controller about 16 µs (a pruned MLP's whole block pass is a few ms)."""
    return ThreadpoolController()


def blas_threads(n):
    """A context in which BLAS runs on ``n`` threads (``None``: as it is)."""
    return contextlib.nullcontext() if n is None else _controller().limit(limits=n, user_api="blas")
