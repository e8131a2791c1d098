"""The motif family's entries in the metric registry (what ``analyze`` computes per epoch)."""
import numpy as np

from ..registry import register
from . import classes as mc
from .counts import motifs
from .degree import DEGREE_SHAPES, degree_motifs
from .null import motif_significance

_SIGNED_NAMES = [mc.class_name(s, c, "+-") for s in mc.SHAPES_3 + mc.SHAPES_4 for c in mc.classes(s, 2)]
#: Monte Carlo draws of the pipeline's ``motif_z`` entry (per epoch; ``motif_significance`` takes any number).
PIPELINE_DRAWS = 20


_DAG_SHAPES = mc.SHAPES_3 + mc.SHAPES_4 + ("ffl",) + mc.SHAPES_4_DAG_ONLY


@register("motifs", "epoch", [f"motif_{s}" for s in _DAG_SHAPES] + ["motif_total3", "motif_total4"],
          "exact counts of the connected 3- and 4-node motif classes (13 on a chain; on a block DAG also the "
          "feed-forward loop and the 14 four-node classes that need a skip block, zero on a chain) and the "
          "connected-subgraph totals", needs_edges=True, skips=True, expands=True)
def _motif_columns(g):
    res = motifs(g, per_block=False)
    zero = res["chain3"] * 0
    out = {f"motif_{s}": res.counts.get(s, zero) for s in _DAG_SHAPES}
    out["motif_total3"], out["motif_total4"] = res.total(3), res.total(4)
    return out


#: Sign classes of a block DAG's census: 419 (the 28 classes' sign variants; 79 of them occur on a chain).
N_SIGNED_DAG = sum(len(mc.classes(s, 2)) for s in mc.SHAPES_3_DAG + mc.SHAPES_4_DAG)


# Chain only: on a block DAG the sign variants of the 15 shapes that need a skip would add 340 columns that are
# zero on every chain (and to every signed-motif figure); the analysis of a DAG run leaves it out of its
# default set and the API counts them.
@register("motifs_signed", "epoch", [f"motif_{n}" for n in _SIGNED_NAMES],
          f"exact counts of every sign variant of the 13 layered motif classes ({len(_SIGNED_NAMES)} columns); "
          f"chain only: the {N_SIGNED_DAG} sign classes of a block DAG are counted by "
          "deepcnt.motifs(g, signed=True)", needs_edges=True, expands=True,
          instead=f"Its {N_SIGNED_DAG} sign classes of a block DAG are counted by deepcnt.motifs(g, signed=True); "
                  "the motifs and motif_z columns work on it")
def _motif_signed_columns(g):
    res = motifs(g, signed=True, per_block=False)
    return {f"motif_{n}": res[n] for n in res.classes}


@register("motif_z", "epoch", [f"motifz_{s}" for s in _DAG_SHAPES],
          "z-score of every motif class under the within-block permutation null: exact expectation, sd from "
          f"{PIPELINE_DRAWS} Monte Carlo draws (seeded per epoch); NaN where the spread is zero (on a chain the "
          "feed-forward loop and the 14 four-node classes that need a skip block cannot occur, so their z is NaN)",
          default=False, needs_edges=True, skips=True, expands=True)
def _motif_z_columns(g):
    # epoch by epoch, each with seed 0: an epoch's z does not depend on its place in the stack analyze gives
    graphs = [g.epoch(t) for t in range(g.n_epochs)] if g.stacked else [g]
    zs = [motif_significance(h, null="permutation", draws=PIPELINE_DRAWS, seed=0, size=4).z for h in graphs]
    out = {}
    for s in _DAG_SHAPES:
        v = np.array([z.get(s, np.nan) for z in zs], dtype=np.float64)  # size=4 holds the 3-node classes too
        out[f"motifz_{s}"] = v if g.stacked else v[0]
    return out


@register("degree_motifs", "epoch", [f"motif_{s}" for s in DEGREE_SHAPES],
          "chain3, fans, stars, Ys and chain4 from degree vectors (any block, convolutions included)",
          default=False)
def _degree_motif_columns(g):
    m = degree_motifs(g, per_block=False)
    return {f"motif_{s}": m.counts[s] for s in DEGREE_SHAPES}
