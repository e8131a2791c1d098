"""deepcnt: complex-network metrics of deep neural networks, for every saved epoch, on CPU and GPU.

The public API is flat::

    import deepcnt
    g = deepcnt.LayeredGraph.from_weights([W1, W2, W3]).threshold(0.1)
    k = deepcnt.degree(g, sign="positive")
"""
from . import config
from .backend import Backend, get_backend, gpu_available
from .colors import zambra_bins, zambra_colors
from .communities import louvain, modularity
from .consensus import agreement, consensus, consensus_partitions, consensus_und
from .conv import ConvBlock, PoolBlock, channel_graph
from .degree_motifs import degree_motifs
from .errors import DeepcntError, DeviceError, InputError, UnknownMetricError
from .graph import LayeredGraph
from .knn import knn
from .lamalfa import layers_fluctuation, nodes_strength
from .motif_intensity import motif_intensity
from .motif_null import MotifSignificance, motif_significance, most_significant
from .motif_participation import motif_participation
from .motifs import MotifCounts, motifs
from .pipeline import Analysis, analyze
from .registry import REGISTRY, get_metric, metric_names, register
from .roles import cartography, module_zscore, node_roles, participation
from .store import EpochStore
from .strength import degree, node_sums, strength
from . import community_metrics, core_metrics  # noqa: F401  (register their families)

__version__ = "0.1.0"

__all__ = [
    "Analysis", "Backend", "ConvBlock", "DeepcntError", "DeviceError", "EpochStore", "InputError", "LayeredGraph",
    "MotifCounts", "MotifSignificance", "PoolBlock", "REGISTRY", "UnknownMetricError", "agreement", "analyze",
    "cartography", "channel_graph", "config", "consensus", "consensus_partitions", "consensus_und", "degree",
    "degree_motifs", "get_backend", "get_metric", "gpu_available", "knn", "layers_fluctuation", "louvain",
    "metric_names", "modularity", "module_zscore", "motif_intensity", "motif_participation", "motif_significance",
    "motifs", "most_significant", "node_roles", "node_sums", "nodes_strength", "participation", "register",
    "strength", "zambra_bins", "zambra_colors",
]
