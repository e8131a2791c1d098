"""Motifs of layered graphs: exact counts of every class (signed, coloured), null models and z-scores,
intensity, per-node participation, degree-vector classes, Zambra's colours. ``metrics`` registers the family's
entries for ``analyze``.

The functions are exported flat, as ``deepcnt.<function>`` (``deepcnt.motifs`` is the counting function of
``deepcnt.motifs.counts``); ``deepcnt.motifs.<module>`` are the modules.
"""

from . import metrics  # noqa: F401  (registers the family's metrics)
