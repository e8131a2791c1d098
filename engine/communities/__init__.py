"""Communities and node roles: signed modularity, Louvain, consensus, participation, within-module z-score,
roles and cartography. ``metrics`` registers the family's entries for ``analyze``."""
from . import metrics  # noqa: F401  (registers the family)
from .consensus import agreement, consensus, consensus_partitions, consensus_und
from .modularity import louvain, modularity
from .roles import cartography, module_zscore, node_roles, participation

__all__ = ["agreement", "cartography", "consensus", "consensus_partitions", "consensus_und", "louvain",
           "modularity", "module_zscore", "node_roles", "participation"]
