"""A zero padding before a convolution (``F.pad``, ``nn.ZeroPad2d``, TensorFlow's ``"same"`` as MobileNet and
EfficientNet write it, a causal ``Conv1d``, torch's ``padding="same"`` with an even kernel): one convolution
block whose padding is wider on one side, checked against the Jacobian of the module (the explicit graph of a
linear map, built by torch alone)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from test_trace import check  # noqa: E402
from test_trace_attention import _transformers  # noqa: E402


class PadConv(nn.Module):
    """One padding and one convolution; ``exported`` branches on the input's size, so torch.fx cannot trace it
    and the model goes through torch.export (ATen's ``constant_pad_nd``)."""

    def __init__(self, kind, exported=False):
        super().__init__()
        self.kind, self.exported = kind, exported
        self.pad = nn.ZeroPad2d((1, 2, 0, 1)) if kind == "ZeroPad2d" else None
        self.conv = {"F.pad": nn.Conv2d(2, 3, 3, stride=2), "ZeroPad2d": nn.Conv2d(2, 3, 3, padding=1),
                     "same4": nn.Conv2d(2, 3, 4, padding="same"), "causal": nn.Conv1d(2, 3, 3, dilation=2),
                     "grouped": nn.Conv2d(4, 4, 3, stride=2, groups=4)}[kind]

    def forward(self, x):
        if self.exported and x.shape[-1] < 2:
            return x
        if self.kind in ("F.pad", "grouped"):
            x = F.pad(x, (0, 1, 0, 1))  # TensorFlow's "same" for a stride-2 3×3 window on an even image
        elif self.kind == "ZeroPad2d":
            x = self.pad(x)
        elif self.kind == "causal":
            x = F.pad(x, (4, 0))  # each output reads only the present and the past
        return self.conv(x)


SHAPES = {"F.pad": (2, 6, 6), "ZeroPad2d": (2, 5, 4), "same4": (2, 5, 6), "causal": (2, 7), "grouped": (4, 6, 6)}


def jacobian_graph(model, shape):
    """``({(0, 1): W}, sizes, {1: bias})``: the module's Jacobian as the weight block (in, out), its value at
    zero as the output layer's bias."""
    x = torch.zeros((1,) + shape, dtype=torch.float64)
    m = model.double()
    J = torch.autograd.functional.jacobian(lambda v: m(v.reshape(x.shape)).reshape(-1), x.reshape(-1))
    with torch.no_grad():
        bias = m(x).reshape(-1).numpy()
    return {(0, 1): J.numpy().T}, (int(np.prod(shape)), J.shape[0]), {1: bias}


@pytest.mark.parametrize("exported", (False, True))
@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_a_zero_padding_before_a_convolution_is_its_padding(kind, exported):
    torch.manual_seed(3)
    m = PadConv(kind, exported).eval()
    shape = SHAPES[kind]
    g = trace_module(m, torch.randn((1,) + shape))
    assert g.sizes[0] == int(np.prod(shape)) and g.n_blocks == 1
    assert type(g.blocks[0]).__name__ == "ConvBlock"  # held as its kernel, never unrolled
    ref, sizes, biases = jacobian_graph(m, shape)
    check(g, sizes, ref, biases)


class Padded(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how, self.conv, self.fc = how, nn.Conv2d(2, 2, 3), nn.Linear(2 * 5 * 5, 2)

    def forward(self, x):
        if self.how == "value":
            return self.conv(F.pad(x, (1, 1, 1, 1), value=1.0))
        if self.how == "reflect":
            return self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return self.fc(F.pad(self.conv(x), (1, 0, 1, 0)).flatten(1))  # a padding that no convolution reads


@pytest.mark.parametrize("how, match", [("value", "constant padding"), ("reflect", "constant padding"),
                                        ("linear", "Linear")])
def test_a_padding_that_is_no_convolutions_zero_border_is_refused(how, match):
    with pytest.raises(InputError, match=match):
        trace_module(Padded(how).eval(), torch.randn(1, 2, 6, 6))


def test_hugging_face_mobilenet_v2_traces_with_its_tensorflow_padding():
    """MobileNetV2 pads each stride-2 depthwise convolution as TensorFlow does (one more row and column at the
    bottom and right); every convolution stays a convolution block, and degree and strength equal its own
    explicit adjacency."""
    import deepcnt

    tf = _transformers()
    torch.manual_seed(9)
    cfg = tf.MobileNetV2Config(image_size=16, depth_multiplier=0.35, num_channels=3)
    g = trace_module(tf.MobileNetV2Model(cfg).eval(), torch.randn(1, 3, 16, 16))
    assert {type(b).__name__ for b in g.blocks} >= {"ConvBlock"} and "ndarray" not in {type(b).__name__
                                                                                      for b in g.blocks}
    assert any(b.padding != b.padding_end for b in g.blocks if type(b).__name__ == "ConvBlock")
    A = g.to_scipy().toarray()
    assert g.n_edges == np.count_nonzero(A)
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


def test_a_padding_wider_on_one_side_survives_the_store_description():
    import json

    from deepcnt.model.conv import ConvBlock, block_from_spec, block_spec

    K = np.random.default_rng(0).normal(size=(3, 2, 3, 3))
    b = ConvBlock(K, (2, 6, 6), stride=2, padding=((0, 1), (0, 1)))
    spec = json.loads(json.dumps(block_spec(b)))
    assert spec["padding"] == [[0, 1], [0, 1]]
    c = block_from_spec(spec, K)
    assert (c.padding, c.padding_end, c.out_shape) == ((0, 0), (1, 1), (3, 3, 3))
    np.testing.assert_array_equal(c.edges(0, -1)[0], b.edges(0, -1)[0])
    assert block_spec(ConvBlock(K, (2, 6, 6), padding=1))["padding"] == [1, 1]  # as before when both sides pad alike


class SqueezeExcite(nn.Module):
    """A convolution whose channels are scaled by a squeeze-and-excitation gate (RegNetY, EfficientNet,
    MobileNetV3): global average pool, two 1×1 convolutions, a sigmoid, broadcast over the positions."""

    def __init__(self, C=4, r=2, exported=False):
        super().__init__()
        self.exported = exported
        self.c1, self.c2 = nn.Conv2d(2, C, 3, padding=1), nn.Conv2d(C, 3, 1)
        self.fc1, self.fc2 = nn.Conv2d(C, r, 1), nn.Conv2d(r, C, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        if self.exported and x.shape[-1] < 1:  # never, but torch.fx cannot tell
            return x
        h = F.silu(self.c1(x))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(self.gap(h)))))
        return self.c2(h * s)


@pytest.mark.parametrize("exported", (False, True))
@pytest.mark.parametrize("side", (5, 1))
def test_squeeze_and_excitation_is_a_gate_whose_layers_are_sinks(side, exported):
    """The channel factor ``s`` modulates, as a gated unit's gate does: the pool and the two 1×1 convolutions
    are blocks into their own node sets (the last a sink), and the product holds the units of ``h``, which the
    next convolution reads. On a 1×1 map (``side=1``) nothing is broadcast, and the gate is the operand computed
    from the other. Checked against the explicit graph of that definition, each block the Jacobian of its own
    module."""
    from naive_conv import layer_dense

    torch.manual_seed(4)
    m = SqueezeExcite(exported=exported).eval()
    g = trace_module(m, torch.randn(1, 2, side, side))
    assert [n.split(".")[0] for n in g.layer_names] == ["input", "c1", "gap", "fc1", "fc2", "c2"]
    n = side * side
    parts = {(0, 1): (m.c1, (2, side, side)), (1, 2): (m.gap, (4, side, side)), (2, 3): (m.fc1, (4, 1, 1)),
             (3, 4): (m.fc2, (2, 1, 1)), (1, 5): (m.c2, (4, side, side))}
    ref = {p: layer_dense(mod, shape)[0] for p, (mod, shape) in parts.items()}
    bias = {1: m.c1.bias.repeat_interleave(n), 3: m.fc1.bias, 4: m.fc2.bias, 5: m.c2.bias.repeat_interleave(n)}
    check(g, (2 * n, 4 * n, 4, 2, 4, 3 * n), ref, {l: b.detach().double().numpy() for l, b in bias.items()})


def test_a_ceil_mode_pool_over_the_whole_map_is_a_global_pool():
    """EfficientNet's pooler: ``AvgPool2d(1280, ceil_mode=True)`` on a smaller map is one window over all of it;
    any other ``ceil_mode`` window is refused."""
    torch.manual_seed(6)
    conv = nn.Conv2d(2, 3, 3, bias=False)
    whole = trace_module(nn.Sequential(conv, nn.AvgPool2d(16, ceil_mode=True), nn.Flatten()).eval(),
                         torch.randn(1, 2, 6, 6), tokens=False)
    ref = trace_module(nn.Sequential(conv, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval(), torch.randn(1, 2, 6, 6),
                       tokens=False)
    assert whole.sizes == ref.sizes == (72, 48, 3)
    np.testing.assert_allclose(whole.to_scipy().toarray(), ref.to_scipy().toarray())
    with pytest.raises(InputError, match="ceil_mode"):
        trace_module(nn.Sequential(conv, nn.AvgPool2d(3, ceil_mode=True)).eval(), torch.randn(1, 2, 6, 6),
                     tokens=False)


@pytest.mark.parametrize("family", ("RegNet", "EfficientNet"))
def test_hugging_face_networks_with_squeeze_and_excitation_trace(family):
    import deepcnt

    tf = _transformers()
    torch.manual_seed(10)
    cfg = {"RegNet": dict(hidden_sizes=[8, 16], depths=[1, 1], embedding_size=8, groups_width=4, layer_type="y"),
           "EfficientNet": dict(image_size=32, hidden_dim=320, width_coefficient=0.25, depth_coefficient=0.25)}
    g = trace_module(getattr(tf, f"{family}Model")(getattr(tf, f"{family}Config")(**cfg[family])).eval(),
                     torch.randn(1, 3, 32, 32))  # EfficientNet's last blocks on a 1×1 map
    kinds = {type(b).__name__ for b in g.blocks}
    assert {"ConvBlock", "PoolBlock"} <= kinds and "ndarray" not in kinds
    A = g.to_scipy().tocsr()  # 140k units: the explicit graph held sparse
    nz = (A != 0).astype(np.int64)
    np.testing.assert_array_equal(deepcnt.degree(g), np.ravel(nz.sum(0)) + np.ravel(nz.sum(1)))
    np.testing.assert_allclose(deepcnt.strength(g), np.ravel(A.sum(0)) + np.ravel(A.sum(1)), rtol=1e-5, atol=1e-5)


class PadPool(nn.Module):
    """A constant padding before a pooling window (BiT's stem: TensorFlow's "same" max pooling)."""

    def __init__(self, mode, value):
        super().__init__()
        self.mode, self.value = mode, value
        self.conv = nn.Conv2d(2, 3, 1)

    def forward(self, x):
        h = F.pad(torch.relu(self.conv(x)), (0, 1, 1, 1), value=self.value)
        return F.max_pool2d(h, 3, 2) if self.mode == "max" else F.avg_pool2d(h, 2, 2, padding=1)


@pytest.mark.parametrize("mode, value", [("max", 0.0), ("max", float("-inf")), ("avg", 0.0)])
def test_a_padding_before_a_pooling_window_is_its_padding(mode, value):
    """The pooling block's edges are the windows of the padded map over real units: the Jacobian of a sum
    pooling of the zero-padded map (torch's), weight 1 (max) or 1/k² (avg, its own padding counted too)."""
    torch.manual_seed(2)
    m = PadPool(mode, value).eval()
    g = trace_module(m, torch.randn(1, 2, 6, 5), tokens=False)
    pool = g.blocks[1]
    assert type(pool).__name__ == "PoolBlock" and pool.padding != pool.padding_end
    k, s, p = (3, 2, 0) if mode == "max" else (2, 2, 1)
    n = 3 * 6 * 5
    eye = torch.eye(n, dtype=torch.float64).reshape(n, 3, 6, 5)
    J = F.avg_pool2d(F.pad(eye, (0, 1, 1, 1)), k, s, padding=p).reshape(n, -1).numpy()
    r, c, v = pool.edges(0, -1)
    A = np.zeros(pool.shape[1:])
    A[r, c] = v
    np.testing.assert_allclose(A, J * (k * k if mode == "max" else 1), atol=1e-12)


@pytest.mark.parametrize("how, match", [("avg", "padding of -inf"), ("conv", "padding of -inf")])
def test_a_minus_infinity_padding_is_refused_where_it_is_no_zero(how, match):
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.c2 = nn.Conv2d(2, 3, 1), nn.Conv2d(3, 3, 3)

        def forward(self, x):
            h = F.pad(self.conv(x), (1, 1, 1, 1), value=float("-inf"))
            return F.avg_pool2d(h, 2) if how == "avg" else self.c2(h)

    with pytest.raises(InputError, match=match):
        trace_module(Bad().eval(), torch.randn(1, 2, 4, 4), tokens=False)
