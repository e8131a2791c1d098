"""The parts of today's language models traced (issue 15): RMSNorm and hand-written normalisations, rotary
position embeddings and gated units (SwiGLU), alone and in Hugging Face's Llama, each against the explicit
graph of the definition in :mod:`deepcnt.bindings.trace`, built here from the module's parameters alone.

- A normalisation's statistic (a mean or variance over a position's features, kept as an axis) shifts or
  scales every unit of the position by one data-dependent amount: the units stay, γ multiplies the rows of the
  blocks that read them (as for ``nn.LayerNorm``), β joins their biases.
- ``x·cos + rotate_half(x)·sin`` turns pairs of a query's (key's) units: the layer keeps its units.
- ``act(x W_g) ⊙ (x W_u)``: the gate projection is a block into its own node set (a sink, as a query), the
  product holds the units of the value ``x W_u``.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from test_trace import check  # noqa: E402
from test_trace_attention import Ref, _transformers, counts, np64  # noqa: E402


class HandRMS(nn.Module):
    """RMSNorm as Llama writes it (the mean of squares over the features, ``rsqrt``, then γ)."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


class HandLayerNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.g, self.b = nn.Parameter(torch.randn(d)), nn.Parameter(torch.randn(d))

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-5) * self.g + self.b


class Normed(nn.Module):
    def __init__(self, norm, relu):
        super().__init__()
        self.fc1, self.norm, self.fc2, self.relu = nn.Linear(6, 5), norm, nn.Linear(5, 3), relu

    def forward(self, x):
        h = self.norm(self.fc1(x))
        return self.fc2(torch.relu(h) if self.relu else h)


@pytest.mark.parametrize("norm", [HandRMS(5), nn.RMSNorm(5), HandLayerNorm(5)], ids=["hand-rms", "nn", "hand-ln"])
def test_normalisations_fold_their_scale_into_the_next_block(norm):
    """``relu`` after the norm: γ cannot pass it, so the norm is its own diagonal layer; without the relu, γ
    multiplies fc2's rows. (``nn.LayerNorm``'s β joins the next bias; a constant added by hand is left out.)"""
    torch.manual_seed(0)
    if isinstance(norm, nn.RMSNorm):
        with torch.no_grad():
            norm.weight.copy_(torch.randn(5))
    m = Normed(norm, relu=True).eval()
    gamma = np64(norm.g if isinstance(norm, HandLayerNorm) else norm.weight)
    beta = np.zeros(5)  # a hand-written "+ β" adds a constant, which the graph leaves out (as a position embedding)
    W1, W2 = np64(m.fc1.weight).T, np64(m.fc2.weight).T
    g = trace_module(m, torch.randn(2, 6))
    check(g, (6, 5, 5, 3), {(0, 1): W1, (1, 2): np.diag(gamma), (2, 3): W2},
          {1: np64(m.fc1.bias), 2: beta, 3: np64(m.fc2.bias)})
    m.relu = False
    g = trace_module(m, torch.randn(2, 6))
    check(g, (6, 5, 3), {(0, 1): W1, (1, 2): gamma[:, None] * W2}, {1: np64(m.fc1.bias), 2: np64(m.fc2.bias) +
                                                                     beta @ W2})


class SqueezeExcite(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.gate = nn.Linear(4, 4), nn.Linear(1, 1)

    def forward(self, x):
        h = self.fc(x)
        return h * torch.sigmoid(self.gate(h.mean(-1, keepdim=True)))


class MeanOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x).mean(-1, keepdim=True)


class TopOne(nn.Module):
    """A mixture of two experts, each token routed to its top one."""

    def __init__(self):
        super().__init__()
        self.router, self.experts = nn.Linear(4, 2), nn.ModuleList(nn.Linear(4, 4) for _ in range(2))

    def forward(self, x):
        w, pick = torch.topk(self.router(x), 1, dim=-1)
        return sum(torch.where(pick == e, w, 0.0) * f(x) for e, f in enumerate(self.experts))


@pytest.mark.parametrize("model, match", [
    (TopOne(), r"^function torch\.topk at the model's forward \(fx node 'topk'\): it picks units by their values"),
    (SqueezeExcite(), r"^module Linear reads a statistic of a position's features at 'gate'"),
    (MeanOut(), r"^an output that holds no units"),
])
def test_a_statistic_or_a_product_outside_a_normalisation_or_a_gate_is_refused(model, match):
    with pytest.raises(InputError, match=match) as info:
        trace_module(model, torch.zeros(1, 4))
    assert "\n" not in str(info.value)


class SwiGLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate, self.up, self.down = nn.Linear(4, 6, bias=False), nn.Linear(4, 6, bias=False), nn.Linear(6, 4)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


def test_gated_unit_gate_is_a_sink_and_the_value_is_on_the_path():
    torch.manual_seed(1)
    m = SwiGLU().eval()
    g = trace_module(m, torch.randn(2, 4))
    assert g.layer_names == ("input", "gate", "up", "down")
    check(g, (4, 6, 6, 4), {(0, 1): np64(m.gate.weight).T, (0, 2): np64(m.up.weight).T, (2, 3): np64(m.down.weight).T},
          {3: np64(m.down.bias)})


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Rotary(nn.Module):
    """One head of attention with Llama's rotary embedding of the query and the key."""

    def __init__(self, d=4):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d)))

    def forward(self, x):
        pos = torch.arange(x.shape[1], dtype=torch.float32)
        f = torch.outer(pos, self.inv_freq)
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q, k = self.q(x), self.k(x)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        return x + self.o(F.scaled_dot_product_attention(q, k, self.v(x)))


def test_rotary_embedding_keeps_the_query_and_key_units():
    torch.manual_seed(2)
    m = Rotary().eval()
    g = trace_module(m, torch.randn(2, 5, 4))
    assert g.layer_names == ("input", "q", "k", "v", "add")
    ref = {(0, 1): np64(m.q.weight).T, (0, 2): np64(m.k.weight).T, (0, 3): np64(m.v.weight).T,
           (0, 4): np.eye(4), (3, 4): np64(m.o.weight).T}
    check(g, (4, 4, 4, 4, 4), ref, {1: np64(m.q.bias), 2: np64(m.k.bias), 3: np64(m.v.bias), 4: np64(m.o.bias)})


def test_hf_llama_against_explicit_graph():
    """Llama: RMSNorm (γ into q, k, v and gate, up), rotary q and k, grouped-query attention (2 heads share one
    key-value head: the output projection's rows of both heads read the same v units, so they add), SwiGLU."""
    tf = _transformers()
    torch.manual_seed(3)
    d, ff = 8, 12
    m = tf.LlamaModel(tf.LlamaConfig(vocab_size=30, hidden_size=d, intermediate_size=ff, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=16)).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name:
                p.copy_(torch.randn(p.shape))
    g = trace_module(m, torch.randint(0, 30, (2, 5)))
    P = {n: np64(p) for n, p in m.named_parameters()}
    e = "layers.0."
    q, k, v, gate, up = (e + n for n in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
                                         "mlp.up_proj"))
    add1, add2 = [n for n in g.layer_names if n.startswith(e + "add")]
    ref = Ref()
    for name, n in (("embed_tokens", d), (q, d), (k, 4), (v, 4), (add1, d), (gate, ff), (up, ff), (add2, d),
                    ("output.scale", d)):
        ref.layer(name, n)
    s1, s2 = P[e + "input_layernorm.weight"], P[e + "post_attention_layernorm.weight"]
    for name in (q, k, v):
        ref.block("embed_tokens", name, s1[:, None] * P[name + ".weight"].T)
    Wo = P[e + "self_attn.o_proj.weight"].T
    ref.block(v, add1, Wo[:4] + Wo[4:])  # both heads read the one value head
    ref.block("embed_tokens", add1, np.eye(d))
    for name in (gate, up):
        ref.block(add1, name, s2[:, None] * P[name + ".weight"].T)
    ref.block(up, add2, P[e + "mlp.down_proj.weight"].T)
    ref.block(add1, add2, np.eye(d))
    ref.block(add2, "output.scale", np.diag(P["norm.weight"]))
    ref.check(g)
    params = [P[n + ".weight"] for n in (q, k, v, gate, up)] + [Wo[:4] + Wo[4:], P[e + "mlp.down_proj.weight"]]
    assert (g.n_nodes, g.n_edges) == counts(ref.sizes, params + [np.ones(d)] * 2 + [P["norm.weight"]])


class ScaledEmbedding(nn.Module):
    """Gemma's start: embeddings times √d (one positive factor), an RMSNorm (1 + γ), a residual."""

    def __init__(self, vocab=10, d=4):
        super().__init__()
        self.emb, self.w, self.fc = nn.Embedding(vocab, d), nn.Parameter(torch.randn(d)), nn.Linear(d, d)

    def forward(self, ids):
        x = self.emb(ids) * 2.0
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * (1.0 + self.w)
        return x + self.fc(h.type_as(x))


def test_a_constant_factor_before_a_normalisation_cancels_and_leaves_no_layer():
    torch.manual_seed(4)
    m = ScaledEmbedding().eval()
    g = trace_module(m, torch.randint(0, 10, (2, 3)))
    assert g.layer_names == ("emb", "add")  # no layer for x², none for the factor 2 before the norm
    check(g, (4, 4), {(0, 1): (1.0 + np64(m.w))[:, None] * np64(m.fc.weight).T + 2.0 * np.eye(4)},
          {1: np64(m.fc.bias)})


class PooledCNN(nn.Module):
    """A CNN pooled by modules, or (functional=True) by the functions torch.export writes them as; exported=True
    branches on the input's size, which torch.fx cannot trace, so the model goes through torch.export (ATen)."""

    def __init__(self, functional, exported=False):
        super().__init__()
        self.functional, self.exported = functional, exported
        self.c1, self.c2, self.fc = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 2)
        self.mp, self.ap, self.gap = nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        if self.exported and x.shape[-1] < 2:
            return x
        if self.functional:
            h = F.avg_pool2d(torch.relu(self.c2(F.max_pool2d(torch.relu(self.c1(x)), 2))), 2)
            return self.fc(h.mean((2, 3)))  # global average pooling written as a mean
        h = self.ap(torch.relu(self.c2(self.mp(torch.relu(self.c1(x))))))
        return self.fc(torch.flatten(self.gap(h), 1))


def test_pooling_functions_and_a_spatial_mean_are_pooling_blocks():
    import deepcnt

    torch.manual_seed(5)
    ref = PooledCNN(functional=False).eval()
    a = trace_module(ref, torch.randn(1, 2, 8, 8))
    assert a.sizes == (128, 192, 48, 64, 16, 4, 2)
    for functional, exported in ((True, False), (False, True), (True, True)):
        m = PooledCNN(functional, exported).eval()
        m.load_state_dict(ref.state_dict())
        b = trace_module(m, torch.randn(1, 2, 8, 8))
        assert b.sizes == a.sizes and b.pairs == a.pairs
        assert [type(x).__name__ for x in b.blocks] == [type(x).__name__ for x in a.blocks]
        for f in (deepcnt.degree, deepcnt.strength, deepcnt.knn):
            np.testing.assert_allclose(f(b), f(a), rtol=1e-6)


FAMILIES = {  # small random configurations of families written by others (each traced through torch.export)
    "Qwen2": dict(num_key_value_heads=2), "Gemma": dict(num_key_value_heads=1, head_dim=8), "Phi": {},
    "Mistral": dict(num_key_value_heads=2), "GPTNeoX": {}, "OPT": dict(ffn_dim=64, word_embed_proj_dim=32),
    "Falcon": {}, "Bloom": dict(n_layer=1, n_head=4), "DistilBert": dict(dim=32, hidden_dim=64, n_layers=1, n_heads=4),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_language_model_families_trace_with_their_queries_as_sinks(family):
    import deepcnt

    tf = _transformers()
    common = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, vocab_size=50)
    config = getattr(tf, f"{family}Config")(**{**common, **FAMILIES[family]})
    torch.manual_seed(6)
    g = trace_module(getattr(tf, f"{family}Model")(config).eval(), torch.randint(0, 50, (1, 6)))
    A = g.to_scipy().toarray()
    read_by_none = (A != 0).sum(1)[: g.n_nodes - g.sizes[-1]] == 0
    assert read_by_none.sum() >= 32  # the query's units at least (its own layer, or part of a packed projection)
    assert g.n_edges == np.count_nonzero(A) and g.n_nodes == A.shape[0]
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt's block: a depthwise conv, then channels-last LayerNorm, Linear, GELU, Linear and a layer scale;
    with channels_first=True the same written with 1×1 convolutions and a normalisation over the channel axis."""

    def __init__(self, channels_first, C=3):
        super().__init__()
        self.first = channels_first
        self.dw = nn.Conv2d(C, C, 3, padding=1, groups=C)
        self.norm = nn.LayerNorm(C)
        self.pw1, self.pw2 = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.gamma = nn.Parameter(torch.randn(C))

    def forward(self, x):
        h = self.dw(x)
        if self.first:
            mu = h.mean(1, keepdim=True)
            h = (h - mu) / torch.sqrt(((h - mu) ** 2).mean(1, keepdim=True) + 1e-6)
            h = self.norm.weight[:, None, None] * h + self.norm.bias[:, None, None]
            h = F.conv2d(h, self.pw1.weight[:, :, None, None], self.pw1.bias)
            h = F.conv2d(F.gelu(h), self.pw2.weight[:, :, None, None], self.pw2.bias)
            return x + self.gamma[:, None, None] * h
        h = self.pw2(F.gelu(self.pw1(self.norm(h.permute(0, 2, 3, 1)))))
        return x + (self.gamma * h).permute(0, 3, 1, 2)


def test_a_linear_on_channels_last_units_is_a_pointwise_convolution():
    import deepcnt

    torch.manual_seed(7)
    last = ConvNeXtBlock(channels_first=False).eval()
    with torch.no_grad():
        last.norm.weight.copy_(torch.randn(3))
    first = ConvNeXtBlock(channels_first=True).eval()
    first.load_state_dict(last.state_dict())
    a, b = (trace_module(m, torch.randn(1, 3, 5, 5)) for m in (last, first))
    assert a.sizes == b.sizes == (75, 75, 75, 300, 75, 75) and a.pairs == b.pairs
    assert [type(x).__name__ for x in a.blocks] == [type(x).__name__ for x in b.blocks]
    assert type(a.blocks[a.pairs.index((3, 4))]).__name__ == "ConvBlock"  # pw2: a 1×1 convolution, not dense
    for f in (deepcnt.degree, deepcnt.strength, deepcnt.knn):
        np.testing.assert_allclose(f(a), f(b), rtol=1e-6)


VISION = {  # family: its configuration, and whether it is convolutional (else a transformer, in token mode)
    "ConvNext": (dict(hidden_sizes=[4, 8], depths=[1, 1], num_stages=2, image_size=16), True),
    # ConvNeXt V2's global response normalisation: a norm over positions, its mean over channels (a statistic
    # of a statistic), the units scaled by it
    "ConvNextV2": (dict(hidden_sizes=[4, 8], depths=[1, 1], num_stages=2, image_size=16), True),
    "ResNet": (dict(hidden_sizes=[4, 8], depths=[1, 1], embedding_size=4), True),
    # BiT: weight-standardised convolutions, GroupNorm, TensorFlow's "same" max pooling (a padding, then the pool)
    "Bit": (dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="bottleneck", num_groups=4), True),
    "Swin": (dict(image_size=16, patch_size=4, embed_dim=8, depths=[1, 1], num_heads=[2, 2], window_size=2), False),
}


@pytest.mark.parametrize("family", sorted(VISION))
def test_vision_families_trace(family):
    """Hugging Face's ConvNeXt (depthwise and channels-last pointwise layers, channels-first LayerNorm written
    out, global average pooling as a mean), ResNet (BatchNorm folded, pooling as functions under export) and
    Swin (shifted windows: rolls and zero paddings of one token's units; patch merging)."""
    import deepcnt

    tf = _transformers()
    kwargs, convolutional = VISION[family]
    torch.manual_seed(8)
    g = trace_module(getattr(tf, f"{family}Model")(getattr(tf, f"{family}Config")(**kwargs)).eval(),
                     torch.randn(1, 3, 16, 16))
    kinds = {type(b).__name__ for b in g.blocks}
    if convolutional:
        assert {"ConvBlock", "PoolBlock"} <= kinds and "ndarray" not in kinds  # no convolution unrolled densely
    else:
        assert g.sizes[0] == 3 * 4 * 4  # one patch's pixels: the graph of one token's features
    A = g.to_scipy().toarray()
    assert g.n_edges == np.count_nonzero(A)
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


class InterleavedQKV(nn.Module):
    """GPT-NeoX's packed projection: per head, its q, k and v side by side (2 heads of 2 features)."""

    def __init__(self):
        super().__init__()
        self.qkv, self.o = nn.Linear(4, 12), nn.Linear(4, 4)

    def forward(self, x):
        B, S, _ = x.shape
        q, k, v = self.qkv(x).view(B, S, 2, 6).transpose(1, 2).chunk(3, dim=-1)
        return self.o(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, S, 4))


def test_a_packed_projection_interleaved_by_head_is_split_into_its_parts():
    torch.manual_seed(9)
    m = InterleavedQKV().eval()
    g = trace_module(m, torch.randn(2, 3, 4))
    assert g.layer_names == ("input", "qkv[1 of 3]", "qkv[2 of 3]", "qkv[3 of 3]", "o")
    W, b = np64(m.qkv.weight).T, np64(m.qkv.bias)
    cols = [[0, 1, 6, 7], [2, 3, 8, 9], [4, 5, 10, 11]]  # the units of q, k, v: head h's at 6h + part
    ref = {(0, 1 + i): W[:, c] for i, c in enumerate(cols)}
    ref[(3, 4)] = np64(m.o.weight).T
    check(g, (4, 4, 4, 4, 4), ref, {1: b[cols[0]], 2: b[cols[1]], 3: b[cols[2]], 4: np64(m.o.bias)})


class Shifted(nn.Module):
    """An encoder-decoder's ids as BART makes them: the decoder reads the input's token ids one position later
    (written into a new tensor in place), through the same embedding table as the encoder."""

    def __init__(self):
        super().__init__()
        self.emb, self.enc, self.dec = nn.Embedding(10, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, ids):
        shifted = ids.new_zeros(ids.shape)
        shifted[:, 1:] = ids[:, :-1]
        shifted[:, 0] = 2  # the start id
        shifted = shifted.masked_fill(shifted == -100, 0)
        return self.enc(self.emb(ids)) + self.dec(self.emb(shifted))


def test_a_decoders_shifted_token_ids_are_token_ids():
    """The decoder's embedding is a source layer of its own (not a constant), named after the module that calls
    it; checked against the explicit graph: two sources, each joined to the sum by its projection."""
    torch.manual_seed(4)
    m = Shifted().eval()
    g = trace_module(m, torch.randint(0, 10, (1, 5)))
    W = lambda lin: lin.weight.detach().double().numpy().T  # noqa: E731
    check(g, (4, 4, 4), {(0, 2): W(m.enc), (1, 2): W(m.dec)},
          {2: (m.enc.bias + m.dec.bias).detach().double().numpy()})
    assert g.layer_names[:2] == ("emb", "emb_1")


def test_hugging_face_bart_traces_encoder_and_decoder():
    import deepcnt

    tf = _transformers()
    torch.manual_seed(7)
    cfg = tf.BartConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, vocab_size=30)
    g = trace_module(tf.BartModel(cfg).eval(), torch.randint(3, 30, (1, 6)))
    names = g.layer_names
    assert names[0] == "encoder.embed_tokens" and "decoder.embed_tokens" in names
    cross = [(names[a], names[b]) for a, b in g.pairs if "encoder_attn" in names[b]]
    assert any(a.startswith("encoder.") for a, _ in cross)  # the decoder's cross-attention reads the encoder
    A = g.to_scipy().toarray()
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ("T5", "Whisper"))
def test_encoder_decoders_traced_on_keyword_inputs(family):
    """An encoder-decoder whose forward needs the decoder's token ids beside its input is traced on a dict of
    keyword inputs: its decoder embedding a source layer, its graph against its own adjacency."""
    import deepcnt

    tf = _transformers()
    torch.manual_seed(9)
    ids = torch.randint(0, 30, (1, 5))
    if family == "T5":
        m = tf.T5Model(tf.T5Config(d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8,
                                   vocab_size=30))
        x = {"input_ids": ids, "decoder_input_ids": ids}
    else:
        m = tf.WhisperModel(tf.WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                                             decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                                             num_mel_bins=4, max_source_positions=8))
        x = {"input_features": torch.randn(1, 4, 16), "decoder_input_ids": ids}
    g = trace_module(m.eval(), x)
    assert "decoder.embed_tokens" in g.layer_names and g.layer_names[0] != "decoder.embed_tokens"
    A = g.to_scipy().toarray()
    np.testing.assert_array_equal(deepcnt.degree(g), (A != 0).sum(0) + (A != 0).sum(1))
    np.testing.assert_allclose(deepcnt.strength(g), A.sum(0) + A.sum(1), rtol=1e-5, atol=1e-5)


def test_keyword_inputs_that_do_not_fit_are_refused():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    with pytest.raises(InputError, match="one batch size"):
        trace_module(Two(), {"x": torch.zeros(1, 3), "y": torch.zeros(2, 3)})
    with pytest.raises(InputError, match="a second input of units"):
        trace_module(Two(), {"x": torch.zeros(1, 3), "y": torch.zeros(1, 3)})
