"""Convolutions in token mode (the graph of one position's features): a convolution on the input reads one
window's pixel slots, as a patch embedding reads a patch's pixels (Whisper, wav2vec2, SegFormer's overlapping
patches); a convolution over positions that all hold the same units adds its taps up (a stride over tokens,
SegFormer's depthwise Mix-FFN). Each against the explicit graph of that definition, built from the kernels."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from test_trace import check  # noqa: E402
from test_trace_attention import _transformers  # noqa: E402


def _np(t):
    return t.detach().double().numpy()


def _taps(conv):
    """The (C_in, C_out) block of a convolution over positions that hold the same units: its taps summed,
    block-diagonal by groups, written out channel by channel."""
    K = _np(conv.weight)
    c_out, cin_g = K.shape[:2]
    g = conv.groups
    W = np.zeros((cin_g * g, c_out))
    for o in range(c_out):
        grp = o // (c_out // g)
        for i in range(cin_g):
            W[grp * cin_g + i, o] = K[o, i].sum()
    return W


class Audio(nn.Module):
    """Whisper's front: two Conv1d over time (the second strided and grouped), then a Linear per frame."""

    def __init__(self, exported=False):
        super().__init__()
        self.exported = exported
        self.c1, self.c2 = nn.Conv1d(4, 6, 3, padding=1), nn.Conv1d(6, 6, 3, stride=2, padding=1, groups=2)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        if self.exported and x.shape[-1] < 1:
            return x
        h = F.gelu(self.c2(F.gelu(self.c1(x))))
        return self.fc(h.transpose(1, 2))


class Image(nn.Module):
    """SegFormer's stage: overlapping patches (3×3, stride 2, padding 1), tokens, a Linear, the depthwise 3×3
    convolution of its Mix-FFN on the tokens laid back as an image, a Linear."""

    def __init__(self):
        super().__init__()
        self.patch, self.fc1 = nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Linear(4, 6)
        self.dw, self.fc2 = nn.Conv2d(6, 6, 3, padding=1, groups=6), nn.Linear(6, 4)

    def forward(self, x):
        h = self.patch(x)  # (B, 4, 3, 3)
        B, C, H, W = h.shape
        t = self.fc1(h.flatten(2).transpose(1, 2))  # (B, 9, 6)
        m = self.dw(t.transpose(1, 2).reshape(B, 6, H, W))
        return self.fc2(F.gelu(m).flatten(2).transpose(1, 2))


@pytest.mark.parametrize("exported", (False, True))
def test_audio_convolutions_in_token_mode(exported):
    torch.manual_seed(0)
    m = Audio(exported).eval()
    g = trace_module(m, torch.randn(1, 4, 8), tokens=True)
    ref = {(0, 1): _np(m.c1.weight).reshape(6, -1).T, (1, 2): _taps(m.c2), (2, 3): _np(m.fc.weight).T}
    check(g, (12, 6, 6, 3), ref, {1: _np(m.c1.bias), 2: _np(m.c2.bias), 3: _np(m.fc.bias)})


def test_overlapping_patches_and_a_depthwise_convolution_over_tokens():
    torch.manual_seed(1)
    m = Image().eval()
    g = trace_module(m, torch.randn(1, 2, 6, 6), tokens=True)
    ref = {(0, 1): _np(m.patch.weight).reshape(4, -1).T, (1, 2): _np(m.fc1.weight).T, (2, 3): _taps(m.dw),
           (3, 4): _np(m.fc2.weight).T}
    assert np.count_nonzero(ref[(2, 3)] - np.diag(np.diag(ref[(2, 3)]))) == 0  # depthwise: a diagonal
    check(g, (18, 4, 6, 6, 4), ref, {1: _np(m.patch.bias), 2: _np(m.fc1.bias), 3: _np(m.dw.bias),
                                     4: _np(m.fc2.bias)})


def test_an_input_read_twice_is_not_taken_as_window_slots():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv1d(2, 3, 3, padding=1), nn.Conv1d(2, 3, 3, padding=1)

        def forward(self, x):
            return (self.a(x) + self.b(x)).transpose(1, 2)

    # read twice, the pixels stay units and each convolution a convolution block on them (as window slots both
    # would be dense blocks, summed into one): two convolutions on one pair of layers cannot be summed
    with pytest.raises(InputError, match=r"\(conv and conv\)"):
        trace_module(Twice().eval(), torch.randn(1, 2, 5), tokens=True)


@pytest.mark.parametrize("family", ("Whisper", "Segformer", "Wav2Vec2"))
def test_hugging_face_models_with_a_convolutional_front(family):
    import deepcnt

    tf = _transformers()
    torch.manual_seed(3)
    if family == "Whisper":
        m = tf.WhisperModel(tf.WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                             decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                             num_mel_bins=4, max_source_positions=8)).encoder
        x, first = torch.randn(1, 4, 16), 4 * 3  # 4 mel bins × a 3-frame window
    elif family == "Segformer":
        m = tf.SegformerModel(tf.SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                                 hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2],
                                                 num_attention_heads=[1, 2], mlp_ratios=[2, 2]))
        x, first = torch.randn(1, 3, 32, 32), 3 * 7 * 7
    else:
        m = tf.Wav2Vec2Model(tf.Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                               intermediate_size=32, conv_dim=(8, 8), conv_stride=(5, 2),
                                               conv_kernel=(10, 3), num_conv_pos_embeddings=4,
                                               num_conv_pos_embedding_groups=2))
        x, first = torch.randn(1, 400), 10  # one window of raw audio
    g = trace_module(m.eval(), x)
    assert g.sizes[0] == first and "ndarray" in {type(b).__name__ for b in g.blocks}
    A = g.to_scipy().toarray()
    assert g.n_edges == np.count_nonzero(A)
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


class Hybrid(nn.Module):
    """MobileViT's and LeViT's parts in token mode: a BatchNorm on a convolution's output (its scale folded into
    the block per unit, as per channel), a bilinear interpolation of positions that hold the same units (the
    units stay), and a convolution over a concatenation of two layers along the channels (taps added, a block
    from each layer)."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv1d(2, 4, 3, padding=1), nn.BatchNorm1d(4)
        self.side, self.fuse, self.fc = nn.Conv1d(4, 3, 1), nn.Conv1d(7, 5, 3, padding=1), nn.Linear(5, 2)

    def forward(self, x):
        h = F.gelu(self.bn(self.stem(x)))
        s = F.interpolate(F.gelu(self.side(h)).unsqueeze(2), size=(1, x.shape[-1]), mode="bilinear").squeeze(2)
        return self.fc(self.fuse(torch.cat([h, s], 1)).transpose(1, 2))


def test_batchnorm_interpolation_and_concatenation_in_token_mode():
    from test_trace import randomise_bn

    torch.manual_seed(5)
    m = Hybrid().eval()
    randomise_bn(m, 3)
    g = trace_module(m, torch.randn(1, 2, 6), tokens=True)
    bn = m.bn
    s = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    stem = _np(m.stem.weight).reshape(4, -1).T * s  # BatchNorm's scale on the stem's columns
    fuse = _taps(m.fuse)
    ref = {(0, 1): stem, (1, 2): _np(m.side.weight)[:, :, 0].T, (1, 3): fuse[:4], (2, 3): fuse[4:],
           (3, 4): _np(m.fc.weight).T}
    biases = {1: s * (_np(m.stem.bias) - _np(bn.running_mean)) + _np(bn.bias), 2: _np(m.side.bias),
              3: _np(m.fuse.bias), 4: _np(m.fc.bias)}
    check(g, (6, 4, 3, 5, 2), ref, biases)


@pytest.mark.parametrize("family", ("MobileViT", "Levit"))
def test_hugging_face_hybrids_of_convolutions_and_attention(family):
    """MobileViT (convolutions, tokens unfolded from patches, a fusion over a concatenation, a bilinear resize)
    and LeViT (BatchNorm on every projection, strided attention) against their own adjacency (held sparse)."""
    import deepcnt

    tf = _transformers()
    torch.manual_seed(4)
    m = getattr(tf, f"{family}Model")(getattr(tf, f"{family}Config")(image_size=32)).eval()
    g = trace_module(m, torch.randn(1, 3, 32, 32))
    A = g.to_scipy().tocsr()
    nz = (A != 0).astype(np.int64)
    np.testing.assert_array_equal(deepcnt.degree(g), np.ravel(nz.sum(0)) + np.ravel(nz.sum(1)))
    np.testing.assert_allclose(deepcnt.strength(g), np.ravel(A.sum(0)) + np.ravel(A.sum(1)), rtol=1e-5, atol=1e-5)
