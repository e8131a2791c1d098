"""Edge colour schemes for coloured motif counts: the 3-colour scheme of Zambra, Maritan & Testolin.

A Gaussian is fitted to the weights pooled over every block (and every graph / epoch given, as the authors
pooled the initial and trained models of one initialisation scheme). The "negligible" weights, where the fitted
pdf is at least ``c·max(pdf)``, are excluded; each tail is split at ``1/5`` of the way from the band edge to
``1.1·min(w)`` (``1.1·max(w)``). Colours: 1 strong negative, 2 mild (either sign), 3 strong positive, 0 excluded.

On a block DAG the fit pools the learnt weights of every block (:meth:`LayeredGraph.learnt_weights`: dense
entries, the stored entries of sparse blocks, the diagonals of diagonal blocks; identity skips have none), and
every block, identities included, gets the colours of its slots.
"""
import numpy as np

from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.graph import LayeredGraph, takes_graph

STRONG_NEGATIVE, MILD, STRONG_POSITIVE = 1, 2, 3


def _pool(graphs):
    if isinstance(graphs, LayeredGraph):
        graphs = [graphs]
    parts = []
    for g in graphs:
        if isinstance(g, LayeredGraph):
            for l in range(g.n_blocks):
                lw = g.learnt_weights(l, "the Zambra colour scheme")
                if lw is not None:
                    v = g.backend.to_numpy(lw[0])
                    parts.append((v if lw[1] is None else v[g.backend.to_numpy(lw[1])]).ravel())
        else:
            parts.append(np.asarray(g, dtype=float).ravel())
    w = np.concatenate(parts).astype(np.float64) if parts else np.empty(0)
    if w.size < 2:
        raise InputError("the Zambra colour scheme needs at least two weights to fit a Gaussian")
    return w


def _slot_weights(g, l):
    """Every slot's weight of block ``l`` as a dense (T, n_i, n_j) stack on the graph's device (a sparse,
    identity or diagonal block expanded, missing entries 0; every weight, whatever the threshold)."""
    b = g.blocks[l]
    xp = g.backend.xp
    if not isinstance(b, ImplicitBlock):
        return b.astype(xp.float64)
    return xp.asarray(np.stack([g.operator(l, t, "the Zambra colour scheme").toarray() for t in range(b.shape[0])]))


def zambra_bins(graphs, exclusion_cutoff=0.55, tail_fraction=0.2, stretch=1.1):
    """Bin edges of the Zambra et al. scheme, fitted on the pooled weights.

    .. math:: |w - μ| \\le σ \\sqrt{2 \\ln(1/c)} \\ \\text{excluded}; \\quad
              e_{\\pm} = b_{\\pm} + f\\,(s\\,w_{\\max/\\min} - b_{\\pm})

    Parameters
    ----------
    graphs : LayeredGraph, array, or a sequence of them
        Every weight of every block (and epoch) is pooled.
    exclusion_cutoff : float in (0, 1)
        ``c``: 0.55 for the synthetic data sets, 0.1 for MNIST in the paper.
    tail_fraction : float in (0, 1)
        Where each tail is split between mild and strong (1/5 in the authors' code).
    stretch : float ≥ 1
        The outer edges are ``stretch·min(w)`` and ``stretch·max(w)``.

    Returns
    -------
    ndarray, shape (6,)
        ``[outer_neg, split_neg, band_lo, band_hi, split_pos, outer_pos]``.
    """
    if not 0.0 < exclusion_cutoff < 1.0:
        raise InputError(f"exclusion_cutoff must be in (0, 1), got {exclusion_cutoff!r}")
    if not 0.0 < tail_fraction < 1.0:
        raise InputError(f"tail_fraction must be in (0, 1), got {tail_fraction!r}")
    if not stretch >= 1.0:
        raise InputError(f"stretch must be >= 1, got {stretch!r}")
    w = _pool(graphs)
    mu, sigma = float(w.mean()), float(w.std())
    half = sigma * np.sqrt(2.0 * np.log(1.0 / exclusion_cutoff))
    lo, hi = mu - half, mu + half
    wmin, wmax = float(w.min()), float(w.max())
    outer_neg = wmin + (stretch - 1.0) * wmin
    outer_pos = wmax + (stretch - 1.0) * wmax
    split_neg = lo + tail_fraction * (outer_neg - lo)
    split_pos = hi + tail_fraction * (outer_pos - hi)
    e = np.array([outer_neg, split_neg, lo, hi, split_pos, outer_pos])
    if np.any(np.diff(e) < 0):
        raise InputError(
            "the weights do not reach both sides of the excluded band (no negative or no positive tail): "
            "the Zambra scheme needs weights of both signs"
        )
    return e


@takes_graph(skips=True)
def zambra_colors(g, bins=None, **fit):
    """The 3-colour code of every slot of every block of ``g`` (pass it as ``motifs(g, colors=...)``).

    Parameters
    ----------
    g : LayeredGraph (a chain or a block DAG; sparse, identity and diagonal blocks are coloured by the weight
        of each slot, 0 where a sparse block stores nothing)
    bins : array, shape (6,), optional
        From :func:`zambra_bins` (e.g. fitted on the initial and trained graphs together); default: fitted
        on ``g`` alone with ``**fit`` (``exclusion_cutoff``, ``tail_fraction``, ``stretch``).

    Returns
    -------
    list of int8 arrays, one per block in the order of ``g.pairs``, shape (n_i, n_j) or (T, n_i, n_j)
        1 strong negative ``[e0, e1)``, 2 mild ``[e1, e2) ∪ [e3, e4)``, 3 strong positive ``[e4, e5)``,
        0 excluded ``[e2, e3)``.

    Raises
    ------
    InputError
        Bad ``bins``; a convolution or pooling block (no explicit slots).
    """
    e = zambra_bins(g, **fit) if bins is None else np.asarray(bins, dtype=float)
    if e.shape != (6,) or np.any(np.diff(e) < 0):
        raise InputError("bins must be the 6 increasing edges returned by zambra_bins")
    xp = g.backend.xp
    out = []
    for l in range(g.n_blocks):
        Wd = _slot_weights(g, l)
        c = xp.zeros(Wd.shape, dtype=xp.int8)
        c[(Wd >= e[0]) & (Wd < e[1])] = STRONG_NEGATIVE
        c[((Wd >= e[1]) & (Wd < e[2])) | ((Wd >= e[3]) & (Wd < e[4]))] = MILD
        c[(Wd >= e[4]) & (Wd < e[5])] = STRONG_POSITIVE
        out.append(c if g.stacked else c[0])
    return out
