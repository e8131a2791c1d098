"""
A transformer as the graph of one token's features
==================================================

``torch.nn.TransformerEncoder`` traced through its forward. Attention mixes tokens but acts on every feature
channel alike, so the graph is that of one token's features: the value and output projections lie on the
path, the query and key projections are blocks into node sets of their own (their weights count in every
metric), LayerNorm is folded into the blocks that read it, and each residual add is a layer with an identity
skip block. ``trace_module``'s documentation gives the definition and its options.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import deepcnt
from deepcnt.bindings.torch import from_module

torch.manual_seed(0)
layer = nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
model = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
g = from_module(model, example_input=torch.randn(1, 5, 32))
print(f"{len(g.sizes)} node sets, {g.n_nodes} units, {g.n_edges} edges in {len(g.blocks)} blocks")
for (i, j), b in zip(g.pairs, g.blocks):
    print(f"  {g.layer_names[i]:>28} -> {g.layer_names[j]:<28} {type(b).__name__}")

# %%
# Strength of every unit, and the modules Louvain finds on the strongest 10% of the edges:
h = g.threshold(0.1, mode="proportional")
s = deepcnt.strength(h, sign="abs")
labels, q = deepcnt.louvain(h)
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
for l in range(len(g.sizes)):
    sl = g.layer_slice(l)
    ax[0].scatter(np.full(sl.stop - sl.start, l), s[sl], s=4, alpha=0.5)
ax[0].set(xlabel="node set", ylabel="strength |w|", title="strength per unit")
ax[1].scatter(np.arange(g.n_nodes), labels, s=3, c=labels, cmap="tab20")
ax[1].set(xlabel="unit (node order)", ylabel="module", title=f"Louvain modules, Q = {q:.3f}")
fig.tight_layout()
