"""Motif significance under layered null models: exact expectations, Monte Carlo spread, z, p, profile.

Nulls (each block randomised independently, so the layer structure is kept):

* ``"permutation"`` (N1): the slots of each block permuted; ``m_l`` and every colour count ``m^c_l`` kept.
  Expectations are exact: ``q_l(r⃗, s) = Π_c (m^c)_{r_c} (m^0)_s / (N_l)_{r+s}`` (falling factorials).
* ``"bernoulli"`` (N2): each slot independently colour ``c`` with ``p_c = m^c_l / N_l``; ``q = Π_c p_c^{r_c} p_0^s``.
* ``"degree"`` (N3): colour-preserving edge swaps inside each block (every node keeps its in/out degree of
  every colour). No closed form: the expectation is the Monte Carlo mean. Stars, fans, chain3 and the Ys are
  invariant, so their z is undefined (NaN, with the reason).

``E[class] = Σ_p U_shape(p) · |orbit| · Π_blocks q`` where ``U`` counts the uncoloured placements at lowest
layer ``p`` and ``|orbit|`` the slot colourings of the class. The spread always comes from the draws, which are
processed as a batch (the draws are the epoch axis of the same counting kernels).
"""
from dataclasses import dataclass, field
from typing import Dict, Tuple

import numpy as np

from .. import config
from ..backend import to_host
from ..errors import InputError, check_choice
from ..model.graph import takes_graph
from . import classes as mc
from .counts import _package, count_codes, edge_code_blocks

NULLS = ("permutation", "bernoulli", "degree")


@dataclass
class MotifSignificance:
    """Significance of every motif class against a null model.

    Every dict maps a class name to a float64 scalar (or an array of shape (T,) for an epoch stack).

    Attributes
    ----------
    classes : tuple of str
    null : str
    draws : int
    observed, expected, mc_mean, sd, z, p : dict
        ``expected`` is exact for the permutation and Bernoulli nulls and the Monte Carlo mean for the
        degree null. ``z = (observed − expected) / sd``; ``p`` = fraction of draws with count ≥ observed.
    profile : dict
        Significance profile ``z / ‖z‖`` over the classes of one size with a defined z (Milo et al. 2004).
    reason : dict
        Why a z is NaN (classes with a defined z are absent).
    concentration, mc_concentration_mean, mc_concentration_sd : dict or None
        FANMOD-style concentrations (%), when asked for.
    """

    classes: Tuple[str, ...]
    null: str
    draws: int
    observed: Dict[str, np.ndarray]
    expected: Dict[str, np.ndarray]
    mc_mean: Dict[str, np.ndarray]
    sd: Dict[str, np.ndarray]
    z: Dict[str, np.ndarray]
    p: Dict[str, np.ndarray]
    profile: Dict[str, np.ndarray]
    reason: Dict[str, str] = field(default_factory=dict)
    concentration: Dict[str, np.ndarray] = None
    mc_concentration_mean: Dict[str, np.ndarray] = None
    mc_concentration_sd: Dict[str, np.ndarray] = None

    def to_frame(self):
        """A pandas table: one row per class (and epoch) with observed, expected, mc_mean, sd, z, p, profile."""
        import pandas as pd

        cols = ("observed", "expected", "mc_mean", "sd", "z", "p", "profile")
        rows = []
        for name in self.classes:
            vals = {c: np.atleast_1d(getattr(self, c)[name]) for c in cols}
            stacked = np.ndim(self.observed[name]) > 0
            for t in range(vals["z"].shape[0]):
                row = {"class": name, "shape": name.split("[", 1)[0]}
                if stacked:
                    row["epoch"] = t
                row.update({c: float(vals[c][t]) for c in cols})
                row["reason"] = self.reason.get(name, "")
                rows.append(row)
        return pd.DataFrame(rows)


def _falling(x, r):
    out = 1.0
    for i in range(r):
        out *= x - i
    return out


def expected_counts(sizes, m, k, null, shapes):
    """Exact expectations of every class under N1 or N2 for one epoch.

    Parameters
    ----------
    sizes : sequence of int, the layer sizes
    m : array, shape (L, k + 1): ``m[l, c]`` slots of colour ``c`` in block ``l`` (``c = 0``: no edge)
    k : int
    null : {"permutation", "bernoulli"}
    shapes : sequence of shape names

    Returns
    -------
    dict {(shape, colours): float}
    """
    L = len(sizes) - 1
    out = {}
    for s in shapes:
        sh = mc.SHAPES[s]
        for cols in mc.classes(s, k):
            orbit = mc.orbit_size(s, cols)
            tot = 0.0
            for p in range(L - sh.span + 1):
                prob = 1.0
                for b in range(sh.span):
                    l = p + b
                    N = sizes[l] * sizes[l + 1]
                    r = [sum(1 for c, off in zip(cols, sh.blocks) if off == b and c == cc) for cc in range(1, k + 1)]
                    z = sum(1 for off in sh.nonedges if off == b)
                    if null == "permutation":
                        num = np.prod([_falling(m[l, c + 1], r[c]) for c in range(k)]) * _falling(m[l, 0], z)
                        prob *= num / _falling(N, sum(r) + z) if N >= sum(r) + z else 0.0
                    else:
                        prob *= np.prod([(m[l, c + 1] / N) ** r[c] for c in range(k)]) * (m[l, 0] / N) ** z
                tot += sh.placements(sizes, p) * orbit * prob
            out[(s, cols)] = tot
    return out


def _dag_expected(sizes, pairs, m, k, null, size):
    """Exact expectations of every class of a block DAG's ``size`` census (3: four shapes; 4: 28 shapes)."""
    from .dag import dag_expected3

    out = dag_expected3(sizes, pairs, m, k, null)
    if size == 4:
        from .dag4 import dag_expected4

        out.update(dag_expected4(sizes, pairs, m, k, null))
    return out


def _draw_counts(codes_t, k, shapes, null, draws, seed, swaps_per_edge, kern, xp, counter=None):
    """Counts of every class in ``draws`` null draws of one epoch: {(shape, cols): int64 (R,)}.

    ``counter(codes)``: the census of a list of code stacks (default: the chain census ``count_codes``)."""
    slots = sum(int(c.size) for c in codes_t)
    batch = max(1, min(draws, int(config.MOTIF_MASK_BUDGET // max(1, (4 * k + 1) * slots))))
    # one seed per (block, draw): the draws do not depend on how they are batched
    seeds = np.random.SeedSequence(seed).generate_state(len(codes_t) * draws).reshape(len(codes_t), draws)
    out = {}
    for r0 in range(0, draws, batch):
        R = min(batch, draws - r0)
        drawn = []
        for l, c in enumerate(codes_t):
            d = xp.empty((R,) + tuple(c.shape), dtype=xp.int8)
            if null == "bernoulli":
                cnt = np.bincount(np.asarray(to_host(c)).ravel(), minlength=k + 1)[: k + 1]
            for i in range(R):
                sd = int(seeds[l, r0 + i])
                if null == "permutation":
                    kern.permute_codes(c, sd, d[i:i + 1])
                elif null == "bernoulli":
                    kern.bernoulli_codes(cnt / c.size, sd, d[i:i + 1])
                else:
                    kern.swap_codes(c, swaps_per_edge, sd, d[i:i + 1])
            drawn.append(d)
        part = count_codes(drawn, k, shapes, kern, xp) if counter is None else counter(drawn)
        for key, v in part.items():
            out.setdefault(key, []).append(v.sum(axis=1))
    return {key: np.concatenate(v) for key, v in out.items()}



@takes_graph(skips=True)
def motif_significance(g, null="permutation", draws=100, seed=0, size=4, signed=False, colors=None,
                       n_colors=None, swaps_per_edge=3, concentrations=False):
    """z-scores, empirical p-values and the significance profile of every motif class.

    .. math:: Z = \\frac{N_{real} - E_{null}[N]}{σ_{MC}}, \\qquad SP_i = Z_i / \\sqrt{\\textstyle\\sum_j Z_j^2},
              \\qquad p = \\frac{\\#\\{N_{rand} \\ge N_{real}\\}}{R}

    Parameters
    ----------
    g : LayeredGraph
    null : {"permutation", "bernoulli", "degree"}
    draws : int ≥ 2
        Monte Carlo draws (processed in batches through the counting kernels).
    seed : int
    size, signed, colors, n_colors
        As in :func:`deepcnt.motifs.counts.motifs`.
    swaps_per_edge : int
        Attempted swaps per edge and draw for the degree null.
    concentrations : bool
        Also report FANMOD-style concentrations (% of the connected subgraphs of the class's size).

    Returns
    -------
    MotifSignificance

    Raises
    ------
    InputError
        Unknown null, fewer than 2 draws, and every error of ``motifs``.

    Notes
    -----
    On a block DAG the classes are those of :func:`deepcnt.motifs.dag.dag_census3` (feed-forward loop
    included) and, for ``size=4``, the 24 four-node classes of :func:`deepcnt.motifs.dag4.dag_census4`; the
    exact expectations are :func:`deepcnt.motifs.dag.dag_expected3` and :func:`deepcnt.motifs.dag4.dag_expected4`
    (each block randomised independently, so the layer pairs of the blocks are kept).
    """
    check_choice("null model", null, NULLS)
    if not isinstance(draws, (int, np.integer)) or draws < 2:
        raise InputError(f"draws must be an integer >= 2 (the spread needs two draws), got {draws!r}")
    if not isinstance(swaps_per_edge, (int, np.integer)) or swaps_per_edge < 1:
        raise InputError(f"swaps_per_edge must be a positive integer, got {swaps_per_edge!r}")
    shapes = mc.shapes_for_size(size)
    dag = not g.is_chain
    codes, k = edge_code_blocks(g, signed=signed, colors=colors, n_colors=n_colors)
    be = g.backend
    xp, kern = be.xp, be.kernel("motifs")
    symbols = mc.symbols_for(k, signed, colors is not None)
    counter = None
    if dag:
        from .counts import dag_census

        shapes = mc.SHAPES_3_DAG + (mc.SHAPES_4_DAG if size == 4 else ())

        def counter(c):
            return dag_census(g, c, k, size)[0]

    obs_raw = count_codes(codes, k, shapes, kern, xp) if counter is None else counter(codes)
    keys = [(s, c) for s in shapes for c in mc.classes(s, k)]
    names = [mc.class_name(s, c, symbols) for s, c in keys]
    T = codes[0].shape[0]
    C = len(keys)
    obs = np.array([[obs_raw[key][t].sum() for key in keys] for t in range(T)], dtype=np.float64)
    exp_, mean, sd, pval = (np.full((T, C), np.nan) for _ in range(4))
    conc_mean = np.full((T, C), np.nan)
    conc_sd = np.full((T, C), np.nan)
    sizes = g.sizes
    size_of = np.array([mc.SHAPES[s].size for s, _ in keys])
    for t in range(T):
        codes_t = [c[t] for c in codes]
        rand = _draw_counts(codes_t, k, shapes, null, int(draws), [seed, t], swaps_per_edge, kern, xp, counter)
        R = np.stack([rand[key] for key in keys], axis=1).astype(np.float64)  # (draws, C)
        mean[t] = R.mean(axis=0)
        sd[t] = R.std(axis=0, ddof=1)
        pval[t] = (R >= obs[t][None]).mean(axis=0)
        if null == "degree":
            exp_[t] = mean[t]
        else:
            m = np.array([np.bincount(to_host(c).ravel(), minlength=k + 1)[: k + 1] for c in codes_t], dtype=float)
            e = _dag_expected(sizes, g.pairs, m, k, null, size) if dag else expected_counts(sizes, m, k, null, shapes)
            exp_[t] = [e[key] for key in keys]
        if concentrations:
            tot = np.stack([R[:, size_of == sz].sum(axis=1) for sz in size_of], axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                cr = 100.0 * R / tot
            conc_mean[t] = cr.mean(axis=0)
            conc_sd[t] = cr.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(sd > 0, (obs - exp_) / np.where(sd > 0, sd, 1.0), np.nan)
    reason = {}
    for j, name in enumerate(names):
        if np.any(~(sd[:, j] > 0)):
            reason[name] = ("zero spread: the count is the same in every draw (invariant under this null"
                            + (", e.g. degree-preserving swaps keep every star, fan, chain3 and Y count)"
                               if null == "degree" else ")"))
    prof = np.full((T, C), np.nan)
    for sz in (3, 4):
        sel = size_of == sz
        if sel.any():
            zz = np.where(np.isfinite(z[:, sel]), z[:, sel], 0.0)
            norm = np.sqrt((zz ** 2).sum(axis=1, keepdims=True))
            with np.errstate(invalid="ignore", divide="ignore"):
                prof[:, sel] = np.where(np.isfinite(z[:, sel]) & (norm > 0), z[:, sel] / norm, np.nan)

    def pack(a):
        return {n: (a[:, j] if g.stacked else a[0, j]) for j, n in enumerate(names)}

    res = MotifSignificance(tuple(names), null, int(draws), pack(obs), pack(exp_), pack(mean), pack(sd),
                            pack(z), pack(pval), pack(prof), reason)
    if concentrations:
        oc = _package(obs_raw, symbols, shapes, g.stacked, per_block=False)
        res.concentration = {n: oc.concentration(n) for n in names}
        res.mc_concentration_mean = pack(conc_mean)
        res.mc_concentration_sd = pack(conc_sd)
    return res


def most_significant(sig, epoch=None):
    """Zambra et al.'s "most significant motif" per shape: the colour class with the largest z.

    Parameters
    ----------
    sig : MotifSignificance
    epoch : int, optional
        Which epoch of a stack (required for stacks).

    Returns
    -------
    dict
        Shape → ``(class name, z)``; shapes whose classes all have an undefined z are left out.
    """
    best = {}
    for name in sig.classes:
        z = np.asarray(sig.z[name])
        if z.ndim:
            if epoch is None:
                raise InputError("this significance holds an epoch stack: pass epoch=t")
            z = z[epoch]
        z = float(z)
        if not np.isfinite(z):
            continue
        shape = name.split("[", 1)[0]
        if shape not in best or z > best[shape][1]:
            best[shape] = (name, z)
    return best
