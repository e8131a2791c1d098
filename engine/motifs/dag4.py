"""Exact 4-node motif census of a block DAG (skip blocks): all 24 connected acyclic 4-node classes.

A 4-node class is the isomorphism class of a connected induced 4-node subgraph, as a coloured directed graph
(:data:`deepcnt.motifs.classes.SHAPES_4_DAG`: the chain's ten shapes and fourteen that need a skip block).
The census never enumerates node sets. Three linear steps:

1. **Homomorphisms.** For a template ``H`` (vertices ``0..3``, coloured edges), ``hom(H)`` sums over the layer
   assignments of its vertices (every edge on a block ``(i, j)``) the contraction of the colour masks
   ``Σ_{v} Π_{(a,b)∈H} B^{c_ab}_{ℓ_a ℓ_b}[v_a, v_b]``: an ``einsum`` whose path is a chain of GEMMs (a 4-node
   template with all six pairs on blocks, ``tt4``, costs ``n⁴`` as batched GEMMs; every other one ``n³``).
2. **Injective maps** by Möbius inversion over the vertex partitions:
   ``inj(H) = Σ_π μ(π) hom(H/π)`` with ``μ(π) = Π_B (−1)^{|B|−1}(|B|−1)!``; a partition that merges the two ends
   of an edge contributes nothing, and merged parallel edges must have one colour.
   ``sub(H) = inj(H) / |Aut(H)|`` counts the (not necessarily induced) copies of ``H``.
3. **Induced counts** by inversion over the supergraphs: ``sub(P) = Σ_Q s(P, Q) ind(Q)`` where ``s(P, Q)`` is
   the number of spanning copies of ``P`` in ``Q``; solved from the densest class (``tt4``) down.

Every step is linear and keeps the node set, so the counts split exactly by the motif's lowest layer.
The exact expectations under the block nulls (:func:`dag_expected4`) sum the probability of each induced
pattern over the layer assignments of its vertices, with no sampling.
"""
import functools
import itertools
from math import factorial

import numpy as np

from .. import config
from ..backend import to_host
from . import classes as mc
from .dag import _slot_prob, census_in_batches

_LETTERS = "abcd"
_COLOUR_LETTERS = "efghij"


# --------------------------------------------------------------------------------------- class tables
@functools.lru_cache(maxsize=None)
def _labelled_shapes():
    """Every labelled connected 4-node DAG: frozenset of its edges → (shape, slot of each edge)."""
    out = {}
    for s in mc.SHAPES_4_DAG:
        edges = mc.EDGES[s]
        for sigma in itertools.permutations(range(4)):
            moved = [(sigma[a], sigma[b]) for a, b in edges]
            out.setdefault(frozenset(moved), (s, {e: q for q, e in enumerate(moved)}))
    return out


def classify(edges):
    """The class ``(shape, canonical colours)`` of a coloured 4-node digraph ((a, b, colour), ...) on vertices
    0..3, or ``None`` when it is not a connected DAG spanning the four."""
    hit = _labelled_shapes().get(frozenset((a, b) for a, b, _ in edges))
    if hit is None:
        return None
    s, slot = hit
    cols = [0] * len(edges)
    for a, b, c in edges:
        cols[slot[(a, b)]] = c
    return s, mc.canonical(s, tuple(cols))


@functools.lru_cache(maxsize=None)
def class_table(k):
    """Every coloured 4-node DAG class with ``k`` colours and its supergraph coefficients.

    Returns
    -------
    keys : list of (shape, colours)
        Sorted by decreasing edge count (the order of the inversion).
    aut : dict (shape, colours) → int
        Colour-preserving automorphisms of the class's template.
    sup : dict (shape, colours) → list of ((shape', colours'), s)
        The classes ``Q ≠ P`` that hold ``s > 0`` spanning copies of ``P``.
    """
    keys = [(s, cols) for s in mc.SHAPES_4_DAG for cols in mc.classes(s, k)]
    aut = {key: len(mc.SHAPES[key[0]].group) // mc.orbit_size(*key) for key in keys}
    keys.sort(key=lambda key: -len(mc.EDGES[key[0]]))
    sup = {key: [] for key in keys}
    for q in keys:
        edges = [e + (c,) for e, c in zip(mc.EDGES[q[0]], q[1])]
        found = {}
        for r in range(3, len(edges)):
            for sub in itertools.combinations(edges, r):
                p = classify(sub)
                if p is not None:
                    found[p] = found.get(p, 0) + 1
        for p, cnt in found.items():
            sup[p].append((q, cnt))
    return keys, aut, sup


def _partitions(items):
    """Every set partition of ``items`` (a list), as lists of blocks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        yield [[first]] + part
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]


@functools.lru_cache(maxsize=None)
def quotients(edges):
    """The Möbius terms of ``inj(H)``: ``[(μ, quotient edges, image, where)]`` where ``image[e]`` is the quotient
    edge of template edge ``e`` and ``where[v]`` the quotient vertex of ``v``; partitions that merge an edge's two
    ends are left out."""
    n = 1 + max(max(e) for e in edges)
    out = []
    for part in _partitions(list(range(n))):
        where = {v: b for b, block in enumerate(part) for v in block}
        if any(where[a] == where[b] for a, b in edges):
            continue
        mu = 1
        for block in part:
            mu *= (-1) ** (len(block) - 1) * factorial(len(block) - 1)
        qedges = tuple(sorted({(where[a], where[b]) for a, b in edges}))
        image = tuple(qedges.index((where[a], where[b])) for a, b in edges)
        out.append((mu, qedges, image, tuple(where[v] for v in range(n))))
    return tuple(out)


def layer_assignments(n_vertices, edges, pairs, n_layers):
    """Every map of template vertices to layers with each edge on a block (``pairs``), by backtracking along
    the edges (a connected template)."""
    pairs = set(pairs)
    order = [0]
    while len(order) < n_vertices:  # each next vertex is joined to an earlier one
        order.append(next(v for v in range(n_vertices) if v not in order
                          and any((a in order and b == v) or (b in order and a == v) for a, b in edges)))
    out = []

    def grow(assign):
        if len(assign) == n_vertices:
            out.append(tuple(assign[v] for v in range(n_vertices)))
            return
        v = order[len(assign)]
        for layer in range(n_layers):
            if all(((assign[a], layer) if b == v else (layer, assign[b])) in pairs
                   for a, b in edges if (b == v and a in assign) or (a == v and b in assign)):
                assign[v] = layer
                grow(assign)
                del assign[v]

    grow({})
    return out


# --------------------------------------------------------------------------------------- counting
class _Hom:
    """Homomorphism counts of coloured templates into one batch of colour masks, memoised by template."""

    def __init__(self, g, masks, k, xp):
        self.g, self.masks, self.k, self.xp = g, masks, k, xp
        self.T = next(iter(masks.values())).shape[0]
        self.L = g.n_layers - 1
        self.memo = {}
        self.products = _Products()

    def __call__(self, edges):
        """``hom`` of the template with these edges, every colouring: float64 (T, L, k^e) (host), split by the
        lowest layer of the image."""
        if edges in self.memo:
            return self.memo[edges]
        xp, k, T = self.xp, self.k, self.T
        n = 1 + max(max(e) for e in edges)
        ne = len(edges)
        out = np.zeros((T, self.L + 1, k ** ne))
        subs = ",".join("t" + _COLOUR_LETTERS[q] + _LETTERS[a] + _LETTERS[b] for q, (a, b) in enumerate(edges))
        spec = subs + "->t" + _COLOUR_LETTERS[:ne]
        for assign in layer_assignments(n, edges, self.g.pairs, self.g.n_layers):
            for _, ops, names in _chunked(self.masks, edges, assign, self.g.sizes, k):
                val = _contract(spec, ops, xp, names, self.products)
                out[:, min(assign)] += np.asarray(to_host(val)).reshape(T, -1)
        out = out[:, :self.L]  # a motif's lowest layer is never the last one
        self.memo[edges] = out
        return out


def _chunked(masks, edges, assign, sizes, k):
    """The operands of one layer assignment: ``[(r0, masks, block names)]``, one item; for a template with six
    edges (``tt4``, a table over three vertices) vertex 0's nodes in chunks ``r0:r0+step`` within
    ``config.MOTIF_MASK_BUDGET`` (the count is linear in them; chunks carry no names: their products are not
    kept)."""
    ops = [masks[(assign[a], assign[b])] for a, b in edges]
    names = [(assign[a], assign[b]) for a, b in edges]
    return chunk_operands(ops, names, edges, assign, sizes, k)


def chunk_operands(ops, names, edges, assign, sizes, k):
    """:func:`_chunked` for operands already picked (one per template edge, shape (T, k, n_a, n_b)) and their
    names (the keys of their kept products)."""
    if len(edges) < 6:
        return [(None, ops, names)]
    table = 8 * k ** len(edges) * int(np.prod([sizes[assign[v]] for v in range(1, 4)]))
    step = max(1, int(config.MOTIF_MASK_BUDGET // max(table, 1)))
    n0 = int(sizes[assign[0]])
    if step >= n0:
        return [(None, ops, names)]
    return [(r0, [op[:, :, r0:r0 + step] if a == 0 else op[:, :, :, r0:r0 + step] if b == 0 else op
                  for op, (a, b) in zip(ops, edges)], None) for r0 in range(0, n0, step)]


#: Blocks with at most this many nodes a side are contracted for every epoch at once (numpy, no BLAS).
_SMALL = 32


class _Products(dict):
    """GEMMs of two masks, shared by every template and layer assignment of a batch, within
    ``config.MOTIF_MASK_BUDGET`` bytes (beyond it products are recomputed)."""

    nbytes = 0

    def keep(self, key, C):
        if self.nbytes + C.nbytes <= config.MOTIF_MASK_BUDGET:
            self[key] = C
            self.nbytes += C.nbytes
        return C


def _contract(spec, ops, xp, names=None, products=None):
    """The einsum ``spec`` ("teab,tfbc->tef": epoch ``t``, colours ``e..j``, vertices ``a..d``) on the
    :func:`elimination_path`, epoch by epoch: each step that sums a shared vertex is a ``tensordot`` (BLAS);
    the colour axes ride along as free indices. ``names``: the block of each operand, to look up and keep the
    products of two masks in ``products``. Returns (T, k...)."""
    inputs, out = spec.replace("t", "").split("->")
    terms = inputs.split(",")
    sizes = {c: n for term, op in zip(terms, ops) for c, n in zip((c for c in term if c in _LETTERS), op.shape[2:])}
    full = elimination_path(inputs, "".join(c for c in out if c in _LETTERS), tuple(sorted(sizes.items())))
    nmax = max(max(op.shape[2:]) for op in ops)
    table = ops[0].shape[0] * nmax ** 3 * ops[0].shape[1] ** len(ops) * 8  # bound of its temporaries (bytes)
    if xp is np and nmax <= _SMALL and table <= config.MOTIF_MASK_BUDGET:
        # tiny blocks, many epochs (null draws): one batched call beats a BLAS call per epoch
        return np.einsum(spec, *ops, optimize=list(full))
    path = full[1:]
    names = [None] * len(terms) if names is None or products is None else names
    res = []
    for t in range(ops[0].shape[0]):
        cur = [(term, op[t], name) for term, op, name in zip(terms, ops, names)]
        for idx in path:
            picked = [cur[i] for i in idx]
            for i in sorted(idx, reverse=True):
                del cur[i]
            need = set("".join(c[0] for c in cur) + out)
            if len(picked) == 2:
                (ta0, A0, na), (tb0, B0, nb) = picked
                (ta, A), (tb, B) = _reduce(ta0, A0, need | set(tb0), xp), _reduce(tb0, B0, need | set(ta0), xp)
                shared = set(ta) & set(tb)
                summed = [c for c in ta if c in shared and c not in need]
                if shared - set(summed):  # a vertex kept on both sides: a broadcast product
                    keep = "".join(dict.fromkeys(c for c in ta + tb if c in need))
                    cur.append((keep, xp.einsum(f"{ta},{tb}->{keep}", A, B), None))
                    continue
                axes = ([ta.index(c) for c in summed], [tb.index(c) for c in summed])
                key = None
                if na is not None and nb is not None:  # two masks: the product may be known
                    key = (t, na, tuple(c in ta for c in ta0), nb, tuple(c in tb for c in tb0), tuple(map(tuple, axes)))
                C = products.get(key) if key is not None else None
                if C is None:
                    C = xp.tensordot(A, B, axes=axes)
                    if key is not None:
                        products.keep(key, C)
                cur.append(("".join(c for c in ta if c not in summed) + "".join(c for c in tb if c not in summed),
                            C, None))
            else:
                cur.append(_reduce(*picked[0][:2], need, xp) + (None,))
        term, X, _ = cur[0]
        res.append(xp.einsum(f"{term}->{out}", X))
    return xp.stack(res)


def _reduce(term, X, need, xp):
    """Sum out the indices of ``X`` that no one else needs."""
    keep = "".join(c for c in term if c in need)
    return (term, X) if keep == term else (keep, xp.einsum(f"{term}->{keep}", X))


@functools.lru_cache(maxsize=None)
def elimination_path(terms, keep="", sizes=()):
    """A contraction path for the einsum operands ``terms`` ("eab,fbc,..."; vertex letters ``a..d``): factors on
    one vertex pair are multiplied first, then vertices are summed out smallest table first (the product of the
    sizes of the vertex's neighbours, then the fewest neighbours; a factor on a subset of another's vertices
    multiplied into it before), so a vertex of degree 1 is a row sum, one of degree 2 a GEMM, and only a
    vertex with three neighbours (``tt4``) builds a three-vertex table (``n³`` memory, ``n⁴`` BLAS work).
    Vertices in ``keep`` (outputs) are summed last. ``sizes``: ``((letter, n), ...)``, 1 where not given; two
    vertices in a wide layer (a language model's 50257 logits) never share a table when another order avoids
    it."""
    ops = [frozenset(c for c in t if c in _LETTERS) for t in terms.split(",")]
    size = dict(sizes)

    def table(v):  # (entries of the table left when v is summed out, its number of vertices)
        around = frozenset().union(*(o for o in ops if v in o)) - {v}
        return int(np.prod([size.get(u, 1) for u in around])), len(around)

    path = ["einsum_path"]

    def contract(*idx):
        merged = frozenset().union(*(ops[i] for i in idx))
        for i in sorted(idx, reverse=True):
            del ops[i]
        ops.append(frozenset(v for v in merged if v in keep or any(v in o for o in ops)))
        path.append(tuple(sorted(idx)))

    while len(ops) > 1:
        same = next(((i, j) for i in range(len(ops)) for j in range(i + 1, len(ops)) if ops[i] == ops[j]), None)
        if same is not None:
            contract(*same)
            continue
        verts = sorted(frozenset().union(*ops) - frozenset(keep))
        if not verts:
            contract(0, 1)
            continue
        v = min(verts, key=table)
        holders = [i for i, o in enumerate(ops) if v in o]
        # a factor on a subset of another's vertices (a row sum on v) is multiplied into it first: contracting
        # two larger factors while it still holds v would keep v and build a three-vertex table (n³ memory)
        inner = next(((i, j) for i in holders for j in holders if i != j and ops[i] <= ops[j]), None)
        contract(*(inner or holders[:2]))
    if len(path) == 1 or ops[0] - frozenset(keep):
        contract(0)  # a lone operand still holding vertices: sum them out
    return path


def _injective(hom, edges, k):
    """``inj(H)`` for every colouring of the template's edges: float64 (T, L, k^e)."""
    ne = len(edges)
    cols = np.array(list(itertools.product(range(k), repeat=ne)), dtype=np.int64).reshape(-1, ne)
    tot = None
    for mu, qedges, image, _ in quotients(edges):
        h = hom(qedges)
        nq = len(qedges)
        # the colouring of the quotient edges, and whether the merged edges agree on their colour
        qcol = np.zeros((cols.shape[0], nq), dtype=np.int64)
        ok = np.ones(cols.shape[0], dtype=bool)
        seen = np.zeros((cols.shape[0], nq), dtype=bool)
        for e, q in enumerate(image):
            ok &= ~seen[:, q] | (qcol[:, q] == cols[:, e])
            qcol[:, q] = cols[:, e]
            seen[:, q] = True
        flat = (qcol * (k ** np.arange(nq - 1, -1, -1))).sum(axis=1)
        term = mu * h[:, :, flat] * ok
        tot = term if tot is None else tot + term
    return tot


def dag_census4(g, codes, k):
    """Counts of every class of the 24 four-node DAG shapes, in batches of epochs (as :func:`dag_census3`).

    Parameters
    ----------
    g : LayeredGraph
    codes : list of int8 arrays, shape (T, n_i, n_j)
        Colour code of every slot of every block (:func:`deepcnt.motifs.counts.edge_code_blocks`).
    k : int
        Number of colours.

    Returns
    -------
    dict
        ``{(shape, colours): int64 array (T, L)}`` (host), split by the motif's lowest layer.
    """
    return census_in_batches(g, codes, k, 8, _census4_batch)


def _census4_batch(g, codes, k):
    be = g.backend
    xp = be.xp
    kern = be.kernel("motifs")
    masks = {}
    for pair, c in zip(g.pairs, codes):
        B = xp.empty((c.shape[0], k) + tuple(c.shape[1:]), dtype=xp.float32)
        kern.color_masks(c, B)
        masks[pair] = B.astype(xp.float64)  # the contractions reach n⁴: float64 is exact below 2^53
    hom = _Hom(g, masks, k, xp)
    keys, aut, sup = class_table(k)
    inj = {s: _injective(hom, mc.EDGES[s], k) for s in mc.SHAPES_4_DAG}
    ind = {}
    for key in keys:  # densest first: every supergraph is done before its subgraphs
        s, cols = key
        flat = sum((c - 1) * k ** (len(cols) - 1 - q) for q, c in enumerate(cols))
        v = inj[s][:, :, flat] / aut[key]
        for q, cnt in sup[key]:
            v = v - cnt * ind[q]
        ind[key] = v
    return {key: np.rint(v).astype(np.int64) for key, v in ind.items()}


def dag_participation4(g, A):
    """Per-node participation in the 24 four-node DAG shapes: the census's three steps with one vertex kept.

    The copies of ``H`` that hold node ``u`` are ``Σ_a inj_a(H)[u] / |Aut(H)|``, where ``inj_a`` counts the
    injective maps that send vertex ``a`` to ``u`` (Möbius over the partitions, the class of ``a`` kept as the
    output of the contraction); the supergraph inversion holds node by node (a spanning copy has every node of
    its instance).

    Parameters
    ----------
    g : LayeredGraph
    A : list of 0/1 float64 arrays (T, n_i, n_j), the kept edges of every block in the order of ``g.pairs``

    Returns
    -------
    dict {shape: array (T, N)} (on the graph's device)
    """
    xp = g.backend.xp
    T, N, o = A[0].shape[0], g.n_nodes, g.offsets
    masks = {pair: a[:, None].astype(xp.float64) for pair, a in zip(g.pairs, A)}
    products, memo = _Products(), {}

    def hom_at(qedges, vertex):
        if (qedges, vertex) not in memo:
            n = 1 + max(max(e) for e in qedges)
            spec = (",".join("t" + _COLOUR_LETTERS[q] + _LETTERS[a] + _LETTERS[b] for q, (a, b) in enumerate(qedges))
                    + "->t" + _COLOUR_LETTERS[:len(qedges)] + _LETTERS[vertex])
            out = xp.zeros((T, N))
            for assign in layer_assignments(n, qedges, g.pairs, g.n_layers):
                lo = o[assign[vertex]]
                for r0, ops, names in _chunked(masks, qedges, assign, g.sizes, 1):
                    val = _contract(spec, ops, xp, names, products).reshape(T, -1)
                    at = lo + (r0 if r0 is not None and vertex == 0 else 0)
                    out[:, at:at + val.shape[1]] += val
            memo[(qedges, vertex)] = out
        return memo[(qedges, vertex)]

    sub = {}
    for s in mc.SHAPES_4_DAG:
        tot = xp.zeros((T, N))
        for mu, qedges, _, where in quotients(mc.EDGES[s]):
            for a in range(4):
                tot = tot + mu * hom_at(qedges, where[a])
        sub[s] = tot / len(mc.SHAPES[s].group)
    keys, _, sup = class_table(1)
    ind = {}
    for key in keys:  # densest first
        v = sub[key[0]]
        for q, cnt in sup[key]:
            v = v - cnt * ind[q[0]]
        ind[key[0]] = v
    return ind


# --------------------------------------------------------------------------------------- null model
def dag_expected4(sizes, pairs, m, k, null):
    """Exact expectations of every 4-node DAG class under the permutation or Bernoulli null, for one epoch.

    ``E[ind(Q)] = Σ_ℓ (injective node tuples on ℓ) · P(the slots of the tuple hold Q's pattern) / |Aut(Q)|``
    over the layer assignments ``ℓ`` of ``Q``'s vertices: each block's slots (edges of ``Q`` with their colour,
    the non-edges of ``Q`` on a block with colour 0) have the probability of :func:`deepcnt.motifs.dag._slot_prob`,
    independent across blocks; two vertices on one layer have no slot.

    Parameters
    ----------
    sizes, pairs, m, k, null
        As :func:`deepcnt.motifs.dag.dag_expected3`.

    Returns
    -------
    dict {(shape, colours): float}
    """
    n = [int(x) for x in sizes]
    idx = {p: b for b, p in enumerate(pairs)}
    keys, aut, _ = class_table(k)
    out = {}
    for s in mc.SHAPES_4_DAG:
        edges = mc.EDGES[s]
        assigns = layer_assignments(4, edges, pairs, len(n))
        for cols in mc.classes(s, k):
            colour = dict(zip(edges, cols))
            tot = 0.0
            for ell in assigns:
                tuples = 1
                for layer in set(ell):
                    c = ell.count(layer)
                    for i in range(c):
                        tuples *= n[layer] - i
                if not tuples:
                    continue
                per_block = {}
                for a, b in itertools.combinations(range(4), 2):
                    lo, hi = (a, b) if ell[a] < ell[b] else (b, a)
                    blk = (ell[lo], ell[hi])
                    if blk in idx:
                        per_block.setdefault(blk, []).append(colour.get((lo, hi), 0))
                prob = 1.0
                for blk, cl in per_block.items():
                    prob *= _slot_prob(m[idx[blk]], n[blk[0]] * n[blk[1]], cl, null)
                tot += tuples * prob
            out[(s, cols)] = tot / aut[(s, cols)]
    return out
