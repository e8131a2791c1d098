"""Motifs of layered graphs: exact counts of every class (signed, coloured), null models and z-scores,
intensity, per-node participation, degree-vector classes, Zambra's colours. ``metrics`` registers the family's
entries for ``analyze``.

In the flat API ``deepcnt.motifs`` is the counting function; its module is ``deepcnt.motifs.counts``.
"""
from . import metrics  # noqa: F401  (registers the family)
from .colors import zambra_bins, zambra_colors
from .counts import MotifCounts, motifs
from .degree import degree_motifs
from .intensity import motif_intensity
from .null import MotifSignificance, most_significant, motif_significance
from .participation import motif_participation

__all__ = ["MotifCounts", "MotifSignificance", "degree_motifs", "motif_intensity", "motif_participation",
           "motif_significance", "motifs", "most_significant", "zambra_bins", "zambra_colors"]
