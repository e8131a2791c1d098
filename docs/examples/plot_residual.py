"""
A residual network as a block graph
===================================

A small ResNet, built the way torchvision builds its ``BasicBlock`` (two 3×3 convolutions with BatchNorm, an
identity or 1×1 projection shortcut), traced through its real forward. The BatchNorm layers are folded into
the convolutions before them; each residual add becomes a layer fed by two blocks, one of them the skip (an
identity block of weight 1, or the projection's convolution). The unrolled graph is never built: convolutions
stay implicit blocks.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

import deepcnt
from deepcnt.bindings.torch import from_module


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.down is None else self.down(x)))


torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), BasicBlock(8, 8), BasicBlock(8, 16, stride=2),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
g = from_module(model, example_input=torch.randn(1, 1, 16, 16))
print(f"{len(g.sizes)} layers, {g.n_nodes} units, {g.n_edges} edges in {len(g.blocks)} blocks")
for (i, j), b in zip(g.pairs, g.blocks):
    print(f"  {g.layer_names[i]:>12} -> {g.layer_names[j]:<12} {type(b).__name__}")

# %%
# Degree and strength of every unit, layer by layer (the skip blocks count like any other edge):
h = g.threshold(0.2, mode="proportional")  # keep the strongest 20% of the edges
k, s = deepcnt.degree(h), deepcnt.strength(h)
fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
for l in range(len(g.sizes)):
    sl = g.layer_slice(l)
    ax[0].scatter(np.full(sl.stop - sl.start, l), k[sl], s=4, alpha=0.4)
    ax[1].scatter(np.full(sl.stop - sl.start, l), s[sl], s=4, alpha=0.4)
ax[0].set(xlabel="layer", ylabel="degree k", title="degree per unit")
ax[1].set(xlabel="layer", ylabel="strength s (net)", title="strength per unit")
fig.tight_layout()
