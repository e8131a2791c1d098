"""All tunables of deepcnt in one place: ``deepcnt.config`` is this module.

Set a name to change what the next call does, e.g. ``deepcnt.config.SINKHORN_PARALLEL_MIN = 0``; ``reset()``
restores every default. The Python side of the kernels reads these names at call time. Four are read when a
kernel is compiled and are fixed for the process once it is: ``FASTMATH``, ``CACHE`` (Numba's decorators),
and ``THREADS_PER_BLOCK`` where a GPU kernel sizes its blocks by it.
"""
import copy
import os

#: Numba ``fastmath`` flags of the reduction kernels: reassociation lets the row sums vectorise; no
#: flag that changes NaN/inf semantics or precision of single operations (sums still match to 1e-12).
FASTMATH = {"reassoc", "contract", "nsz"}
#: Numba on-disk cache of compiled kernels.
CACHE = True
# numba.cuda on its CPU simulator (tests without a device): every simulated thread is a Python thread, so
# blocks are kept small there.
_SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"
#: Blocks (T·n_s·n_t weights) smaller than this run the fused pass on one thread: waking the thread pool
#: costs more than the pass itself.
PARALLEL_MIN_ELEMENTS = 1 << 17
#: BLAS threads of the CPU block pass (``deepcnt.model.sums.block_pass``; ``None``: as BLAS is set). Its
#: products are small and skinny (a convolution's kernel times one position per class pattern): a second
#: thread gains little and, on a loaded machine, stalls (ResNet-50's core metrics on a shared 2-core machine:
#: 0.99 s with two threads, 0.55 s with one).
PASS_BLAS_THREADS = 1
#: Threads per block of the 1-D numba.cuda kernels.
THREADS_PER_BLOCK = int(os.environ.get("DEEPCNT_TPB", "8" if _SIMULATOR else "128"))
#: GPU block pass: the fewest thread blocks its grid aims for (rows are tiled finer until there are as many),
#: and the fewest rows each warp sums per tile (each tile writes one column partial per column).
BLOCKPASS_MIN_TILES = 8 if _SIMULATOR else 4096
BLOCKPASS_MIN_ROWS_PER_WARP = 2 if _SIMULATOR else 16
# ---- transport / information / statistics
#: POT ``emd2`` iteration cap (its default 100000 is too low for 784-bin supports).
EMD_NUM_ITERMAX = 1_000_000
#: Pairs per task of the exact-EMD process pool.
EMD_CHUNK = 64
#: Default Sinkhorn ε in units of the ground metric (pixel spacing 1); raised when exp(-M/ε) would underflow.
SINKHORN_EPS = 0.1
#: Sinkhorn iteration cap and stopping tolerance (L1 row-marginal error of every pair).
SINKHORN_MAX_ITER = 2000
SINKHORN_TOL = 1e-6
#: Pairs per batched-Sinkhorn call (memory: about 6 arrays of d × chunk float64).
SINKHORN_CHUNK = 2048
#: Shuffles of the permutation tests (Shine et al.: 10,000) and shuffles per vectorised batch.
N_PERMUTATIONS = 10_000
PERMUTATION_BATCH = 1000
#: Motif kernels: below these sizes a kernel runs on one thread (Numba and BLAS). Waking threads
#: costs milliseconds on a loaded machine, far more than the work of a small block.
MOTIF_SERIAL_ELEMENTS = 1 << 21
MOTIF_SERIAL_MACS = 1 << 27
#: ε-scaling of Sinkhorn: the first ε as a fraction of max M, and the stopping tolerance of intermediate stages.
SINKHORN_EPS_START = 0.125
SINKHORN_STAGE_TOL = 1e-3
#: Below this many entries (pairs × bins) the CPU Sinkhorn helpers run serially (no parallel-region overhead).
SINKHORN_PARALLEL_MIN = 1 << 17
#: Bytes of 0/1 colour masks a motif count holds at once; longer epoch stacks are counted in batches.
MOTIF_MASK_BUDGET = 256 * 2**20
#: Rows of a weight matrix per chunk of the mutual-information kernels (bounds their temporaries).
INFORMATION_ROW_CHUNK = 8192

_DEFAULTS = {name: copy.deepcopy(value) for name, value in globals().items() if name.isupper() and name[0] != "_"}


def reset():
    """Restore every tunable to its default."""
    globals().update(copy.deepcopy(_DEFAULTS))
