"""Slow references for convolutional graphs: blocks materialised by running each layer on one-hot inputs, the
channel view by its definition, and La Malfa's CNN strength by the authors' six nested loops.

Nothing here uses deepcnt: the dense blocks come from torch applied to the identity, so they test the
geometry of ``ConvBlock`` (and its ``edges``) independently.
"""
import numpy as np


def layer_dense(module, in_shape):
    """The (n_in, n_out) matrix of a linear map ``module`` (Conv2d, pooling, Linear after flatten).

    Row ``i`` is the module applied to the one-hot input ``e_i`` (bias removed): for a linear layer that
    is exactly its weight from unit ``i`` to every output unit; for max pooling of a one-hot it is 1 where
    the window holds unit ``i``.
    """
    import torch
    import torch.nn as nn

    n = int(np.prod(in_shape))
    x = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))
    m = module.double()
    with torch.no_grad():
        y = m(x)
        if getattr(m, "bias", None) is not None:
            y = y - m(torch.zeros_like(x[:1]))
    if isinstance(module, nn.Linear):
        assert len(in_shape) == 1
    return y.reshape(n, -1).numpy().copy(), tuple(y.shape[1:])


def model_dense(model, input_shape):
    """Dense blocks and per-unit biases of a Sequential of Conv2d/pool/Flatten/Linear (activations skipped)."""
    import torch
    import torch.nn as nn

    shape = tuple(input_shape)
    blocks, biases = [], []
    for m in model:
        if isinstance(m, nn.Flatten):
            shape = (int(np.prod(shape)),)
            continue
        if not isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.Linear)):
            continue
        D, out_shape = layer_dense(m, shape)
        blocks.append(D)
        if getattr(m, "bias", None) is not None:
            with torch.no_grad():
                b = m.double()(torch.zeros((1,) + shape, dtype=torch.float64)).reshape(-1).numpy()
        else:
            b = np.zeros(D.shape[1])
        biases.append(b)
        shape = out_shape
    return blocks, biases


def channel_reference(K, groups, reduce):
    """Channel-view block (C_in, C_out) of a kernel (C_out, C_in/groups, kh, kw), by loops."""
    C_out, cin_g = K.shape[:2]
    C_in = cin_g * groups
    cout_g = C_out // groups
    out = np.zeros((C_in, C_out))
    for ci in range(C_in):
        for co in range(C_out):
            if ci // cin_g != co // cout_g:
                continue
            vals = [float(v) for v in K[co, ci % cin_g].ravel()]
            if reduce == "sum":
                out[ci, co] = sum(vals)
            elif reduce == "abs":
                out[ci, co] = sum(abs(v) for v in vals)
            else:
                out[ci, co] = sum(v * v for v in vals) ** 0.5
    return out


def seeds_conv_strengths(K, bias, in_shape, stride, padding):
    """La Malfa et al.'s ``Convolution.get_strengths`` (EmanueleLM/CNT-DNNs), reimplemented with its six loops.

    Kernel in torch layout (C_out, C_in, kh, kw), groups = 1, dilation = 1. Returns ``(input_strength,
    output_strength)`` of shapes (C_in, H, W) and (C_out, H_out, W_out) as the authors compute them: the input
    strength sums every kernel entry that touches a (padded) input position, then crops the padding; the
    output strength is the whole kernel sum plus the bias at every position (padding is not discounted).
    """
    C_out, C_in, kh, kw = K.shape
    Hp, Wp = in_shape[1] + 2 * padding, in_shape[2] + 2 * padding
    Ho, Wo = (Hp - kh) // stride + 1, (Wp - kw) // stride + 1
    s_in = np.zeros((C_in, Hp, Wp))
    for ic in range(C_in):
        for c in range(C_out):
            for i in range(0, Hp - kh + 1, stride):
                for j in range(0, Wp - kw + 1, stride):
                    for n in range(kh):
                        for m in range(kw):
                            s_in[ic, i + n, j + m] += K[c, ic, n, m]
    s_out = np.zeros((C_out, Ho, Wo))
    for c in range(C_out):
        for i in range(Ho):
            for j in range(Wo):
                s_out[c, i, j] = K[c].sum() + bias[c]
    return s_in[:, padding:Hp - padding, padding:Wp - padding], s_out
