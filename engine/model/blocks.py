"""Block kinds besides dense arrays: the contract an implicit block (a convolution, pooling) fulfils."""
import numpy as np


def array_module(a):
    """``numpy`` or ``cupy``: the array module of ``a`` (CuPy is imported only for a CuPy array)."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


class ImplicitBlock:
    """A weight block that is not held as a dense array (e.g. a convolution: its kernel plus geometry).

    Subclasses implement the same contract as a dense block stack of shape ``(T, n_in, n_out)``, without
    building it. The graph dispatches to these methods, so every metric built on the fused block pass
    (degree, strength, k_nn, La Malfa, degree-vector motifs) works on implicit blocks unchanged; metrics that
    need explicit edges call :meth:`LayeredGraph.block_stack` and get a clear error.

    Attributes
    ----------
    shape : tuple (T, n_in, n_out)
    dtype : numpy dtype of the weights
    stacked : bool, whether the user gave an epoch stack (a leading T axis)
    """

    shape = (0, 0, 0)
    dtype = np.dtype(np.float64)
    stacked = False
    #: What to use instead, said when a metric that needs explicit edges meets this kind of block.
    explicit_hint = "degree, strength, knn, n_edges, La Malfa's metrics and the exports work on it"
    #: Whether :meth:`block_matvec` takes ``fold=`` (``"count"``/``"abs"``: only the sum ``A⁺ + A⁻`` or
    #: ``W⁺ + W⁻``, into outputs of shape (T, n); ``"count+net"``: ``A⁺ + A⁻`` and ``W⁺ − W⁻``, shape
    #: (T, 2, n); as ``kernels.cpu.conv.conv_matvec``) and ``add=`` (add to the outputs, which may be strided
    #: views of the pass's sums); otherwise ``deepcnt.model.sums.block_pass`` folds the four channels itself
    #: (``kernels.common.fold_four``), from temporaries.
    folds = False
    #: Whether the block's weights are learnt. An identity skip and a pooling window have fixed, equal weights:
    #: a proportional threshold, which ranks learnt weights, neither counts nor cuts their edges.
    learnt = True

    def block_matvec(self, theta, x_row, x_col, row_out, col_out, backend):
        """The four masked sign-channel mat-vecs of ``kernels.*.blockpass.block_matvec``, same shapes."""
        raise NotImplementedError

    def edges(self, t, theta):
        """Kept edges of epoch ``t`` (``|w| > theta``): numpy arrays ``(rows, cols, values)``."""
        raise NotImplementedError

    def weight_counts(self, t):
        """The multiset of edge weights of epoch ``t`` as ``(values, counts)``: ``np.repeat(values, counts)``
        is every edge's weight. This default builds the edges; shared-weight blocks override it in
        O(parameters). Proportional thresholds use it."""
        v = np.asarray(self.edges(t, -1.0)[2], dtype=np.float64)
        return v, np.ones(v.size, dtype=np.int64)

    def take(self, t):
        """The block of epoch ``t`` alone (``T = 1``, ``stacked = False``)."""
        raise NotImplementedError

    @classmethod
    def concat(cls, blocks):
        """One stack of the epochs of ``blocks`` (same geometry)."""
        raise NotImplementedError

    def to(self, backend):
        """This block with its arrays on ``backend``'s device."""
        raise NotImplementedError
