"""Torch binding for convolutional models: ``Conv2d``, pooling, ``Flatten`` and ``Linear`` → ``LayeredGraph``.

The convolution blocks are implicit (:class:`deepcnt.model.conv.ConvBlock`: kernel + geometry, never the edges);
pooling layers are :class:`deepcnt.model.conv.PoolBlock` (their own layer of units, see ``deepcnt.model.conv``);
``Flatten`` adds no layer (unit order is the flatten order); ``Linear`` gives the dense block
``weight.T``. Parameter-free activations, dropout and identities are ignored, as in ``from_module``.
torch is imported inside the functions.
"""
import numpy as np

from deepcnt.errors import InputError

_SHAPE_CHANGERS = ("Pool", "Upsample", "Pad", "Unfold", "Fold", "Shuffle", "Unflatten", "Interpolate")


def is_conv_model(model):
    """True when ``model`` holds a ``Conv2d`` or 2-D pooling layer (``from_module`` then needs ``input_shape``)."""
    import torch.nn as nn

    return isinstance(model, nn.Module) and any(
        isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)) for m in model.modules())


def _leaves(model):
    import torch.nn as nn

    if not isinstance(model, nn.Module):
        raise InputError(f"from_conv_module needs a torch.nn.Module, got {type(model).__name__}")
    for name, mod in model.named_modules():
        if next(mod.children(), None) is None:  # leaves only, in registration order
            yield name or "<model>", mod


def _input_shape(input_shape):
    if input_shape is None:
        raise InputError("a convolutional model needs input_shape=(C, H, W), the shape of one input sample: "
                         "its graph depends on the image size")
    try:
        shape = tuple(int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise InputError(f"input_shape must be (C, H, W) of one sample, got {input_shape!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise InputError(f"input_shape must be three positive ints (C, H, W) of one sample, got {input_shape!r}")
    return shape


def _padding(conv, in_hw):
    """``Conv2d.padding`` as a pair of ints, or ``((top, bottom), (left, right))`` for ``'same'`` with an even
    effective kernel (torch pads the extra row and column at the bottom and right); ``'valid'``: ``(0, 0)``."""
    p = conv.padding
    if p == "valid":
        return (0, 0)
    if p == "same":
        totals = [d * (k - 1) for k, d in zip(conv.kernel_size, conv.dilation)]
        if any(t % 2 for t in totals):
            return tuple((t // 2, t - t // 2) for t in totals)
        return tuple(t // 2 for t in totals)
    return tuple(int(v) for v in p)


def module_blocks(model, input_shape, device=None):
    """``(blocks, biases, names)`` of a convolutional model, ready for ``LayeredGraph.from_weights``.

    Raises
    ------
    InputError
        A layer that is neither Conv2d, MaxPool2d, AvgPool2d, Flatten, Linear nor parameter-free and
        shape-preserving (named); a Conv2d with a non-zero padding mode; ``ceil_mode``; channels or features
        that do not match the running shape; no weighted layer.
    """
    import torch.nn as nn

    from .tensors import to_array as _to_array
    from deepcnt.model.conv import ConvBlock, PoolBlock

    shape = _input_shape(input_shape)  # (C, H, W) while spatial, (n,) after Flatten
    blocks, biases, names = [], [], ["input"]
    for name, mod in _leaves(model):
        what = f"layer {name!r} ({type(mod).__name__})"
        if isinstance(mod, nn.Conv2d):
            if len(shape) != 3:
                raise InputError(f"{what} comes after Flatten: convolutions must precede the dense layers")
            if mod.in_channels != shape[0]:
                raise InputError(f"{what} takes {mod.in_channels} input channels but receives {shape[0]} "
                                 f"(running shape {shape}): check input_shape")
            if mod.padding_mode != "zeros":
                raise InputError(f"{what} uses padding_mode={mod.padding_mode!r}: only zero padding is supported")
            b = ConvBlock(_to_array(mod.weight, device), shape, mod.stride, _padding(mod, shape[1:]),
                          mod.dilation, mod.groups)
            bias = None
            if mod.bias is not None:
                bias = _to_array(mod.bias, device)
                xp = np if isinstance(bias, np.ndarray) else __import__("cupy")
                bias = xp.repeat(bias.astype(xp.float64), b.out_shape[1] * b.out_shape[2])
            blocks.append(b)
            biases.append(bias)
            names.append(name)
            shape = b.out_shape
        elif isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            if len(shape) != 3:
                raise InputError(f"{what} comes after Flatten: pooling must precede the dense layers")
            if mod.ceil_mode:
                raise InputError(f"{what} uses ceil_mode=True: only ceil_mode=False is supported")
            if isinstance(mod, nn.MaxPool2d):
                b = PoolBlock("max", shape, mod.kernel_size, mod.stride, mod.padding, mod.dilation)
            else:
                pad = _pair(mod.padding)
                if not mod.count_include_pad and max(pad) > 0:
                    raise InputError(f"{what} uses count_include_pad=False with padding: its weights depend on "
                                     "the position and are not a convolution; use count_include_pad=True")
                b = PoolBlock("avg", shape, mod.kernel_size, mod.stride, mod.padding, divisor=mod.divisor_override)
            blocks.append(b)
            biases.append(None)
            names.append(name)
            shape = b.out_shape
        elif isinstance(mod, nn.Flatten):
            if len(shape) == 3:
                if mod.start_dim not in (1, -3) or mod.end_dim != -1:
                    raise InputError(f"{what} must flatten every non-batch axis (start_dim=1, end_dim=-1)")
                shape = (int(np.prod(shape)),)
        elif isinstance(mod, nn.Unflatten) and not blocks and tuple(mod.unflattened_size) == shape:
            pass  # flat inputs reshaped to the input_shape images: the unit order does not change
        elif isinstance(mod, nn.Linear):
            n = int(np.prod(shape))
            if len(shape) == 3 and shape[1:] != (1, 1):
                raise InputError(f"{what} is applied to a {shape} feature map without Flatten: add nn.Flatten()")
            if mod.in_features != n:
                raise InputError(f"{what} takes {mod.in_features} features but receives {n} (running shape "
                                 f"{shape}): check input_shape")
            blocks.append(_to_array(mod.weight.T, device))
            biases.append(None if mod.bias is None else _to_array(mod.bias, device))
            names.append(name)
            shape = (mod.out_features,)
        elif list(mod.parameters(recurse=False)) or list(mod.buffers(recurse=False)):
            raise InputError(f"{what} holds weights or statistics but is not Conv2d or Linear: deepcnt's graph "
                             "covers Conv2d, MaxPool2d/AvgPool2d, Flatten and Linear layers")
        elif any(s in type(mod).__name__ for s in _SHAPE_CHANGERS):
            raise InputError(f"{what} changes the shape of the units and is not supported: deepcnt's graph "
                             "covers Conv2d, MaxPool2d/AvgPool2d, Flatten and Linear layers")
        # anything else is parameter-free and shape-preserving (activations, dropout, identity): ignored
    if not blocks or all(b is None for b in blocks):
        raise InputError("the model has no Conv2d or Linear layer: nothing to build a layered graph from")
    return blocks, biases, names


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def from_conv_module(model, input_shape, device=None):
    """The unrolled layered graph of a convolutional model (one node per unit, implicit conv blocks).

    Parameters
    ----------
    model : torch.nn.Module
        E.g. ``nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8*13*13, 10))``.
        Conv2d (stride, padding, dilation, groups), MaxPool2d/AvgPool2d, Flatten, Linear; activations,
        dropout and identities ignored.
    input_shape : (C, H, W)
        The shape of one input sample (a convolution's graph depends on it).
    device : {None, "cpu", "gpu"}
        As in ``from_module``.

    Returns
    -------
    LayeredGraph
        Layers: the input units, then the output units of every Conv2d, pooling and Linear layer; biases per
        unit (a conv bias repeated over positions, zeros for pooling) when any layer has one.

    Examples
    --------
    >>> import torch.nn as nn                                              # doctest: +SKIP
    >>> g = from_conv_module(nn.Sequential(nn.Conv2d(1, 2, 3)), (1, 5, 5))   # doctest: +SKIP
    >>> g.sizes                                                            # doctest: +SKIP
    (25, 18)
    """
    from deepcnt.model.graph import LayeredGraph

    blocks, biases, names = module_blocks(model, input_shape, device)
    if all(b is None for b in biases):
        biases = None
    return LayeredGraph.from_weights(blocks, biases=biases, layer_names=names)


def channel_graph(model, input_shape, reduce="sum", device=None):
    """The channel view of a convolutional model (``deepcnt.model.conv.channel_graph`` of its unrolled graph)."""
    from deepcnt.model.conv import channel_graph as _channel_graph

    return _channel_graph(from_conv_module(model, input_shape, device), reduce)
