"""Transposed convolutions (``ConvTranspose1d/2d``: decoders, U-Nets, GAN generators) as the transpose of the
convolution from their output back to their input, and a convolution over a concatenation of layers along the
channels (a U-Net's skip) as one block from each layer; each against torch's own Jacobian."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import deepcnt  # noqa: E402
from deepcnt import ConvBlock  # noqa: E402
from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from deepcnt.model.conv import block_from_spec, block_spec  # noqa: E402
from test_trace import check  # noqa: E402


def _transposed_jacobian(K, in_shape, **geo):
    n = int(np.prod(in_shape))
    eye = torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))
    return F.conv_transpose2d(eye, torch.tensor(K), **geo).reshape(n, -1).numpy()


def _random_geometries(n, seed):
    rng = np.random.default_rng(seed)
    while n:
        g = int(rng.choice([1, 1, 2]))
        c_in, c_out = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        H, W = (int(v) for v in rng.integers(1, 6, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s, d = (tuple(int(v) for v in rng.integers(1, 3, 2)) for _ in range(2))
        p = tuple(int(rng.integers(0, 2)) for _ in range(2))
        op = tuple(int(rng.integers(0, max(a, b))) for a, b in zip(s, d))
        K = rng.normal(size=(c_in, c_out // g) + k)
        K[0, 0, 0, 0] = 0.0  # a zero kernel entry is no edge
        geo = dict(stride=s, padding=p, output_padding=op, groups=g, dilation=d)
        try:
            J = _transposed_jacobian(K, (c_in, H, W), **geo)
        except RuntimeError:  # a geometry torch refuses (an empty output)
            continue
        n -= 1
        yield K, (c_in, H, W), geo, J


def test_a_transposed_block_is_the_jacobian_of_conv_transpose2d():
    """Random strides, paddings, output paddings, dilations and groups: the block's edges, its weight multiset
    in O(parameters), and degree/strength/k_nn at two thresholds equal those of torch's Jacobian."""
    for K, in_shape, geo, J in _random_geometries(40, 0):
        b = ConvBlock(K, in_shape, geo["stride"], geo["padding"], geo["dilation"], geo["groups"], transposed=True,
                      output_padding=geo["output_padding"])
        assert b.shape[1:] == J.shape
        r, c, v = b.edges(0, -1)
        A = np.zeros(J.shape)
        np.add.at(A, (r, c), v)
        np.testing.assert_allclose(A, J, atol=1e-12)
        values, counts = b.weight_counts(0)
        np.testing.assert_allclose(np.sort(np.repeat(values, counts)[np.repeat(values, counts) != 0]),
                                   np.sort(J[J != 0]), atol=1e-12)
        g, ref = deepcnt.LayeredGraph.from_blocks(J.shape, {(0, 1): b}), deepcnt.LayeredGraph.from_weights([J])
        for theta in (0.0, 0.5):
            gt, rt = g.threshold(theta), ref.threshold(theta)
            np.testing.assert_array_equal(deepcnt.degree(gt), deepcnt.degree(rt))
            np.testing.assert_allclose(deepcnt.strength(gt), deepcnt.strength(rt), atol=1e-12)
            np.testing.assert_allclose(deepcnt.knn(gt), deepcnt.knn(rt), atol=1e-12)


def test_transposed_blocks_on_the_gpu_twins_and_in_the_store_description():
    K, in_shape, geo, J = next(_random_geometries(1, 3))
    b = ConvBlock(np.stack([K, -K]), in_shape, geo["stride"], geo["padding"], geo["dilation"], geo["groups"],
                  transposed=True, output_padding=geo["output_padding"])
    g = deepcnt.LayeredGraph.from_blocks(J.shape, {(0, 1): b}).threshold(0.3)
    gg = g.to("gpu")  # numba.cuda's simulator here
    for f in (deepcnt.degree, deepcnt.strength, deepcnt.knn):
        np.testing.assert_allclose(deepcnt.backend.to_host(f(gg)), f(g), rtol=1e-12)
    # the channel view: each kept kernel entry once, input channel ci to output channel (its group's) j
    kept = np.where(np.abs(K) > 0.3, K, 0).sum((2, 3))  # (C_in, C_out/g)
    c_in, cout_g, groups = K.shape[0], K.shape[1], geo["groups"]
    omega = np.zeros((c_in, cout_g * groups))
    for ci in range(c_in):
        grp = ci // (c_in // groups)
        omega[ci, grp * cout_g:(grp + 1) * cout_g] = kept[ci]
    np.testing.assert_allclose(deepcnt.channel_graph(g).blocks[0][0], omega, atol=1e-12)
    spec = json.loads(json.dumps(block_spec(b)))
    assert spec["transposed"] is True
    back = block_from_spec(spec, b.kernel, stacked=True)
    assert (back.in_shape, back.out_shape, back.transposed) == (b.in_shape, b.out_shape, True)
    np.testing.assert_array_equal(back.edges(1, 0.3)[1], b.edges(1, 0.3)[1])


def test_a_bad_transposed_geometry_is_refused():
    K = np.ones((2, 3, 3, 3))
    with pytest.raises(InputError, match="reads 2 input channels"):
        ConvBlock(K, (4, 5, 5), transposed=True)
    with pytest.raises(InputError, match="output_padding"):
        ConvBlock(K, (2, 5, 5), stride=2, output_padding=2, transposed=True)
    with pytest.raises(InputError, match="both sides alike"):
        ConvBlock(K, (2, 5, 5), padding=((0, 1), (0, 1)), transposed=True)


class UNet(nn.Module):
    """A U-Net's step: down by a strided convolution, up by a transposed one (BatchNorm after it, folded), the
    up-sampled map concatenated with the input along the channels, then a 1×1 convolution. ``functional``
    calls ``F.conv_transpose2d``; ``exported`` branches on the input's size, so torch.export traces it."""

    def __init__(self, functional=False, exported=False):
        super().__init__()
        self.functional, self.exported = functional, exported
        self.down = nn.Conv2d(2, 4, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.out = nn.Conv2d(3 + 2, 2, 1)

    def forward(self, x):
        if self.exported and x.shape[-1] < 2:
            return x
        h = torch.relu(self.down(x))
        up = self.up
        u = F.conv_transpose2d(h, up.weight, up.bias, 2, 1, 1) if self.functional else up(h)
        return self.out(torch.cat([torch.relu(self.bn(u)), x], 1))


def _jacobian(f, shape):
    x = torch.zeros(shape, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: f(v.reshape(shape)).reshape(-1), x.reshape(-1))
    with torch.no_grad():
        return J.numpy().T, f(x).reshape(-1).numpy()


@pytest.mark.parametrize("functional, exported", [(False, False), (True, False), (False, True)])
def test_a_unet_step_against_the_jacobians_of_its_parts(functional, exported):
    from test_trace import randomise_bn

    torch.manual_seed(2)
    m = UNet(functional, exported).eval()
    randomise_bn(m, 5)
    g = trace_module(m, torch.randn(1, 2, 6, 6))
    m = m.double()
    assert [type(b).__name__ for b in g.blocks] == ["ConvBlock"] * 4 and g.blocks[g.pairs.index((1, 2))].transposed
    down, b_down = _jacobian(m.down, (1, 2, 6, 6))
    up, b_up = _jacobian(lambda h: m.bn(m.up(h)), (1, 4, 3, 3))  # BatchNorm folded into the transposed kernel
    out, b_out = _jacobian(m.out, (1, 5, 6, 6))
    ref = {(0, 1): down, (1, 2): up, (2, 3): out[:108], (0, 3): out[108:]}  # cat([u, x]): u's channels first
    check(g, (72, 36, 108, 72), ref, {1: b_down, 2: b_up, 3: b_out})


class Concat(nn.Module):
    def __init__(self, how):
        super().__init__()
        self.how = how
        self.c, self.d = nn.Conv2d(2, 2, 1), nn.Conv2d(4, 2, 1, groups=2 if how == "grouped" else 1)

    def forward(self, x):
        h = self.c(x)
        if self.how == "twice":
            return self.d(torch.cat([h, h], 1))
        if self.how == "positions":  # along the width: no layer's units whole
            return self.d(torch.cat([h, x], 3).reshape(1, 4, 4, 4))
        return self.d(torch.cat([h, x], 1))


@pytest.mark.parametrize("how, match", [("twice", "not one layer's"), ("positions", "not one layer's"),
                                        ("grouped", "grouped")])
def test_a_concatenation_a_convolution_cannot_read_is_refused(how, match):
    with pytest.raises(InputError, match=match):
        trace_module(Concat(how).eval(), torch.randn(1, 2, 4, 4), tokens=False)


def test_batchnorm_after_a_grouped_transposed_convolution_scales_its_output_channels():
    from test_trace import randomise_bn

    torch.manual_seed(3)
    m = nn.Sequential(nn.Conv2d(2, 4, 1), nn.ReLU(), nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2),
                      nn.BatchNorm2d(6)).eval()
    randomise_bn(m, 6)
    g = trace_module(m, torch.randn(1, 2, 3, 3), tokens=False)
    m = m.double()
    first, b_first = _jacobian(m[0], (1, 2, 3, 3))
    up, b_up = _jacobian(lambda h: m[3](m[2](h)), (1, 4, 3, 3))
    check(g, (18, 36, 216), {(0, 1): first, (1, 2): up}, {1: b_first, 2: b_up})


class Upsampled(nn.Module):
    """A convolution, a nearest-neighbour up-sampling (module, scale factors, output size), a 1×1 convolution."""

    def __init__(self, how, exported=False):
        super().__init__()
        self.how, self.exported = how, exported
        self.c, self.d = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 2, 1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x):
        if self.exported and x.shape[-1] < 2:
            return x
        h = torch.relu(self.c(x))
        u = {"module": lambda: self.up(h), "factors": lambda: F.interpolate(h, scale_factor=(2, 3), mode="nearest"),
             "size": lambda: F.interpolate(h, size=(8, 8)),
             "bilinear": lambda: F.interpolate(h, scale_factor=2, mode="bilinear")}[self.how]()
        return self.d(u)


@pytest.mark.parametrize("exported", (False, True))
@pytest.mark.parametrize("how", ("module", "factors", "size"))
def test_nearest_upsampling_is_a_fixed_transposed_window(how, exported):
    """Each unit feeds the positions it is copied to with weight 1 (a PoolBlock "nearest": no learnt weight);
    the graph equals the Jacobians of the parts."""
    torch.manual_seed(1)
    m = Upsampled(how, exported).eval()
    g = trace_module(m, torch.randn(1, 2, 4, 4))
    m = m.double()
    up = g.blocks[g.pairs.index((1, 2))]
    assert type(up).__name__ == "PoolBlock" and up.mode == "nearest" and not up.learnt
    H, W = up.out_shape[1:]
    first, b_first = _jacobian(m.c, (1, 2, 4, 4))
    copy, _ = _jacobian(lambda h: F.interpolate(h, size=(H, W)), (1, 3, 4, 4))
    last, b_last = _jacobian(m.d, (1, 3, H, W))
    check(g, (32, 48, 3 * H * W, 2 * H * W), {(0, 1): first, (1, 2): copy, (2, 3): last},
          {1: b_first, 3: b_last})
    spec = json.loads(json.dumps(block_spec(up)))
    np.testing.assert_array_equal(block_from_spec(spec).edges(0, -1)[1], up.edges(0, -1)[1])


@pytest.mark.parametrize("exported", (False, True))
def test_bilinear_upsampling_is_refused(exported):
    with pytest.raises(InputError, match="nearest|upsample_bilinear"):
        trace_module(Upsampled("bilinear", exported).eval(), torch.randn(1, 2, 4, 4))


class DenseLayer(nn.Module):
    def __init__(self, c_in, growth):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, growth, 3, padding=1, bias=False)

    def forward(self, features):
        return self.conv1(F.relu(self.norm1(torch.cat(features, 1))))


class DenseNet(nn.Module):
    """torchvision's DenseNet in small: each layer normalises the concatenation of every earlier output, and the
    classifier reads the global average pool of the last concatenation."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.l1, self.l2, self.fc = DenseLayer(4, 2), DenseLayer(6, 2), nn.Linear(8, 3)

    def forward(self, x):
        f = [self.stem(x)]
        f.append(self.l1(f))
        f.append(self.l2(f))
        return self.fc(torch.cat(f, 1).mean((2, 3)))


def test_densenet_batchnorm_and_pooling_of_concatenations():
    """A BatchNorm of a concatenation normalises each layer's channels in a layer of their own (its scale a
    diagonal block; the layers are read elsewhere, so nothing folds), and a global average pool of one pools
    each layer; checked against the explicit graph of the parts (Jacobians, BatchNorm's scale and shift)."""
    from naive_conv import layer_dense
    from test_trace import randomise_bn

    torch.manual_seed(8)
    m = DenseNet().eval()
    randomise_bn(m, 9)
    g = trace_module(m, torch.randn(1, 1, 5, 5), tokens=False)
    assert [n for n in g.layer_names] == ["input", "stem", "l1.norm1", "l1.conv1", "l2.norm1", "l2.norm1_1",
                                          "l2.conv1", "mean", "mean_1", "mean_2", "fc"]
    m = m.double()

    def bn(mod, c0, c1):  # channels c0:c1, per unit (25 positions a channel): the scale's diagonal, the shift
        s = (mod.weight / torch.sqrt(mod.running_var + mod.eps)).detach().numpy()[c0:c1]
        b = mod.bias.detach().numpy()[c0:c1] - s * mod.running_mean.detach().numpy()[c0:c1]
        return np.diag(np.repeat(s, 25)), np.repeat(b, 25)

    s1, b1 = bn(m.l1.norm1, 0, 4)
    s2a, b2a = bn(m.l2.norm1, 0, 4)
    s2b, b2b = bn(m.l2.norm1, 4, 6)
    stem, b_stem = _jacobian(m.stem, (1, 1, 5, 5))
    c1 = layer_dense(m.l1.conv1, (4, 5, 5))[0]
    c2 = layer_dense(m.l2.conv1, (6, 5, 5))[0]
    pool = lambda c: layer_dense(nn.AdaptiveAvgPool2d(1), (c, 5, 5))[0]  # noqa: E731
    fc = m.fc.weight.detach().numpy().T
    ref = {(0, 1): stem, (1, 2): s1, (1, 4): s2a, (1, 7): pool(4), (2, 3): c1, (3, 5): s2b, (3, 8): pool(2),
           (4, 6): c2[:100], (5, 6): c2[100:], (6, 9): pool(2), (7, 10): fc[:4], (8, 10): fc[4:6], (9, 10): fc[6:]}
    check(g, (25, 100, 100, 50, 100, 50, 50, 4, 2, 2, 3), ref,
          {1: b_stem, 2: b1, 4: b2a, 5: b2b, 10: m.fc.bias.detach().numpy()})
