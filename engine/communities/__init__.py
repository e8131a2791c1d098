"""Communities and node roles: signed modularity, Louvain, consensus, participation, within-module z-score,
roles and cartography. ``metrics`` registers the family's entries for ``analyze``.

The functions are exported flat, as ``deepcnt.<function>``; ``deepcnt.communities.<module>`` are the modules.
"""

from . import metrics  # noqa: F401  (registers the family's metrics)
