"""Attention and transformers traced (issue 15): models written by others, each against the explicit N×N graph
of the definition in :mod:`deepcnt.bindings.trace` — one token's features; q, k, v projections into their own
node sets, the output projection from v's; LayerNorm γ multiplying the rows of the blocks that read it (a skip
that reads it: ``diag(γ)``); a norm left pending at the output its own ``diag(γ)`` layer.

Each reference is built here from the module's parameters alone (not from the traced graph), and the graph's
node and edge counts, degree and strength are compared with it. Hugging Face models are random-initialised
small configurations (no download); they need the ``hf`` extra.
"""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import deepcnt  # noqa: E402
from deepcnt.bindings.trace import trace_module  # noqa: E402
from deepcnt.errors import InputError  # noqa: E402
from naive import degree_ref, strength_ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _transformers():
    """Import transformers without the repository root on sys.path: its ``kernels/`` folder would shadow the
    ``kernels`` package transformers probes for (only when run from the root, as ``python -m pytest`` does)."""
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != ROOT]
    try:
        tf = pytest.importorskip("transformers")
        tf.logging.set_verbosity_error()
        from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, ViTConfig, ViTModel  # noqa: F401

        return tf
    finally:
        sys.path[:] = saved


def np64(t):
    return t.detach().double().numpy()


class Ref:
    """The explicit graph of the definition: named layers (in the expected order) and blocks."""

    def __init__(self):
        self.names, self.sizes, self.blocks = [], [], {}

    def layer(self, name, n):
        self.names.append(name)
        self.sizes.append(n)

    def block(self, a, b, M):
        i, j = self.names.index(a), self.names.index(b)
        self.blocks[(i, j)] = self.blocks.get((i, j), 0) + np.asarray(M, dtype=np.float64)

    def check(self, g):
        assert g.layer_names == tuple(self.names) and g.sizes == tuple(self.sizes)
        assert g.pairs == tuple(sorted(self.blocks))
        off = np.concatenate([[0], np.cumsum(self.sizes)])
        for theta in (0.0, 0.05):
            A = np.zeros((off[-1], off[-1]))
            for (i, j), M in self.blocks.items():
                A[off[i]:off[i + 1], off[j]:off[j + 1]] = np.where(np.abs(M) > theta, M, 0.0)
            h = g.threshold(theta) if theta else g
            assert h.n_nodes == A.shape[0] and h.n_edges == np.count_nonzero(A)
            for direction in ("all", "in", "out"):
                np.testing.assert_array_equal(deepcnt.degree(h, direction), degree_ref(A, direction, "all"))
                for sign in ("net", "abs"):
                    np.testing.assert_allclose(deepcnt.strength(h, direction, sign), strength_ref(A, direction, sign),
                                               rtol=1e-5, atol=1e-5)


def counts(sizes, params):
    """Nodes and edges of the definition from the parameters: Σ layer sizes, Σ non-zero weights."""
    return sum(sizes), sum(int(np.count_nonzero(np.asarray(p))) for p in params)


# ---------------------------------------------------------------------------------------------- torch
def encoder_ref(model, d):
    """``nn.TransformerEncoder`` (post-norm): per layer q, k, v from the residual stream (rows × the previous
    norm2's γ), ``add`` = out_proj(v) + skip, linear1 (rows × norm1's γ), ``add`` = linear2 + skip."""
    ref, prev, s, params = Ref(), "input", np.ones(d), []
    ref.layer("input", d)
    adds = iter(["add", "add_1", "add", "add_3"])  # a second add in one module: the fx node name
    for l, layer in enumerate(model.layers):
        p = f"layers.{l}."
        Wi, Wo = np64(layer.self_attn.in_proj_weight), np64(layer.self_attn.out_proj.weight)
        W1, W2 = np64(layer.linear1.weight), np64(layer.linear2.weight)
        g1, g2 = np64(layer.norm1.weight), np64(layer.norm2.weight)
        qkv = [f"{p}self_attn.in_proj[{a}:{a + d}]" for a in (0, d, 2 * d)]
        a1, lin, a2 = p + next(adds), p + "linear1", p + next(adds)
        for name in qkv + [a1, lin, a2]:
            ref.layer(name, W1.shape[0] if name == lin else d)
        for k, name in enumerate(qkv):
            ref.block(prev, name, s[:, None] * Wi[k * d:(k + 1) * d].T)
        ref.block(qkv[2], a1, Wo.T)
        ref.block(prev, a1, np.diag(s))
        ref.block(a1, lin, g1[:, None] * W1.T)
        ref.block(lin, a2, W2.T)
        ref.block(a1, a2, np.diag(g1))
        params += [Wi, Wo, W1, W2, np.diag(s), np.diag(g1)]
        prev, s = a2, g2
    ref.layer("output.scale", d)
    ref.block(prev, "output.scale", np.diag(s))
    return ref, params + [s]


def randomise_norms(model, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
    return model


def test_torch_transformer_encoder_against_explicit_graph():
    torch.manual_seed(0)
    d = 8
    model = randomise_norms(nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 2, 12, batch_first=True), 2,
                                                  enable_nested_tensor=False), 1)
    g = trace_module(model, torch.randn(2, 5, d))
    ref, params = encoder_ref(model, d)
    ref.check(g)
    assert (g.n_nodes, g.n_edges) == counts(ref.sizes, params)
    assert (g.n_nodes, g.n_edges) == (8 + 2 * (3 * 8 + 8 + 12 + 8) + 8, 2 * (3 * 64 + 64 + 8 + 96 + 96 + 8) + 8)
    # LayerNorm β: into the biases of the layers that read it (b + Wβ), through a skip as it is
    L0, L1 = model.layers
    bias = lambda name: g.biases[g.layer_names.index(name) - 1][0]
    np.testing.assert_allclose(bias("layers.0.linear1"), np64(L0.linear1.bias) + np64(L0.linear1.weight) @ np64(L0.norm1.bias),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias("layers.1.add"), np64(L1.self_attn.out_proj.bias) + np64(L0.norm2.bias), atol=1e-6)
    np.testing.assert_allclose(bias("output.scale"), np64(L1.norm2.bias), atol=1e-6)
    # q and k are sinks; "value" leaves them (and their blocks) out
    v = trace_module(model, torch.randn(1, 5, d), attention="value")
    assert v.n_nodes == g.n_nodes - 4 * d and v.n_edges == g.n_edges - 4 * 64
    assert not any("[0:8]" in n or "[8:16]" in n for n in v.layer_names)


class MHANet(nn.Module):
    """``nn.MultiheadAttention`` called as a module (fx keeps it whole), a pre-norm residual block."""

    def __init__(self, d=6):
        super().__init__()
        self.norm, self.attn, self.out = nn.LayerNorm(d), nn.MultiheadAttention(d, 2, batch_first=True), nn.Linear(d, 3)

    def forward(self, x):
        h = self.norm(x)
        return self.out(x + self.attn(h, h, h, need_weights=False)[0])


def test_multihead_attention_module_against_explicit_graph():
    torch.manual_seed(1)
    d = 6
    model = randomise_norms(MHANet(d), 2)
    for fold in (True, False):
        g = trace_module(model, torch.randn(2, 4, d), fold_norm=fold)
        a = model.attn
        Wi, Wo, g1 = np64(a.in_proj_weight), np64(a.out_proj.weight), np64(model.norm.weight)
        ref = Ref()
        src, s = ("input", g1) if fold else ("norm", np.ones(d))
        for name, n in [("input", d)] + ([] if fold else [("norm", d)]) + [
                ("attn.q", d), ("attn.k", d), ("attn.v", d), ("add", d), ("out", 3)]:
            ref.layer(name, n)
        if not fold:
            ref.block("input", "norm", np.diag(g1))
        for k, name in enumerate(("attn.q", "attn.k", "attn.v")):
            ref.block(src, name, s[:, None] * Wi[k * d:(k + 1) * d].T)
        ref.block("attn.v", "add", Wo.T)
        ref.block("input", "add", np.eye(d))
        ref.block("add", "out", np64(model.out.weight).T)
        ref.check(g)


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.gn, self.fc = nn.Conv1d(2, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.Linear(4 * 6, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.gn(self.conv(x)), 1))


def test_conv1d_and_group_norm_folded_into_the_linear_that_reads_them():
    torch.manual_seed(2)
    model = Conv1dNet()
    with torch.no_grad():
        model.gn.weight.copy_(torch.randn(4))
    g = trace_module(model, torch.randn(2, 2, 6))
    K, gam, W = np64(model.conv.weight), np64(model.gn.weight), np64(model.fc.weight)
    C = np.zeros((2 * 6, 4 * 6))  # the unrolled Conv1d, from its definition
    for co in range(4):
        for ci in range(2):
            for o in range(6):
                for k in range(3):
                    i = o - 1 + k
                    if 0 <= i < 6:
                        C[ci * 6 + i, co * 6 + o] = K[co, ci, k]
    ref = Ref()
    for name, n in (("input", 12), ("conv", 24), ("fc", 2)):
        ref.layer(name, n)
    ref.block("input", "conv", C)
    ref.block("conv", "fc", np.repeat(gam, 6)[:, None] * W.T)
    ref.check(g)
    assert type(g.block(0, 1)).__name__ == "ConvBlock"
    kept = trace_module(model, torch.randn(1, 2, 6), fold_norm=False)
    assert kept.layer_names == ("input", "conv", "gn", "fc") and kept.n_edges == g.n_edges + 24


def test_embedding_one_hot_input_layer():
    class Emb(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.fc = nn.Embedding(7, 4), nn.Linear(4, 3)

        def forward(self, ids):
            return self.fc(self.emb(ids))

    torch.manual_seed(3)
    model = Emb()
    ids = torch.randint(0, 7, (2, 5))
    g = trace_module(model, ids)
    assert g.layer_names == ("emb", "fc") and g.n_edges == 12
    h = trace_module(model, ids, embedding="one-hot")
    ref = Ref()
    for name, n in (("input", 7), ("emb", 4), ("fc", 3)):
        ref.layer(name, n)
    ref.block("input", "emb", np64(model.emb.weight))
    ref.block("emb", "fc", np64(model.fc.weight).T)
    ref.check(h)
    with pytest.raises(InputError, match="unknown embedding .dense.: use one of"):
        trace_module(model, ids, embedding="dense")


# ---------------------------------------------------------------------------------------------- Hugging Face
def hf_model(kind, seed=0):
    tf = _transformers()
    torch.manual_seed(seed)
    if kind == "bert":
        m = tf.BertModel(tf.BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                       intermediate_size=12, max_position_embeddings=16))
        x = torch.randint(0, 30, (2, 5))
    elif kind == "gpt2":
        m = tf.GPT2Model(tf.GPT2Config(vocab_size=30, n_embd=8, n_layer=1, n_head=2, n_positions=16,
                                       bos_token_id=0, eos_token_id=0))
        x = torch.randint(0, 30, (2, 5))
    else:
        m = tf.ViTModel(tf.ViTConfig(image_size=8, patch_size=4, num_channels=3, hidden_size=8, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=12))
        x = torch.randn(2, 3, 8, 8)
    return randomise_norms(m, seed + 10), x


def traced_hf(kind):
    """The traced graph of ``hf_model(kind)``, a reader of its parameters as float64 arrays, and their names."""
    m, x = hf_model(kind)
    P = dict(m.named_parameters())
    return trace_module(m, x), lambda n: np64(P[n]), set(P)


def test_hf_bert_against_explicit_graph():
    g, w, _ = traced_hf("bert")
    d, e = 8, "encoder.layer.0."
    ref = Ref()
    at, q, k, v = e + "attention.output.add", e + "attention.self.query", e + "attention.self.key", e + "attention.self.value"
    mid, out = e + "intermediate.dense", e + "output.add"
    for name, n in (("embeddings.word_embeddings", d), (q, d), (k, d), (v, d), (at, d), (mid, 12), (out, d),
                    ("pooler.dense", d), ("output.scale", d)):
        ref.layer(name, n)
    s0, s1, s2 = w("embeddings.LayerNorm.weight"), w(e + "attention.output.LayerNorm.weight"), w(e + "output.LayerNorm.weight")
    for name in (q, k, v):
        ref.block("embeddings.word_embeddings", name, s0[:, None] * w(name + ".weight").T)
    ref.block(v, at, w(e + "attention.output.dense.weight").T)
    ref.block("embeddings.word_embeddings", at, np.diag(s0))
    ref.block(at, mid, s1[:, None] * w(mid + ".weight").T)
    ref.block(mid, out, w(e + "output.dense.weight").T)
    ref.block(at, out, np.diag(s1))
    ref.block(out, "pooler.dense", s2[:, None] * w("pooler.dense.weight").T)
    ref.block(out, "output.scale", np.diag(s2))
    ref.check(g)
    params = [w(n) for n in (q + ".weight", k + ".weight", v + ".weight", e + "attention.output.dense.weight",
                             mid + ".weight", e + "output.dense.weight", "pooler.dense.weight")] + [s0, s1, s2]
    assert (g.n_nodes, g.n_edges) == counts(ref.sizes, params)


def test_hf_eager_and_sdpa_attention_give_one_graph():
    tf = _transformers()
    graphs = []
    for impl in ("eager", "sdpa"):
        torch.manual_seed(7)
        m = tf.BertForSequenceClassification(tf.BertConfig(
            vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=12,
            max_position_embeddings=16, num_labels=3, attn_implementation=impl))
        graphs.append(trace_module(m, torch.randint(0, 30, (2, 5)), embedding="one-hot"))
    a, b = graphs
    assert a.layer_names == b.layer_names and a.pairs == b.pairs and a.n_edges == b.n_edges
    assert a.layer_names[:2] == ("input", "bert.embeddings.word_embeddings") and a.sizes[0] == 30
    assert a.layer_names[-1] == "classifier"  # the logits: the first tensor of the output
    np.testing.assert_allclose(deepcnt.strength(a), deepcnt.strength(b), rtol=1e-6)


def test_hf_gpt2_against_explicit_graph():
    g, w, _ = traced_hf("gpt2")
    d = 8
    qkv = [f"h.0.attn.c_attn[{a}:{a + d}]" for a in (0, d, 2 * d)]
    ref = Ref()
    for name, n in [("wte", d)] + [(n, d) for n in qkv] + [("h.0.add", d), ("h.0.mlp.c_fc", 4 * d),
                                                          ("h.0.add_7", d), ("output.scale", d)]:
        ref.layer(name, n)
    Wa, s1, s2 = w("h.0.attn.c_attn.weight"), w("h.0.ln_1.weight"), w("h.0.ln_2.weight")
    for k, name in enumerate(qkv):  # Conv1D: weight (in, out), the packed projection split in three
        ref.block("wte", name, s1[:, None] * Wa[:, k * d:(k + 1) * d])
    ref.block(qkv[2], "h.0.add", w("h.0.attn.c_proj.weight"))
    ref.block("wte", "h.0.add", np.eye(d))  # pre-norm: the skip reads the stream before ln_1
    ref.block("h.0.add", "h.0.mlp.c_fc", s2[:, None] * w("h.0.mlp.c_fc.weight"))
    ref.block("h.0.mlp.c_fc", "h.0.add_7", w("h.0.mlp.c_proj.weight"))
    ref.block("h.0.add", "h.0.add_7", np.eye(d))
    ref.block("h.0.add_7", "output.scale", np.diag(w("ln_f.weight")))
    ref.check(g)
    assert (g.n_nodes, g.n_edges) == (d * 7 + 4 * d, 3 * 64 + 64 + 8 + 8 * 32 + 32 * 8 + 8 + 8)


def test_hf_vit_against_explicit_graph():
    g, w, names = traced_hf("vit")
    d, e = 8, "layers.0."
    proj = "embeddings.patch_embeddings.projection"
    q, k, v = (e + f"attention.{t}_proj" for t in "qkv")
    ref = Ref()
    for name, n in (("input", 3 * 4 * 4), (proj, d), (q, d), (k, d), (v, d), (e + "add", d), (e + "mlp.fc1", 12),
                    (e + "add_4", d), ("pooler.dense", d), ("output.scale", d)):
        ref.layer(name, n)
    sb = w(next(n for n in names if n.startswith(e) and "norm" in n.lower() and n.endswith("weight") and ("before" in n or "1" in n)))
    sa = w(next(n for n in names if n.startswith(e) and "norm" in n.lower() and n.endswith("weight") and ("after" in n or "2" in n)))
    sf = w(next(n for n in names if not n.startswith(e) and "norm" in n.lower() and n.endswith("weight")))
    ref.block("input", proj, w(proj + ".weight").reshape(d, -1).T)  # one patch's C·k·k pixels per token
    for name in (q, k, v):
        ref.block(proj, name, sb[:, None] * w(name + ".weight").T)
    o = next(n for n in names if n.startswith(e + "attention.") and n.endswith(".weight") and n not in
             {q + ".weight", k + ".weight", v + ".weight"})
    ref.block(v, e + "add", w(o).T)
    ref.block(proj, e + "add", np.eye(d))
    ref.block(e + "add", e + "mlp.fc1", sa[:, None] * w(e + "mlp.fc1.weight").T)
    ref.block(e + "mlp.fc1", e + "add_4", w(e + "mlp.fc2.weight").T)
    ref.block(e + "add", e + "add_4", np.eye(d))
    ref.block(e + "add_4", "pooler.dense", sf[:, None] * w("pooler.dense.weight").T)
    ref.block(e + "add_4", "output.scale", np.diag(sf))
    ref.check(g)


# ---------------------------------------------------------------------------------------------- eager attention (fx)
class EagerAttention(nn.Module):
    """Attention written as Hugging Face's eager modules do: heads by view/transpose, ``q @ kᵀ``, softmax, ``@ v``."""

    def __init__(self, d=6, heads=2):
        super().__init__()
        self.d, self.h = d, heads
        self.q, self.k, self.v, self.o = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.ln_w = nn.Parameter(torch.randn(d))

    def forward(self, x):
        B, L, d = x.size(0), x.size(1), self.d
        h = nn.functional.layer_norm(x, (d,), weight=self.ln_w)
        q, k, v = (f(h).view(B, L, self.h, d // self.h).transpose(1, 2) for f in (self.q, self.k, self.v))
        w = torch.softmax(q @ k.transpose(-1, -2) * (d // self.h) ** -0.5, dim=-1)
        ctx = (w @ v).transpose(1, 2).reshape(B, L, d)
        return x + self.o(ctx)


def test_eager_attention_traced_by_fx_against_explicit_graph():
    torch.manual_seed(4)
    d = 6
    model = EagerAttention(d)
    torch.fx.symbolic_trace(model)  # the fx path (call_module Linear, operator.matmul)
    g = trace_module(model, torch.randn(2, 3, d))
    s = np64(model.ln_w)
    ref = Ref()
    for name, n in (("input", d), ("q", d), ("k", d), ("v", d), ("add", d)):
        ref.layer(name, n)
    for name in "qkv":
        ref.block("input", name, s[:, None] * np64(getattr(model, name).weight).T)
    ref.block("v", "add", np64(model.o.weight).T)  # o merged into the sum
    ref.block("input", "add", np.eye(d))
    ref.check(g)
    value_only = trace_module(model, torch.randn(1, 3, d), attention="value")
    assert value_only.layer_names == ("input", "v", "add")


def test_tokens_option_reads_a_sequence_per_position():
    torch.manual_seed(5)
    mlp = nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 2))
    with pytest.raises(InputError, match=r"^Linear applied to a \(3, 4\) tensor at '0'.*tokens=True"):
        trace_module(mlp, torch.zeros(1, 3, 4))
    g = trace_module(mlp, torch.zeros(1, 3, 4), tokens=True)
    assert g.sizes == (4, 5, 2) and g.n_edges == 20 + 10


class Cumulative(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)
        self.mix = CumsumBlock()

    def forward(self, x):
        return self.mix(self.attn(x, x, x)[0])


class CumsumBlock(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, 1)


class Einsum(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.einsum("bld,ble->bde", self.fc(x), x)


class Masked(nn.Module):
    """A residual add of units multiplied by a per-position mask: no weight of the graph."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("mask", torch.tensor([1.0, 0.0, 2.0]).reshape(1, 3, 1))

    def forward(self, x):
        h = self.fc(x)
        return self.fc(h * self.mask + torch.softmax(x, -1))


@pytest.mark.parametrize("model, x, match", [
    (Einsum(), torch.zeros(1, 3, 4), r"^function torch\.functional\.einsum at the model's forward \(fx node 'einsum'\): "
     r"a product that is neither a weight"),
    (Masked(), torch.zeros(1, 3, 4), r"^function _operator\.add .*units scaled by a factor that varies by position"),
    (Cumulative(), torch.zeros(1, 3, 4),
     r"^function torch\.cumsum at 'mix' \(fx node 'cumsum'\): the traced graph maps .*anything else is not supported"),
    (nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4)), torch.zeros(1, 4), None),
])
def test_operations_outside_the_mapping_are_named_with_their_module_path(model, x, match):
    if match is None:  # LayerNorm folded into the Linear after it: no error, no extra layer
        g = trace_module(model, x)
        assert g.layer_names == ("input", "0", "2")
        return
    with pytest.raises(InputError, match=match) as info:
        trace_module(model, x, tokens=True)
    assert "\n" not in str(info.value)


def test_hf_models_keep_their_training_flags_and_attention_value_option():
    m, x = hf_model("gpt2", seed=1)
    m.train()
    g = trace_module(m, x, attention="value")
    assert m.training and all(mod.training for mod in m.modules())
    assert "h.0.attn.c_attn[0:8]" not in g.layer_names and "h.0.attn.c_attn[16:24]" in g.layer_names
    full = trace_module(m, x)
    assert full.n_nodes == g.n_nodes + 16 and full.n_edges == g.n_edges + 2 * 64


def test_from_module_passes_the_trace_options_and_points_to_example_input():
    from deepcnt.bindings.torch import from_module

    torch.manual_seed(6)
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(4, 1, 6, batch_first=True), 1, enable_nested_tensor=False)
    x = torch.randn(1, 3, 4)
    g = from_module(model, example_input=x, attention="value")
    assert g.n_edges == trace_module(model, x, attention="value").n_edges
    with pytest.raises(InputError, match=r"^TransformerEncoder's forward is not a chain of its layers in registration "
                       r"order \(torch\.fx cannot trace its forward and it holds 'layers\.0\.self_attn' "
                       r"\(MultiheadAttention\), which the registration order does not read\): pass example_input="):
        from_module(model)
    with pytest.raises(InputError, match=r"^layer '1' \(LayerNorm\) holds weights.*; pass example_input=<a batch of "
                       r"inputs> so that from_module traces the forward"):
        from_module(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)))
    with pytest.raises(InputError, match=r"^attention apply where the model is traced"):
        from_module(nn.Sequential(nn.Linear(2, 2)), attention="value")


def test_recorder_stores_a_transformer_from_token_ids(tmp_path):
    """A model that starts with an Embedding is traced on token ids (zeros of the sequence length, ``long``)."""
    from deepcnt.bindings.torch import Recorder

    m, _ = hf_model("gpt2", seed=2)
    with Recorder(tmp_path / "run", m, input_shape=(4,)) as rec:
        rec.save(0, loss=1.0)
        rec.save(1, loss=0.5)
    from deepcnt.runs.store import EpochStore

    store = EpochStore.open(tmp_path / "run")
    g = store.graph(1)
    ref = trace_module(m, torch.zeros(1, 4, dtype=torch.long))
    assert g.layer_names == ref.layer_names and g.n_edges == ref.n_edges
    np.testing.assert_allclose(deepcnt.strength(g), deepcnt.strength(ref), rtol=1e-5)


def test_hf_conv1d_traced_by_fx_is_a_transposed_linear():
    _transformers()
    from transformers.pytorch_utils import Conv1D

    torch.manual_seed(8)
    model = nn.Sequential(Conv1D(5, 4), nn.ReLU(), Conv1D(2, 5))
    torch.fx.symbolic_trace(model)  # fx follows Conv1D's forward: addmm(bias, x.view(-1, nx), weight)
    g = trace_module(model, torch.randn(3, 4))
    ref = Ref()
    for name, n in (("input", 4), ("0", 5), ("2", 2)):
        ref.layer(name, n)
    ref.block("input", "0", np64(model[0].weight))  # weight (in, out): no transpose
    ref.block("0", "2", np64(model[2].weight))
    ref.check(g)
    np.testing.assert_allclose(g.biases[0][0], np64(model[0].bias), rtol=1e-6)
