"""The motif classes of layered feed-forward graphs and their canonical coloured names.

Only 3 three-node and 10 four-node connected classes can occur in a graph whose edges all go from layer
``l`` to ``l+1``. Each shape is described by its **edge slots** in a fixed, documented order, the block each
slot lies in (relative to the motif's lowest layer ``p``), its automorphisms (as permutations of the slots),
and the slots that must stay empty for the subgraph to be induced.

A coloured class is an orbit of slot colourings under the automorphisms; its canonical representative is the
lexicographically smallest colouring (colour ``1`` < ``2`` < ...). Names: the shape alone when uncoloured,
else ``shape[code]`` where ``code`` lists the slot colours in slot order, with ``|`` between slot groups.
Symbols: ``+``/``-`` for signed counts (colour 1 = positive, 2 = negative), ``1..k`` for explicit colours.

==============  =====================================  ===============================================
shape           slots (in order)                        name code, automorphisms
==============  =====================================  ===============================================
chain3          i→j, j→k                                ``ab``
fanout2         i→j1, i→j2                              ``ab`` (sorted)
fanin2          i1→j, i2→j                              ``ab`` (sorted)
outstar3        i→j1, i→j2, i→j3                        ``abc`` (sorted)
instar3         i1→j, i2→j, i3→j                        ``abc`` (sorted)
y_in2out1       i1→j, i2→j | j→k                        ``ab|c`` (in-edges sorted)
y_in1out2       i→j | j→k1, j→k2                        ``a|bc`` (out-edges sorted)
chain4          i→j, j→k, k→h                           ``abc``
bifan           i1→j1, i1→j2 | i2→j1, i2→j2             ``ab|cd`` (rows = sources; swap rows/columns)
N               i1→j1, i1→j2, i2→j2 (no i2→j1)          ``abc``
diamond         i→j1, j1→k | i→j2, j2→k                 ``ab|cd`` (the two paths, sorted)
src_branch      i→j1, i→j2, j2→k (no j1→k)              ``abc``
snk_branch      i→j2, j1→k, j2→k (no i→j1)              ``abc``
ffl             i→j, j→k, i→k                           ``ab|c`` (block DAGs only: the skip closes a path)
==============  =====================================  ===============================================

The feed-forward loop ``ffl`` (Milo et al. 2002) needs an edge that skips a layer, so it occurs only in
block DAGs (:meth:`deepcnt.LayeredGraph.from_blocks` with a skip block); there the 3-node census is
``SHAPES_3_DAG``. Its ``blocks``/``span`` fields describe the chain-aligned part (the path ``i→j→k``); the
closing edge ``i→k`` lies in the skip block.

On a block DAG the 4-node classes are all 24 connected acyclic 4-node digraphs (``SHAPES_4_DAG``): the ten
above and fourteen that need a skip (``SHAPES_4_DAG_ONLY``): ``bypass4`` (a 3-edge path and the edge that
bypasses it), the feed-forward loop with a pendant edge at its source, middle or sink, into or out of it
(``ffl_src_in`` ... ``ffl_snk_out``, code ``ab|c|d``: loop path, loop skip, pendant), the transitive
tournament ``tt4`` and ``tt4_noab`` (it without ``a→b``). :data:`EDGES` gives every shape's template
(vertices ``0..3``, slots in order); their automorphisms are computed from it (:func:`automorphisms`).
"""
import functools
import itertools
from dataclasses import dataclass
from math import comb
from typing import Tuple

from ..errors import InputError


@dataclass(frozen=True)
class Shape:
    """One uncoloured motif shape of a layered graph."""

    name: str
    size: int
    blocks: Tuple[int, ...]      # block offset (from the lowest layer p) of every slot
    group: Tuple[Tuple[int, ...], ...]  # automorphisms as slot permutations (identity first)
    groups: Tuple[int, ...]      # slot-group lengths for the name code
    span: int                    # number of consecutive blocks
    nonedges: Tuple[int, ...] = ()  # block offsets of the slots that must be empty

    @property
    def n_slots(self):
        return len(self.group[0])

    def placements(self, sizes, p):
        """Number of node tuples (one per uncoloured instance slot labelling) at lowest layer ``p``."""
        n = [int(x) for x in sizes[p:p + self.span + 1]]
        f = _PLACEMENTS[self.name]
        return f(*n)


_ID2 = ((0, 1),)
_S2 = ((0, 1), (1, 0))
_S3 = tuple(itertools.permutations(range(3)))

SHAPES = {
    s.name: s
    for s in (
        Shape("chain3", 3, (0, 1), _ID2, (2,), 2),
        Shape("fanout2", 3, (0, 0), _S2, (2,), 1),
        Shape("fanin2", 3, (0, 0), _S2, (2,), 1),
        Shape("outstar3", 4, (0, 0, 0), _S3, (3,), 1),
        Shape("instar3", 4, (0, 0, 0), _S3, (3,), 1),
        Shape("y_in2out1", 4, (0, 0, 1), ((0, 1, 2), (1, 0, 2)), (2, 1), 2),
        Shape("y_in1out2", 4, (0, 1, 1), ((0, 1, 2), (0, 2, 1)), (1, 2), 2),
        Shape("chain4", 4, (0, 1, 2), ((0, 1, 2),), (3,), 3),
        Shape("bifan", 4, (0, 0, 0, 0), ((0, 1, 2, 3), (2, 3, 0, 1), (1, 0, 3, 2), (3, 2, 1, 0)), (2, 2), 1),
        Shape("N", 4, (0, 0, 0), ((0, 1, 2),), (3,), 1, (0,)),
        Shape("diamond", 4, (0, 1, 0, 1), ((0, 1, 2, 3), (2, 3, 0, 1)), (2, 2), 2),
        Shape("src_branch", 4, (0, 0, 1), ((0, 1, 2),), (3,), 2, (1,)),
        Shape("snk_branch", 4, (0, 1, 1), ((0, 1, 2),), (3,), 2, (0,)),
        Shape("ffl", 3, (0, 1, 0), ((0, 1, 2),), (2, 1), 2),
    )
}

SHAPES_3 = ("chain3", "fanout2", "fanin2")
#: The 3-node census of a block DAG: the feed-forward loop besides the three layered shapes.
SHAPES_3_DAG = SHAPES_3 + ("ffl",)
SHAPES_4 = ("outstar3", "instar3", "y_in2out1", "y_in1out2", "chain4", "bifan", "N", "diamond", "src_branch",
            "snk_branch")

#: Vertex-labelled templates: the edges of every shape over vertices ``0..size-1``, in slot order.
EDGES = {
    "chain3": ((0, 1), (1, 2)),
    "fanout2": ((0, 1), (0, 2)),
    "fanin2": ((0, 2), (1, 2)),
    "ffl": ((0, 1), (1, 2), (0, 2)),
    "outstar3": ((0, 1), (0, 2), (0, 3)),
    "instar3": ((0, 3), (1, 3), (2, 3)),
    "y_in2out1": ((0, 2), (1, 2), (2, 3)),
    "y_in1out2": ((0, 1), (1, 2), (1, 3)),
    "chain4": ((0, 1), (1, 2), (2, 3)),
    "bifan": ((0, 2), (0, 3), (1, 2), (1, 3)),
    "N": ((0, 2), (0, 3), (1, 3)),
    "diamond": ((0, 1), (1, 3), (0, 2), (2, 3)),
    "src_branch": ((0, 1), (0, 2), (2, 3)),
    "snk_branch": ((0, 2), (1, 3), (2, 3)),
    # block DAGs only (an edge that skips a layer closes a cycle of the underlying undirected graph)
    "bypass4": ((0, 1), (1, 2), (2, 3), (0, 3)),
    "ffl_src_in": ((1, 2), (2, 3), (1, 3), (0, 1)),
    "ffl_src_out": ((0, 1), (1, 2), (0, 2), (0, 3)),
    "ffl_mid_in": ((1, 2), (2, 3), (1, 3), (0, 2)),
    "ffl_mid_out": ((0, 1), (1, 2), (0, 2), (1, 3)),
    "ffl_snk_in": ((0, 1), (1, 3), (0, 3), (2, 3)),
    "ffl_snk_out": ((0, 1), (1, 2), (0, 2), (2, 3)),
    "tt4": ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)),
}
_TT4 = EDGES["tt4"]
for _e in _TT4:
    EDGES[f"tt4_no{_e[0]}{_e[1]}"] = tuple(x for x in _TT4 if x != _e)
#: The 14 four-node shapes that need a skip block: 24 connected acyclic 4-node digraphs in all.
SHAPES_4_DAG_ONLY = ("bypass4", "ffl_src_in", "ffl_src_out", "ffl_mid_in", "ffl_mid_out", "ffl_snk_in",
                     "ffl_snk_out") + tuple(f"tt4_no{a}{b}" for a, b in _TT4) + ("tt4",)
#: The 4-node census of a block DAG: every connected acyclic 4-node digraph (the chain's ten first).
SHAPES_4_DAG = SHAPES_4 + SHAPES_4_DAG_ONLY


def automorphisms(edges):
    """The automorphisms of a template (vertex permutations that keep its edge set) as slot permutations."""
    n = 1 + max(max(e) for e in edges)
    pos = {e: q for q, e in enumerate(edges)}
    out = []
    for sigma in itertools.permutations(range(n)):
        perm = tuple(pos.get((sigma[a], sigma[b]), -1) for a, b in edges)
        if -1 not in perm:
            out.append(perm)
    return tuple(out)  # the identity first: permutations() starts with it


for _name in SHAPES_4_DAG_ONLY:
    _e = EDGES[_name]
    SHAPES[_name] = Shape(_name, 4, (), automorphisms(_e),
                          (3, 1) if _name == "bypass4" else (2, 1, 1) if _name.startswith("ffl") else (len(_e),), 0)

_PLACEMENTS = {
    "chain3": lambda a, b, c: a * b * c,
    "fanout2": lambda a, b: a * comb(b, 2),
    "fanin2": lambda a, b: comb(a, 2) * b,
    "outstar3": lambda a, b: a * comb(b, 3),
    "instar3": lambda a, b: comb(a, 3) * b,
    "y_in2out1": lambda a, b, c: comb(a, 2) * b * c,
    "y_in1out2": lambda a, b, c: a * b * comb(c, 2),
    "chain4": lambda a, b, c, d: a * b * c * d,
    "bifan": lambda a, b: comb(a, 2) * comb(b, 2),
    "N": lambda a, b: a * (a - 1) * b * (b - 1),
    "diamond": lambda a, b, c: a * comb(b, 2) * c,
    "src_branch": lambda a, b, c: a * b * (b - 1) * c,
    "snk_branch": lambda a, b, c: a * b * (b - 1) * c,
    "ffl": lambda a, b, c: a * b * c,
}


@functools.lru_cache(maxsize=None)
def canonical(shape, colours):
    """The canonical (lexicographically smallest) colouring in the orbit of ``colours`` (a slot tuple)."""
    sh = SHAPES[shape]
    return min(tuple(colours[q] for q in perm) for perm in sh.group)


def orbit_size(shape, colours):
    """Number of distinct slot colourings in the class of ``colours``."""
    sh = SHAPES[shape]
    return len({tuple(colours[q] for q in perm) for perm in sh.group})


def symbols_for(k, signed, colored=False):
    """Colour symbols: ``""`` uncoloured, ``"+-"`` signed, ``"1234"[:k]`` for explicit colours."""
    if signed:
        return "+-"
    return "1234"[:k] if colored else ""


@functools.lru_cache(maxsize=None)
def class_name(shape, colours, symbols):
    """Canonical name of the class of ``colours`` (e.g. ``bifan[++|+-]``); the shape alone if uncoloured."""
    if not symbols:
        return shape
    c = canonical(shape, colours)
    parts, i = [], 0
    for g in SHAPES[shape].groups:
        parts.append("".join(symbols[x - 1] for x in c[i:i + g]))
        i += g
    return f"{shape}[{'|'.join(parts)}]"


@functools.lru_cache(maxsize=None)
def classes(shape, k):
    """Canonical colourings of every class of ``shape`` with ``k`` colours, sorted (a tuple)."""
    n = SHAPES[shape].n_slots
    return tuple(sorted({canonical(shape, c) for c in itertools.product(range(1, k + 1), repeat=n)}))


def parse_name(name, symbols):
    """Inverse of :func:`class_name`: ``(shape, canonical colour tuple)``."""
    if "[" not in name:
        if name not in SHAPES:
            raise InputError(f"unknown motif class {name!r}")
        return name, (1,) * SHAPES[name].n_slots
    shape, code = name[:-1].split("[", 1)
    if shape not in SHAPES:
        raise InputError(f"unknown motif class {name!r}")
    try:
        cols = tuple(symbols.index(ch) + 1 for ch in code.replace("|", ""))
    except ValueError:
        raise InputError(f"motif class {name!r} uses a colour symbol outside {symbols!r}") from None
    return shape, cols


def shapes_for_size(size):
    """The shapes a ``size`` census reports: 3 → the 3-node shapes; 4 → 3- and 4-node shapes."""
    if size == 3:
        return SHAPES_3
    if size == 4:
        return SHAPES_3 + SHAPES_4
    raise InputError(f"motif size must be 3 or 4, got {size!r}")


def edge_choices(x, cols):
    """``Π_c C(x^c, mult_c)``: the ways to pick edges of the colour multiset ``cols`` (colours 1..k, a colour
    repeated up to 3 times) at each node, from its per-colour edge counts ``x`` (T, k, n) → (T, n)."""
    out = None
    for c in set(cols):
        v = x[:, c - 1]
        mult = cols.count(c)
        term = v if mult == 1 else (v * (v - 1) // 2 if mult == 2 else v * (v - 1) * (v - 2) // 6)
        out = term if out is None else out * term
    return out
