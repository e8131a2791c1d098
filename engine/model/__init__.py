"""The model: a network's layers and weight blocks (dense, or implicit like a convolution), thresholds, devices,
exports. Imports no metric: every family builds on it."""
from .blocks import ImplicitBlock
from .conv import ConvBlock, PoolBlock, channel_graph
from .graph import LayeredGraph
from .sums import NodeSums, block_pass, node_sums

__all__ = ["ConvBlock", "ImplicitBlock", "LayeredGraph", "NodeSums", "PoolBlock", "block_pass", "channel_graph",
           "node_sums"]
