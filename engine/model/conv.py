"""Convolutional networks as layered graphs: implicit unrolled blocks and the channel view.

**Unrolled view** (the graph the seeds use, La Malfa et al. / Caprioli et al.): one node per unit
``(channel, y, x)``, in C-order of ``(C, H, W)`` (``c·H·W + y·W + x``, which is also the order of
``torch.flatten``). A ``Conv2d`` is a block from the ``C_in·H·W`` input units to the ``C_out·H_out·W_out``
output units with one edge per (output position, kernel entry) whose input position lies inside the image:

.. math:: W[(c_i, o_y s_h - p_h + k_y d_h, o_x s_w - p_w + k_x d_w),\\ (c_o, o_y, o_x)]
          = K[c_o, c_i \\bmod (C_{in}/g), k_y, k_x]

(only input channels of ``c_o``'s group). Zero padding adds no edge. A :class:`ConvBlock` holds the kernel
tensor and that geometry and never the edges: the fused block pass runs the kernels of
``deepcnt.kernels.*.conv`` (degrees and strengths in O(parameters + units), other vectors as one BLAS
product per direction; memory O(parameters + units)), so degree, strength, knn (binary and
Barrat), La Malfa's strength and fluctuation, ``n_edges``, thresholds (applied to the kernel entries: an edge
is ``|K| > θ``), epoch stacks and exports work unchanged.

**Pooling** is a layer of its own: a :class:`PoolBlock` is the depthwise convolution of the pooling window
(``groups = C``), with unit edges from every in-image input position of the window to the pooled unit —
weight ``1`` for max pooling (the edge says "may be selected"; which one is selected depends on the input) and
``1/(k_h k_w)`` for average pooling (torch's ``count_include_pad=True`` divisor, so the weights are exactly
the linear map ``AvgPool2d`` applies). Thresholds apply to these weights like to any other block.

**Flatten** adds no layer: the unit order above is the flatten order, so a ``Linear`` after ``Flatten`` is an
ordinary dense block ``Linear.weight.T`` of shape ``(C·H·W, n_out)``.

**Channel view** (:func:`channel_graph`): one node per channel; the edge ``c_i → c_o`` of a convolution is a
reduction of the kept kernel entries ``K[c_o, c_i, :, :]`` (sum, sum of ``|·|``, or Frobenius norm); zero
between channels of different groups. A dense block after a convolution reduces the same way over the
spatial positions of each input channel. The result is an ordinary dense :class:`LayeredGraph`.
"""
import numpy as np

from ..backend import to_host
from ..errors import InputError, check_choice
from .blocks import ImplicitBlock
from .blocks import array_module as _xp
from .graph import LayeredGraph

_REDUCE = ("sum", "abs", "norm")


def _pair(v, name):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    try:
        v = tuple(int(x) for x in v)
    except TypeError:
        raise InputError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    if len(v) != 2:
        raise InputError(f"{name} must be an int or a pair of ints, got {v!r}")
    return v


def _padding_sides(padding):
    """``padding`` as ``((top, left), (bottom, right))``: an int, a pair ``(p_h, p_w)`` (both sides), or
    ``((top, bottom), (left, right))`` (a zero padding wider on one side: TensorFlow's ``"same"``)."""
    try:
        if len(padding) == 2 and all(hasattr(p, "__len__") for p in padding):
            (t, b), (l, r) = (_pair(p, "padding") for p in padding)
            return (t, l), (b, r)
    except TypeError:
        pass
    p = _pair(padding, "padding")
    return p, p


def conv_output_shape(in_shape, kernel_size, stride=1, padding=0, dilation=1):
    """``(H_out, W_out)`` of a convolution or pooling window (torch's formula, ``ceil_mode=False``).

    .. math:: H_{out} = \\lfloor (H + 2p_h - d_h (k_h - 1) - 1) / s_h \\rfloor + 1
    """
    H, W = in_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    return (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1


class ConvBlock(ImplicitBlock):
    """A ``Conv2d`` weight block held as its kernel tensor plus geometry (never its edges).

    Parameters
    ----------
    kernel : array, shape (C_out, C_in/groups, kh, kw) or an epoch stack (T, C_out, C_in/groups, kh, kw)
        torch's ``Conv2d.weight`` layout; numpy (or CuPy) float32/float64.
    in_shape : (C_in, H, W)
        The shape of one input sample.
    stride, dilation : int or (int, int)
    padding : int, (int, int) or ((top, bottom), (left, right))
        Zero padding (it adds no edge); the nested form pads one side more (TensorFlow's ``"same"``).
    groups : int
    transposed : bool
        A transposed convolution (``ConvTranspose2d``, kernel ``(C_in, C_out/groups, kh, kw)``, ``in_shape`` its
        input): the transpose of the convolution from its output to its input with the same kernel, stride,
        padding and dilation. Its output is ``(H − 1)·s − 2p + d(k − 1) + output_padding + 1`` high (and wide).
    output_padding : int or (int, int)
        Of a transposed convolution: rows and columns added at the bottom and right of its output (below
        ``max(stride, dilation)``).

    Attributes
    ----------
    shape : (T, C_in·H·W, C_out·H_out·W_out)
    in_shape, out_shape : (C, H, W) of the input and output units

    Raises
    ------
    InputError
        A kernel that is not 4-D/5-D, not real, holds NaN/inf; channels that do not match ``in_shape`` and
        ``groups``; a geometry that leaves no output position.
    """

    explicit_hint = ("use the channel view, or the metrics computed by convolution identities (degree, strength, "
                     "knn)")

    kind = "conv"
    folds = True

    def __init__(self, kernel, in_shape, stride=1, padding=0, dilation=1, groups=1, stacked=None, transposed=False,
                 output_padding=0):
        K = kernel
        if not hasattr(K, "dtype"):
            K = np.asarray(K)
        if K.ndim not in (4, 5):
            raise InputError(
                f"a {self.kind} kernel has shape {tuple(K.shape)}: expected (C_out, C_in/groups, kh, kw) or an "
                "epoch stack (T, C_out, C_in/groups, kh, kw)"
            )
        if K.dtype.kind not in "biuf":
            raise InputError(f"a {self.kind} kernel has dtype {K.dtype}: weights must be real numbers")
        if K.dtype.kind != "f" or K.dtype.itemsize < 4:
            K = K.astype(np.float64 if K.dtype.kind != "f" else np.float32)
        self.stacked = (K.ndim == 5) if stacked is None else bool(stacked)
        if K.ndim == 4:
            K = K[None]
        xp = _xp(K)
        K = xp.ascontiguousarray(K)
        if not bool(xp.isfinite(K).all()):
            n_bad = int((~xp.isfinite(K)).sum())
            raise InputError(
                f"the {self.kind} kernel holds {n_bad} NaN or infinite weight(s): clean the checkpoint or "
                "drop the epoch before building the graph"
            )
        try:
            C_in, H, W = (int(v) for v in in_shape)
        except (TypeError, ValueError):
            raise InputError(f"in_shape must be (C, H, W), got {in_shape!r}") from None
        if min(C_in, H, W) < 1:
            raise InputError(f"in_shape must be three positive ints (C, H, W), got {tuple(in_shape)!r}")
        groups = int(groups)
        T, C_out, cin_g, kh, kw = (int(v) for v in K.shape)
        self.stride = _pair(stride, "stride")
        self.padding, self.padding_end = _padding_sides(padding)  # the offsets (top, left); (bottom, right)
        self.dilation = _pair(dilation, "dilation")
        self.transposed, self.output_padding = bool(transposed), _pair(output_padding, "output_padding")
        if self.transposed:  # the convolution from this block's output (C_in, H, W below) back to its input
            outer = (C_in, H, W)
            C_in, H, W = self._transposed_output(outer, C_out, cin_g * groups, kh, kw)
        if groups < 1 or C_in % groups or C_out % groups:
            raise InputError(f"groups={groups} must divide the {C_in} input and {C_out} output channels")
        if cin_g * groups != C_in:
            raise InputError(
                f"the {self.kind} kernel takes {cin_g * groups} input channels ({cin_g} per group × {groups} "
                f"groups) but the input has {C_in} channels (in_shape={tuple(in_shape)})"
            )
        if min(T, C_out, kh, kw) < 1:
            raise InputError(f"the {self.kind} kernel has an empty axis: shape {tuple(K.shape)}")
        if min(self.stride + self.dilation) < 1 or min(self.padding + self.padding_end) < 0:
            raise InputError("stride and dilation must be >= 1 and padding >= 0")
        extra = (self.padding_end[0] - self.padding[0], self.padding_end[1] - self.padding[1])  # beyond symmetric
        if self.transposed:  # the convolution back has exactly the H×W outputs of the transposed one's input
            extra = tuple(-o for o in self.output_padding)
        Ho, Wo = conv_output_shape((H + extra[0], W + extra[1]), (kh, kw), self.stride, self.padding, self.dilation)
        if Ho < 1 or Wo < 1:
            raise InputError(
                f"a {kh}×{kw} {self.kind} window (dilation {self.dilation}, padding {self.padding}) does not fit "
                f"an input of {H}×{W}: check the input shape"
            )
        self.kernel = K
        self.groups = groups
        self._conv = ((C_in, H, W), (C_out, Ho, Wo))  # the convolution's input and output (of the kernels)
        self.in_shape, self.out_shape = self._conv[::-1] if self.transposed else self._conv
        if self.transposed and self.in_shape != outer:
            raise InputError(f"a transposed {self.kind} of in_shape {outer} does not invert: check the geometry")
        self.shape = (T, int(np.prod(self.in_shape)), int(np.prod(self.out_shape)))
        self.dtype = K.dtype

    def _transposed_output(self, in_shape, C_k, C_out, kh, kw):
        """``(C_out, H_out, W_out)`` of a transposed convolution of ``in_shape`` (torch's formula)."""
        if C_k != in_shape[0]:
            raise InputError(f"the transposed {self.kind} kernel reads {C_k} input channels but the input has "
                             f"{in_shape[0]} (in_shape={tuple(in_shape)})")
        if self.padding != self.padding_end:
            raise InputError("a transposed convolution pads both sides alike: give padding as an int or a pair")
        if any(o < 0 or o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise InputError(f"output_padding {self.output_padding} must be below max(stride, dilation)")
        sizes = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1 for n, s, p, d, k, o in
                 zip(in_shape[1:], self.stride, self.padding, self.dilation, (kh, kw), self.output_padding)]
        return (C_out, *sizes)

    # ------------------------------------------------------------------ geometry
    @property
    def array(self):
        """A representative array of the block (its kernel): tells which device the block lives on."""
        return self.kernel

    @property
    def geom(self):
        """The 15-int geometry tuple of ``deepcnt.kernels.*.conv``."""
        (C_in, H, W), (C_out, Ho, Wo) = self._conv
        kh, kw = self.kernel.shape[3:]
        return (C_in, H, W, C_out, Ho, Wo, int(kh), int(kw), *self.stride, *self.padding, *self.dilation,
                self.groups)

    @property
    def padding_sides(self):
        """``((top, bottom), (left, right))``, or ``(p_h, p_w)`` when both sides pad alike."""
        if self.padding == self.padding_end:
            return self.padding
        return tuple(zip(self.padding, self.padding_end))

    def _geometry_kwargs(self):
        return dict(in_shape=self.in_shape, stride=self.stride, padding=self.padding_sides, dilation=self.dilation,
                    groups=self.groups, transposed=self.transposed, output_padding=self.output_padding)

    def _like(self, kernel, stacked):
        return ConvBlock(kernel, stacked=stacked, **self._geometry_kwargs())

    def __repr__(self):
        return (f"{type(self).__name__}(in={self.in_shape}, out={self.out_shape}, kernel={tuple(self.kernel.shape)}, "
                f"stride={self.stride}, padding={self.padding_sides}, dilation={self.dilation}, groups={self.groups}"
                + (f", transposed, output_padding={self.output_padding})" if self.transposed else ")"))

    # ------------------------------------------------------------------ ImplicitBlock contract
    def block_matvec(self, theta, x_row, x_col, row_out, col_out, backend, fold=None, add=False):
        """The four masked sign-channel mat-vecs (``kernels.*.conv.conv_matvec``), shapes as ``block_matvec``;
        ``fold="count"``/``"abs"``: only ``A⁺ + A⁻`` or ``W⁺ + W⁻``, outputs of shape (T, n); ``"count+net"``:
        ``A⁺ + A⁻`` and ``W⁺ − W⁻``, shape (T, 2, n); ``add``: added
        to the outputs. A transposed convolution is the convolution's pass with rows and columns swapped."""
        if self.transposed:
            x_row, x_col, row_out, col_out = x_col, x_row, col_out, row_out
        backend.kernel("conv").conv_matvec(self.kernel, self.geom, theta, x_row, x_col, row_out, col_out, fold,
                                           add)

    def edges(self, t, theta):
        """Kept edges of epoch ``t`` as numpy ``(rows, cols, values)``; ``theta = -1`` keeps every entry.

        Builds the E kept entries (one kernel offset at a time, no larger temporaries): for exports, tests and
        small layers only.
        """
        K = to_host(self.kernel[t]).astype(np.float64)
        (_, H, W), (C_out, Ho, Wo) = self._conv
        _, cin_g, kh, kw = K.shape
        cout_g = C_out // self.groups
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        ci_of = (np.arange(C_out) // cout_g)[:, None] * cin_g + np.arange(cin_g)[None, :]  # (C_out, cin_g)
        co_of = np.broadcast_to(np.arange(C_out)[:, None], ci_of.shape)
        rows, cols, vals = [], [], []
        for ky in range(kh):
            oy0, oy1 = _range_valid(ky * dh - ph, sh, H, Ho)
            for kx in range(kw):
                ox0, ox1 = _range_valid(kx * dw - pw, sw, W, Wo)
                w = K[:, :, ky, kx]
                sel = np.abs(w) > theta
                if oy1 <= oy0 or ox1 <= ox0 or not sel.any():
                    continue
                oy, ox = np.meshgrid(np.arange(oy0, oy1), np.arange(ox0, ox1), indexing="ij")
                in_pos = ((oy * sh - ph + ky * dh) * W + (ox * sw - pw + kx * dw)).ravel()
                out_pos = (oy * Wo + ox).ravel()
                rows.append(((ci_of[sel] * (H * W))[:, None] + in_pos[None, :]).ravel())
                cols.append(((co_of[sel] * (Ho * Wo))[:, None] + out_pos[None, :]).ravel())
                vals.append(np.repeat(w[sel], in_pos.size))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        if self.transposed:
            rows, cols = cols, rows
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)

    def weight_counts(self, t):
        """Every kernel entry of epoch ``t`` with its number of edges (in-image output positions), in O(params).

        ``np.repeat(values, counts)`` is the multiset of the block's edge weights (``edges(t, -1)[2]``), which
        is what a proportional threshold needs, without building E entries.

        Returns
        -------
        values : array, shape (C_out·C_in/g·kh·kw,), float64
        counts : array, same shape, int64
        """
        K = to_host(self.kernel[t]).astype(np.float64)
        (_, H, W), (_, Ho, Wo) = self._conv
        _, _, kh, kw = K.shape
        ny = [_n_valid(ky * self.dilation[0] - self.padding[0], self.stride[0], H, Ho) for ky in range(kh)]
        nx = [_n_valid(kx * self.dilation[1] - self.padding[1], self.stride[1], W, Wo) for kx in range(kw)]
        counts = np.broadcast_to(np.outer(ny, nx).astype(np.int64), K.shape)
        return K.ravel(), counts.ravel()

    def take(self, t):
        return self._like(self.kernel[t], stacked=False)

    @classmethod
    def concat(cls, blocks):
        first = blocks[0]
        for b in blocks:
            if type(b) is not type(first) or b.geom != first.geom or b.transposed != first.transposed:
                raise InputError("cannot stack convolution blocks of different geometries")
        xp = _xp(first.kernel)
        return first._like(xp.concatenate([b.kernel for b in blocks]), stacked=True)

    def to(self, backend):
        if backend.name == "gpu":
            kernel = backend.xp.asarray(to_host(self.kernel))
        else:
            kernel = to_host(self.kernel)
        return self._like(kernel, stacked=self.stacked)

    # ------------------------------------------------------------------ channel view
    def channel_weights(self, theta, reduce):
        """Channel-view block, shape (T, C_in, C_out): the reduction of the kept kernel entries.

        .. math:: \\Omega[t, c_i, c_o] = \\rho_{k_y,k_x}\\big(K[t,c_o,c_i,k_y,k_x]\\,1[|K| > θ_t]\\big),\\quad
                  \\rho \\in \\{\\Sigma,\\ \\Sigma|\\cdot|,\\ \\|\\cdot\\|_F\\}
        """
        xp = _xp(self.kernel)
        K = self.kernel.astype(xp.float64)
        th = xp.asarray(theta, dtype=xp.float64)[:, None, None, None, None]
        K = K * (xp.abs(K) > th)
        red = _reduce(K, reduce, axes=(3, 4), xp=xp)  # (T, C_out, cin_g)
        T, C_out, cin_g = red.shape
        C_in, g = self._conv[0][0], self.groups
        cout_g = C_out // g
        out = xp.zeros((T, C_in, C_out))
        for k in range(g):
            out[:, k * cin_g:(k + 1) * cin_g, k * cout_g:(k + 1) * cout_g] = \
                red[:, k * cout_g:(k + 1) * cout_g, :].transpose(0, 2, 1)
        return out.transpose(0, 2, 1) if self.transposed else out


class PoolBlock(ConvBlock):
    """A ``MaxPool2d``/``AvgPool2d`` layer as a depthwise convolution of its window (see the module docstring);
    ``mode="nearest"``: nearest-neighbour up-sampling by ``kernel_size`` (``nn.Upsample``), the transposed
    window: each unit feeds the ``k_h × k_w`` positions it is copied to, with weight 1.

    Parameters
    ----------
    mode : {"max", "avg", "nearest"}
        Edge weight ``1`` (max, nearest) or ``1/(k_h k_w)`` (avg, torch's ``count_include_pad=True``; pass
        ``divisor`` for ``divisor_override``).
    in_shape : (C, H, W)
    kernel_size, stride (default: kernel_size), padding, dilation (max only) : int or (int, int)
    n_epochs : int
        ``T`` of the stack this block joins (the weights are the same at every epoch).
    """

    kind = "pooling"
    learnt = False

    def __init__(self, mode, in_shape, kernel_size, stride=None, padding=0, dilation=1, n_epochs=1,
                 stacked=False, divisor=None):
        if mode not in ("max", "avg", "nearest"):
            raise InputError(f"unknown pooling mode {mode!r}: use 'max', 'avg' or 'nearest'")
        kh, kw = _pair(kernel_size, "kernel_size")
        stride = (kh, kw) if stride is None else stride
        try:
            C = int(in_shape[0])
        except (TypeError, IndexError, ValueError):
            raise InputError(f"in_shape must be (C, H, W), got {in_shape!r}") from None
        if divisor is not None and divisor <= 0:
            raise InputError(f"the pooling divisor must be positive, got {divisor!r}")
        value = 1.0 / (divisor or kh * kw) if mode == "avg" else 1.0
        kernel = np.full((int(n_epochs), max(C, 1), 1, kh, kw), value)
        self.mode, self.window, self.divisor = mode, (kh, kw), divisor
        super().__init__(kernel, in_shape, stride, padding, dilation, groups=max(C, 1), stacked=stacked,
                         transposed=mode == "nearest")

    def _like(self, kernel, stacked):
        b = PoolBlock(self.mode, self.in_shape, self.window, self.stride, self.padding_sides, self.dilation,
                      n_epochs=kernel.shape[0] if kernel.ndim == 5 else 1, stacked=stacked, divisor=self.divisor)
        if _xp(kernel) is not np:
            b.kernel = kernel if kernel.ndim == 5 else kernel[None]
        return b


# ---------------------------------------------------------------------------------------------- channel view
def layer_shapes(g):
    """``(C, H, W)`` of every layer of ``g``: from the convolution blocks, ``(n, 1, 1)`` for dense layers."""
    shapes = [None] * g.n_layers
    for l, b in enumerate(g.blocks):
        if isinstance(b, ConvBlock):
            shapes[l], shapes[l + 1] = b.in_shape, b.out_shape
    for l, n in enumerate(g.sizes):
        if shapes[l] is None:
            shapes[l] = (n, 1, 1)
    return shapes


def channel_graph(g, reduce="sum"):
    """The channel view: one node per channel, an ordinary (dense) :class:`LayeredGraph`.

    .. math:: \\Omega_l[c, c'] = \\rho\\{\\,W_l[i, j]\\ \\text{kept} : i \\in c,\\ j \\in c'\\}

    For a convolution this is a reduction of the kernel ``K[c', c, :, :]`` (each entry once, not once per
    position); for a dense block after a convolution, of the rows of channel ``c`` (its ``H·W`` positions);
    dense-to-dense blocks keep their weights (``reduce="sum"``) or their magnitudes (``abs``, ``norm``).
    A pooling layer, a depthwise convolution of its window, gives one self-channel edge ``c → c`` (``sum``:
    ``k_h k_w`` for max pooling, 1 for average pooling).
    The graph's thresholds are applied to the entries before the reduction; the new graph is unthresholded.
    Biases: per output channel for convolutions (zeros for pooling), unchanged for dense layers.

    Parameters
    ----------
    g : LayeredGraph
        Typically from ``deepcnt.bindings.torch_conv.from_conv_module``.
    reduce : {"sum", "abs", "norm"}
        ``Σ w``, ``Σ |w|`` or ``sqrt(Σ w²)`` over the entries joining the two channels.

    Returns
    -------
    LayeredGraph
        Sizes ``(C_0, ..., C_L)`` (dense layers count each unit as a channel); same epochs and device.
    """
    if not isinstance(g, LayeredGraph):
        if hasattr(g, "named_modules"):
            raise InputError("channel_graph needs a LayeredGraph: use deepcnt.bindings.torch_conv.channel_graph"
                             "(model, input_shape) for a torch module")
        raise InputError(f"channel_graph needs a LayeredGraph, got {type(g).__name__}")
    check_choice("reduce", reduce, _REDUCE)
    g.require_chain("channel_graph")
    xp = g.backend.xp
    shapes = layer_shapes(g)
    blocks, biases = [], []
    for l, b in enumerate(g.blocks):
        theta = g.theta[l]
        if isinstance(b, ConvBlock):
            blocks.append(b.channel_weights(theta, reduce))
        elif isinstance(b, ImplicitBlock):
            raise InputError(f"block {l} is an implicit {type(b).__name__} without a channel view")
        else:
            C, H, W = shapes[l]
            B = b.astype(xp.float64)
            B = B * (xp.abs(B) > xp.asarray(theta)[:, None, None])
            blocks.append(_reduce(B.reshape(B.shape[0], C, H * W, B.shape[2]), reduce, axes=(2,), xp=xp))
        if g.biases is not None:
            C, H, W = shapes[l + 1]
            # per-unit biases of a conv layer are one value per channel, repeated: take the first position
            biases.append(xp.ascontiguousarray(g.biases[l].reshape(-1, C, H * W)[:, :, 0]))
    if not g.stacked:
        blocks = [B[0] for B in blocks]
        biases = [b[0] for b in biases]
    names = [f"{n}" for n in g.layer_names]
    return LayeredGraph.from_weights(blocks, biases=biases if g.biases is not None else None, layer_names=names)


def _reduce(A, reduce, axes, xp):
    if reduce == "sum":
        return A.sum(axis=axes)
    if reduce == "abs":
        return xp.abs(A).sum(axis=axes)
    return xp.sqrt((A * A).sum(axis=axes))


def _range_valid(off, s, n_in, n_out):
    """Output positions ``o`` in ``[lo, hi)``: those in ``[0, n_out)`` with ``0 <= o*s + off < n_in``."""
    lo = max(0, -(off // s))
    hi = min(n_out, (n_in - 1 - off) // s + 1)
    return lo, max(lo, hi)


def _n_valid(off, s, n_in, n_out):
    """Number of output positions ``o`` in ``[0, n_out)`` with ``0 <= o*s + off < n_in``."""
    lo, hi = _range_valid(off, s, n_in, n_out)
    return hi - lo




# ---------------------------------------------------------------------------------------------- store specs
def block_spec(block):
    """The JSON description of an implicit block's geometry (what an epoch store records), or None (dense).

    ``{"kind": "conv", "in_shape", "kernel_shape", "stride", "padding", "dilation", "groups"}`` or
    ``{"kind": "pool", "mode", "in_shape", "kernel_size", "stride", "padding", "dilation", "divisor"}``;
    ``padding`` is ``[p_h, p_w]``, or ``[[top, bottom], [left, right]]`` where one side pads more.
    """
    if isinstance(block, PoolBlock):
        return {"kind": "pool", "mode": block.mode, "in_shape": list(block.in_shape),
                "kernel_size": list(block.window), "stride": list(block.stride), "padding": _json(block.padding_sides),
                "dilation": list(block.dilation), "divisor": block.divisor}
    if isinstance(block, ConvBlock):
        return {"kind": "conv", "in_shape": list(block.in_shape),
                "kernel_shape": [int(k) for k in block.kernel.shape[1:]], "stride": list(block.stride),
                "padding": _json(block.padding_sides), "dilation": list(block.dilation), "groups": int(block.groups),
                **({"transposed": True, "output_padding": list(block.output_padding)} if block.transposed else {})}
    if isinstance(block, ImplicitBlock):
        raise InputError(f"the epoch store does not yet hold {type(block).__name__} blocks: only dense, sparse, "
                         "identity, diagonal, convolution and pooling blocks")
    return None


def _json(v):
    return [_json(u) for u in v] if isinstance(v, (tuple, list)) else int(v)


def block_from_spec(spec, kernel=None, n_epochs=1, stacked=False):
    """The implicit block of a :func:`block_spec` description.

    Parameters
    ----------
    spec : dict
    kernel : array, shape (T, C_out, C_in/groups, kh, kw) or (C_out, ...), for ``kind="conv"``
    n_epochs : int
        Epochs of a pooling block (it has no parameters).
    stacked : bool
    """
    kind = spec.get("kind")
    if kind == "conv":
        return ConvBlock(kernel, spec["in_shape"], stride=spec["stride"], padding=spec["padding"],
                         dilation=spec["dilation"], groups=spec["groups"], stacked=stacked,
                         transposed=spec.get("transposed", False), output_padding=spec.get("output_padding", 0))
    if kind == "pool":
        return PoolBlock(spec["mode"], spec["in_shape"], spec["kernel_size"], stride=spec["stride"],
                         padding=spec["padding"], dilation=spec["dilation"], n_epochs=n_epochs, stacked=stacked,
                         divisor=spec.get("divisor"))
    raise InputError(f"unknown block kind {kind!r} in a block description: expected 'conv' or 'pool'")
