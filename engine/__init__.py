"""deepcnt: complex-network metrics of deep neural networks, for every saved epoch, on CPU and GPU.

The public API is flat::

    import deepcnt
    g = deepcnt.LayeredGraph.from_weights([W1, W2, W3]).threshold(0.1)
    k = deepcnt.degree(g, sign="positive")
"""
from . import config
from .activity import activity_pca, pca
from .backend import Backend, get_backend, gpu_available
from .colors import zambra_bins, zambra_colors
from .communities import louvain, modularity
from .consensus import agreement, consensus, consensus_partitions, consensus_und
from .conv import ConvBlock, PoolBlock, channel_graph
from .degree_motifs import degree_motifs
from .distributions import (edge_change, group_kl, kde, strength_histograms, symmetric_kl, weight_histograms,
                            weight_moments)
from .errors import DeepcntError, DeviceError, InputError, UnknownMetricError
from .graph import LayeredGraph
from .information import binary_information, node_information, pixel_information, shuffle_null
from .knn import knn
from .lamalfa import layers_fluctuation, nodes_strength
from .motif_intensity import motif_intensity
from .motif_null import MotifSignificance, motif_significance, most_significant
from .motif_participation import motif_participation
from .motifs import MotifCounts, motifs
from .pipeline import Analysis, analyze
from .receptive import dead_units, receptive_fields, rf_distributions
from .registry import REGISTRY, get_metric, metric_names, register
from .rfclusters import cluster_receptive_fields, cluster_statistics, receptive_field_clusters
from .roles import cartography, module_zscore, node_roles, participation
from .stats import pearson_permutation
from .store import EpochStore
from .strength import degree, node_sums, strength
from .transport import emd_matrix, rf_emd_matrix, sinkhorn_pairs, validate_against_exact
from . import community_metrics, core_metrics  # noqa: F401  (register their families)

__version__ = "0.1.0"

__all__ = [
    "Analysis", "Backend", "ConvBlock", "DeepcntError", "DeviceError", "EpochStore", "InputError", "LayeredGraph",
    "MotifCounts", "MotifSignificance", "PoolBlock", "REGISTRY", "UnknownMetricError", "activity_pca", "agreement",
    "analyze", "binary_information", "cartography", "channel_graph", "cluster_receptive_fields",
    "cluster_statistics", "config", "consensus", "consensus_partitions", "consensus_und", "dead_units", "degree",
    "degree_motifs", "edge_change", "emd_matrix", "get_backend", "get_metric", "gpu_available", "group_kl", "kde",
    "knn", "layers_fluctuation", "louvain", "metric_names", "modularity", "module_zscore", "motif_intensity",
    "motif_participation", "motif_significance", "motifs", "most_significant", "node_information", "node_roles",
    "node_sums", "nodes_strength", "participation", "pca", "pearson_permutation", "pixel_information",
    "receptive_field_clusters", "receptive_fields", "register", "rf_distributions", "rf_emd_matrix",
    "shuffle_null", "sinkhorn_pairs", "strength", "strength_histograms", "symmetric_kl", "validate_against_exact",
    "weight_histograms", "weight_moments", "zambra_bins", "zambra_colors",
]
