"""Degree, strength, nearest-neighbour degree, La Malfa's node strength and layer fluctuation, weight and
strength distributions. ``metrics`` registers the family's entries for ``analyze``."""
from . import metrics  # noqa: F401  (registers the family)
from .distributions import (
                            edge_change,
                            group_kl,
                            kde,
                            strength_histograms,
                            symmetric_kl,
                            weight_histograms,
                            weight_moments,
)
from .knn import knn
from .lamalfa import layers_fluctuation, nodes_strength
from .strength import degree, node_sums, strength

__all__ = ["degree", "edge_change", "group_kl", "kde", "knn", "layers_fluctuation", "node_sums", "nodes_strength",
           "strength", "strength_histograms", "symmetric_kl", "weight_histograms", "weight_moments"]
