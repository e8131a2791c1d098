"""The traced torch binding (issue 15, spec §16): ``trace_module`` follows the real forward with torch.fx.

Every graph is checked against the explicit N×N adjacency built here independently from the module's
responses to one-hot inputs (``f(e_i) - f(0)`` of each linear map, BatchNorm in eval mode included, in float64),
and its node and edge counts against the definition computed from the module's parameters.
"""
import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import deepcnt  # noqa: E402
from deepcnt.bindings.torch import from_module  # noqa: E402
from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from naive import degree_ref, knn_ref, strength_ref  # noqa: E402


# ---------------------------------------------------------------------------------------------- references
def response(f, in_shape):
    """``(M, b)``: the (n_in, n_out) matrix and bias of an affine map ``f`` from its one-hot responses."""
    n = int(np.prod(in_shape))
    with torch.no_grad():
        zero = f(torch.zeros((1,) + tuple(in_shape), dtype=torch.float64)).reshape(-1)
        y = f(torch.eye(n, dtype=torch.float64).reshape((n,) + tuple(in_shape))).reshape(n, -1)
    return (y - zero).numpy(), zero.numpy()


def explicit(sizes, ref, theta):
    off = np.concatenate([[0], np.cumsum(sizes)])
    A = np.zeros((off[-1], off[-1]))
    for (i, j), w in ref.items():
        A[off[i]:off[i + 1], off[j]:off[j + 1]] = np.where(np.abs(w) > theta, w, 0.0)
    return A


def check(g, sizes, ref, biases):
    """Sizes, pairs, biases, n_edges, degree, strength and k_nn of ``g`` against the explicit graph."""
    assert g.sizes == tuple(sizes) and g.pairs == tuple(sorted(ref))
    for l in range(1, len(sizes)):
        np.testing.assert_allclose(g.biases[l - 1][0], biases.get(l, np.zeros(sizes[l])), rtol=1e-5, atol=1e-5)
    for theta in (0.0, 0.1):
        h = g.threshold(theta) if theta else g
        A = explicit(sizes, ref, theta)
        assert h.n_edges == np.count_nonzero(A)
        for direction in ("all", "in", "out"):
            for sign in ("all", "positive", "negative"):
                np.testing.assert_array_equal(deepcnt.degree(h, direction, sign), degree_ref(A, direction, sign))
            for sign in ("net", "abs"):
                np.testing.assert_allclose(deepcnt.strength(h, direction, sign), strength_ref(A, direction, sign),
                                           rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(deepcnt.knn(h), knn_ref(A), rtol=1e-9)


def randomise_bn(model, seed):
    """Random running statistics and affine parameters, so that folding changes every weight."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen))
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                if m.weight is not None:
                    m.weight.copy_(torch.randn(n, generator=gen))
                    m.bias.copy_(torch.randn(n, generator=gen))
    return model


def reference_copy(model):
    return copy.deepcopy(model).double().eval()


# ---------------------------------------------------------------------------------------------- residual MLP
class ResMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.fc2, self.out = nn.Linear(6, 10), nn.BatchNorm1d(10), nn.Linear(10, 6), nn.Linear(6, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h = self.fc2(self.drop(F.relu(self.bn(self.fc1(x)))))
        return self.out(torch.relu(x + h))


def test_residual_mlp_folded_against_explicit_graph():
    torch.manual_seed(0)
    model = randomise_bn(ResMLP(), 1)
    g = trace_module(model, torch.zeros(2, 6))
    m = reference_copy(model)
    W1, b1 = response(lambda x: m.bn(m.fc1(x)), (6,))
    W2, b2 = response(m.fc2, (10,))
    W3, b3 = response(m.out, (6,))
    assert g.layer_names == ("input", "fc1", "add", "out")
    # the definition from the parameters: 6 + 10 + 6 + 3 nodes; 60 + 60 + 6 (identity) + 18 edges
    assert g.n_nodes == 25 and g.n_edges == 6 * 10 + 10 * 6 + 6 + 6 * 3
    check(g, [6, 10, 6, 3], {(0, 1): W1, (1, 2): W2, (0, 2): np.eye(6), (2, 3): W3}, {1: b1, 2: b2, 3: b3})
    assert isinstance(g.block(0, 2), deepcnt.IdentityBlock)


def test_residual_mlp_norm_kept_as_diagonal():
    torch.manual_seed(0)
    model = randomise_bn(ResMLP(), 2)
    g = trace_module(model, torch.zeros(1, 6), fold_norm=False)
    m = reference_copy(model)
    W1, b1 = response(m.fc1, (6,))
    S, bs = response(m.bn, (10,))
    W2, b2 = response(m.fc2, (10,))
    W3, b3 = response(m.out, (6,))
    assert np.count_nonzero(S - np.diag(np.diag(S))) == 0
    assert g.layer_names == ("input", "fc1", "bn", "add", "out")
    assert isinstance(g.block(1, 2), deepcnt.DiagonalBlock) and g.n_edges == 60 + 10 + 60 + 6 + 18
    check(g, [6, 10, 10, 6, 3], {(0, 1): W1, (1, 2): S, (2, 3): W2, (0, 3): np.eye(6), (3, 4): W3},
          {1: b1, 2: bs, 3: b2, 4: b3})


class SamePair(nn.Module):
    """``x + fc(x)``: the skip and the Linear join one pair of layers and are summed into one block."""

    def __init__(self):
        super().__init__()
        self.fc, self.out = nn.Linear(5, 5), nn.Linear(5, 2)

    def forward(self, x):
        y = torch.add(self.fc(x), x)
        return self.out(y)


def test_skip_on_the_pair_of_a_block_is_summed():
    torch.manual_seed(3)
    model = SamePair()
    g = trace_module(model, torch.zeros(1, 5))
    m = reference_copy(model)
    W, b = response(lambda x: m.fc(x) + x, (5,))
    W2, b2 = response(m.out, (5,))
    check(g, [5, 5, 2], {(0, 1): W, (1, 2): W2}, {1: b, 2: b2})


class PreNorm(nn.Module):
    """A BatchNorm after the sum (its scale goes into both the Linear and the identity skip), then ``y + y``."""

    def __init__(self):
        super().__init__()
        self.fc0, self.fc1, self.fc2 = nn.Linear(3, 5), nn.Linear(5, 4), nn.Linear(4, 5)
        self.bn, self.out = nn.BatchNorm1d(5), nn.Linear(5, 2)

    def forward(self, x):
        h = self.fc0(x)
        y = self.bn(h + self.fc2(torch.relu(self.fc1(h))))
        return self.out(y + y)


def test_norm_after_a_sum_scales_the_skip_and_a_doubled_value_is_a_diagonal():
    torch.manual_seed(5)
    model = randomise_bn(PreNorm(), 6)
    g = trace_module(model, torch.zeros(1, 3))
    m = reference_copy(model)
    ref, bias = {}, {}
    ref[(0, 1)], bias[1] = response(m.fc0, (3,))
    ref[(1, 2)], bias[2] = response(m.fc1, (5,))
    ref[(2, 3)], bias[3] = response(lambda z: m.bn(m.fc2(z)), (4,))  # the BatchNorm's bias rides on fc2's
    ref[(1, 3)] = response(lambda h: m.bn(h) - m.bn(torch.zeros_like(h)), (5,))[0]  # diag(s), the skip scaled
    ref[(3, 4)] = 2 * np.eye(5)
    ref[(4, 5)], bias[5] = response(m.out, (5,))
    assert g.layer_names == ("input", "fc0", "fc1", "add", "add_1", "out")
    assert type(g.block(1, 3)) is deepcnt.DiagonalBlock and type(g.block(3, 4)) is deepcnt.DiagonalBlock
    check(g, [3, 5, 4, 5, 5, 2], ref, bias)


# ---------------------------------------------------------------------------------------------- ResNet
# torchvision.models.resnet, verbatim (torchvision does not import beside this torch)
def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution with padding"""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution"""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise NotImplementedError("Dilation > 1 not supported in BasicBlock")
        # Both self.conv1 and self.downsample layers downsample the input when stride != 1
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)

        return out


class TinyResNet(nn.Module):
    """3x8x8 input, a 4-channel stem, a BasicBlock with the identity shortcut, one with the 1x1-conv + BN
    downsample shortcut (stride 2, 8 channels), average pooling and a Linear classifier (torchvision's layout)."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv3x3(3, 4)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = BasicBlock(4, 4)
        self.layer2 = BasicBlock(4, 8, 2, downsample=nn.Sequential(conv1x1(4, 8, 2), nn.BatchNorm2d(8)))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def conv_edges(conv, hw):
    """Edges of a Conv2d on an (H, W) input, from its parameters: in-image kernel taps per output position."""
    taps = 1
    for H, k, s, p, d in zip(hw, conv.kernel_size, conv.stride, conv.padding, conv.dilation):
        H_out = (H + 2 * p - d * (k - 1) - 1) // s + 1
        taps *= sum(0 <= o * s - p + q * d < H for o in range(H_out) for q in range(k))
    return conv.out_channels * (conv.in_channels // conv.groups) * taps


def test_tiny_resnet_against_explicit_graph():
    torch.manual_seed(0)
    model = randomise_bn(TinyResNet(), 4)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = trace_module(model, torch.randn(2, 3, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    m = reference_copy(model)
    l1, l2 = m.layer1, m.layer2
    ref, bias = {}, {}
    ref[(0, 1)], bias[1] = response(lambda x: m.bn1(m.conv1(x)), (3, 8, 8))
    ref[(1, 2)], bias[2] = response(lambda x: l1.bn1(l1.conv1(x)), (4, 8, 8))
    ref[(2, 3)], bias[3] = response(lambda x: l1.bn2(l1.conv2(x)), (4, 8, 8))
    ref[(1, 3)] = np.eye(256)
    ref[(3, 4)], bias[4] = response(lambda x: l2.bn1(l2.conv1(x)), (4, 8, 8))
    ref[(4, 5)], b_main = response(lambda x: l2.bn2(l2.conv2(x)), (8, 4, 4))
    ref[(3, 5)], b_skip = response(l2.downsample, (4, 8, 8))
    bias[5] = b_main + b_skip
    ref[(5, 6)], _ = response(m.avgpool, (8, 4, 4))
    ref[(6, 7)], bias[7] = response(m.fc, (8,))
    assert g.layer_names == ("input", "conv1", "layer1.conv1", "layer1.add", "layer2.conv1", "layer2.add",
                             "avgpool", "fc")
    # the definition from the parameters: units per layer, and edges per block
    sizes = [3 * 64, 4 * 64, 4 * 64, 4 * 64, 8 * 16, 8 * 16, 8, 3]
    edges = (conv_edges(model.conv1, (8, 8)) + conv_edges(l1.conv1, (8, 8)) + conv_edges(l1.conv2, (8, 8))
             + 4 * 64 + conv_edges(l2.conv1, (8, 8)) + conv_edges(l2.conv2, (4, 4))
             + conv_edges(l2.downsample[0], (8, 8)) + 8 * 16 + 8 * 3)
    assert g.n_nodes == sum(sizes) and g.n_edges == edges
    check(g, sizes, ref, bias)
    assert isinstance(g.block(0, 1), deepcnt.ConvBlock) and isinstance(g.block(1, 3), deepcnt.IdentityBlock)


def test_tiny_resnet_norm_kept_as_diagonal_blocks():
    torch.manual_seed(1)
    model = randomise_bn(TinyResNet(), 5).eval()
    g = trace_module(model, torch.zeros(1, 3, 8, 8), fold_norm=False)
    diagonal = [p for p, b in zip(g.pairs, g.blocks) if type(b) is deepcnt.DiagonalBlock]
    assert len(diagonal) == 6 and g.n_layers == 8 + 6  # six BatchNorms, each its own layer
    m = reference_copy(model)
    # the first block is conv1 unscaled, and bn1 the diagonal of its one-hot responses
    np.testing.assert_allclose(deepcnt.strength(g, "out")[: g.sizes[0]], response(m.conv1, (3, 8, 8))[0].sum(1),
                               rtol=1e-5, atol=1e-5)
    S = response(m.bn1, (4, 8, 8))[0]
    np.testing.assert_allclose(g.block(1, 2).d[0], np.diag(S), rtol=1e-6)
    f = trace_module(model, torch.zeros(1, 3, 8, 8))
    assert f.n_edges + sum(g.sizes[j] for _, j in diagonal) == g.n_edges


# ---------------------------------------------------------------------------------------------- chains, errors
def test_chains_give_the_graph_of_today():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Dropout(), nn.Linear(7, 3, bias=False))
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    for model, old, x in ((mlp, from_module(mlp), torch.zeros(1, 5)),
                          (cnn, from_module(cnn, input_shape=(1, 8, 8)), torch.zeros(3, 1, 8, 8))):
        new = from_module(model, example_input=x)
        assert new.is_chain and new.pairs == old.pairs and new.layer_names == old.layer_names
        assert new.sizes == old.sizes and new.n_edges == old.n_edges
        for name in ("degree", "strength", "nodes_strength"):
            np.testing.assert_allclose(getattr(deepcnt, name)(new), getattr(deepcnt, name)(old), rtol=1e-6)
        for a, b in zip(new.biases, old.biases):
            np.testing.assert_allclose(a, b)


class Cat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.cat([self.fc(x), x], 1)


class Norm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.norm = nn.Linear(4, 4), nn.LayerNorm(4)

    def forward(self, x):
        return self.norm(self.fc(x))


class Inner(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 1)


class Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(3, 3), Inner())

    def forward(self, x):
        return self.block(x)


class Flat(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).view(-1)


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) * self.b(x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else x


@pytest.mark.parametrize("model, x, match", [
    (Gated(), torch.zeros(1, 4), r"^a product of two layers' units \(function _operator\.mul\) at the model's forward "
     r"\(fx node 'mul'\): a gated unit needs one side through an activation"),
    (nn.Sequential(nn.Conv2d(1, 1, 1), nn.Unfold(2)), torch.zeros(1, 1, 4, 4),
     r"^module Unfold at '1' \(fx node '_1'\): the traced graph maps"),
    (Nested(), torch.zeros(1, 2, 3), r"^Linear applied to a \(2, 3\) tensor at 'block.0'"),
    (Flat(), torch.zeros(2, 4), r"^method Tensor\.view giving shape \(8,\) at the model's forward.*batch axis"),
    (Branchy(), torch.zeros(1, 4), r"^neither torch\.fx \(.*\) nor torch\.export \(.*\) can trace Branchy's forward"),
    (Cat(), torch.zeros(4), r"^example_input must be one tensor holding a batch"),
])
def test_unsupported_operations_give_one_line_errors(model, x, match):
    with pytest.raises(InputError, match=match) as info:
        trace_module(model, x)
    assert "\n" not in str(info.value)


class CatPermute(nn.Module):
    """A concatenation (the union of node sets) and re-indexing (unsqueeze, permute, flatten) of the same units."""

    def __init__(self):
        super().__init__()
        self.fc, self.out = nn.Linear(4, 5), nn.Linear(9, 3)

    def forward(self, x):
        h = self.fc(x).unsqueeze(2).permute(0, 2, 1).flatten(1)
        return self.out(torch.cat([h, x], 1))


def test_concatenation_is_the_union_of_node_sets_and_reindexing_keeps_units():
    torch.manual_seed(2)
    model = CatPermute()
    g = trace_module(model, torch.zeros(2, 4))
    m = reference_copy(model)
    W1, b1 = response(m.fc, (4,))
    W2, b2 = response(m.out, (9,))
    assert g.layer_names == ("input", "fc", "out") and g.n_edges == 20 + 27
    check(g, [4, 5, 3], {(0, 1): W1, (1, 2): W2[:5], (0, 2): W2[5:]}, {1: b1, 2: b2})


# ---------------------------------------------------------------------------------------------- no example_input
class Reordered(nn.Module):
    def __init__(self):
        super().__init__()
        self.b, self.a = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)))


class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)

    def forward(self, x):
        return self.a(self.a(x))


@pytest.mark.parametrize("model, why", [
    (ResMLP(), r"'out' reads 'fc2' and 'input' \(a skip or residual connection\)\): pass example_input="),
    (SamePair(), r"'out' reads 'fc' and 'input' \(a skip or residual connection\)"),
    (Reordered(), r"the forward calls the layers in the order \['a', 'b'\], not in their registration order \['b', 'a'\]"),
    (Twice(), r"'a' is called 2 times"),
])
def test_registration_order_never_gives_a_wrong_chain(model, why):
    """Without example_input, a forward that is not the registered chain was read as one (a residual MLP
    became fc1 -> fc2 -> out with no skip): now it is refused, naming why, or traced on zeros of input_shape."""
    with pytest.raises(InputError, match=r"^\w+'s forward is not a chain of its layers in registration order \("
                       + why):
        from_module(model)


def test_input_shape_traces_a_model_that_is_not_a_chain():
    torch.manual_seed(0)
    model = TinyResNet().eval()
    g = from_module(model, input_shape=(3, 8, 8))
    assert g.skip_pairs == ((1, 3), (3, 5))
    np.testing.assert_array_equal(deepcnt.degree(g), deepcnt.degree(trace_module(model, torch.zeros(4, 3, 8, 8))))
    mlp = from_module(ResMLP(), input_shape=(6,))
    assert mlp.skip_pairs == ((0, 2),) and mlp.layer_names == ("input", "fc1", "add", "out")


@pytest.mark.parametrize("model, x, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(2)), torch.zeros(1, 1, 7, 7),
     r"^module AdaptiveAvgPool2d at '1' \(fx node '_1'\): an output size \(2, 2\) that does not divide the input"),
    (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False)), torch.zeros(2, 3),
     r"^module BatchNorm1d at '1'.*track_running_stats=False"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, ceil_mode=True)), torch.zeros(1, 1, 7, 7),
     r"^module MaxPool2d at '1'.*ceil_mode=True"),
])
def test_module_settings_outside_the_mapping_are_named(model, x, match):
    with pytest.raises(InputError, match=match):
        trace_module(model, x)
