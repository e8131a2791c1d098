"""The network as a function of its input: receptive fields and their transport distances and clusters,
mutual information with the class, activity, permutation statistics."""
from .activity import activity_pca, pca
from .information import binary_information, node_information, pixel_information, shuffle_null
from .receptive import dead_units, receptive_fields, rf_distributions
from .rfclusters import cluster_receptive_fields, cluster_statistics, receptive_field_clusters
from .stats import pearson_permutation
from .transport import emd_matrix, rf_emd_matrix, sinkhorn_pairs, validate_against_exact

__all__ = ["activity_pca", "binary_information", "cluster_receptive_fields", "cluster_statistics", "dead_units",
           "emd_matrix", "node_information", "pca", "pearson_permutation", "pixel_information",
           "receptive_field_clusters", "receptive_fields", "rf_distributions", "rf_emd_matrix", "shuffle_null",
           "sinkhorn_pairs", "validate_against_exact"]
