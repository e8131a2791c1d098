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


@pytest.mark.parametrize("how, match", [("value", "zero padding"), ("reflect", "zero padding"),
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
