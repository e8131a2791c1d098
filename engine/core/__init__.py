"""Degree, strength, nearest-neighbour degree, La Malfa's node strength and layer fluctuation, weight and
strength distributions. ``metrics`` registers the family's entries for ``analyze``.

The functions are exported flat, as ``deepcnt.<function>``; ``deepcnt.core.<module>`` are the modules.
"""

from . import metrics  # noqa: F401  (registers the family's metrics)
