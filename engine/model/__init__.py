"""The model: a network's layers and weight blocks (dense, sparse, or implicit: a convolution, an identity skip, a
diagonal), thresholds, devices, exports. Imports no metric: every family builds on it."""
from .blocks import ImplicitBlock
from .conv import ConvBlock, PoolBlock, channel_graph
from .diagonal import DiagonalBlock, IdentityBlock
from .graph import LayeredGraph
from .sparse import SparseBlock
from .sums import NodeSums, block_pass, node_sums

__all__ = ["ConvBlock", "DiagonalBlock", "IdentityBlock", "ImplicitBlock", "LayeredGraph", "NodeSums", "PoolBlock",
           "SparseBlock", "block_pass", "channel_graph", "node_sums"]
