"""FANMOD interop: read its coloured edge-list input and its CSV census, map its classes to deepcnt's names.

FANMOD (Wernicke & Rasche 2006) takes ``source target colour`` lines and writes, per subgraph class, an ID,
the adjacency matrix (row ``u``, column ``v`` holds the colour of the edge ``u→v``, 0 = none), the
concentration in the original network (``%`` of all connected k-subgraphs) and the statistics of its random
networks. This is how a FANMOD-based study (Zambra et al. 2020) is reproduced with :func:`motifs`.
"""
import itertools
import re
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..model.graph import LayeredGraph
from ..motifs import classes as mc


def read_edgelist(path, sizes):
    """A FANMOD edge-list file as a LayeredGraph plus its edge colours.

    Parameters
    ----------
    path : str or Path
        Lines ``source target [colour]`` with global node ids in layer order.
    sizes : sequence of int
        Layer sizes ``n_0..n_L``; every edge must go from layer ``l`` to ``l+1``.

    Returns
    -------
    g : LayeredGraph
        Weight 1 on every listed edge.
    colors : list of int8 arrays, shape (n_l, n_{l+1})
        The colour of every edge (1 when the file has no colour column), 0 elsewhere.
    """
    sizes = [int(n) for n in sizes]
    off = np.concatenate([[0], np.cumsum(sizes)])
    layer = np.repeat(np.arange(len(sizes)), sizes)
    blocks = [np.zeros((sizes[l], sizes[l + 1])) for l in range(len(sizes) - 1)]
    colors = [np.zeros((sizes[l], sizes[l + 1]), np.int8) for l in range(len(sizes) - 1)]
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                u, v = int(parts[0]), int(parts[1])
                c = int(parts[2]) if len(parts) > 2 else 1
            except (ValueError, IndexError):
                raise InputError(f"{path}:{lineno}: expected 'source target [colour]', got {line.strip()!r}")
            if not (0 <= u < off[-1] and 0 <= v < off[-1]):
                raise InputError(f"{path}:{lineno}: node id outside 0..{off[-1] - 1}")
            l = layer[u]
            if layer[v] != l + 1:
                raise InputError(f"{path}:{lineno}: edge {u}->{v} does not go from one layer to the next")
            blocks[l][u - off[l], v - off[l + 1]] = 1.0
            colors[l][u - off[l], v - off[l + 1]] = c
    return LayeredGraph.from_weights(blocks), colors


@dataclass
class FanmodClass:
    """One result row of a FANMOD census."""

    id: int
    adjacency: np.ndarray  # (k, k) int, colour of u→v
    frequency: float  # % in the original network
    mean_freq: float
    sd: float
    z: float
    p: float


def read_census(path):
    """A FANMOD CSV census: ``(n_subgraphs_original, [FanmodClass, ...])``."""
    text = open(path).read().splitlines()
    total = None
    for line in text:
        m = re.match(r"\s*(\d+) subgraphs were enumerated in the original network", line)
        if m:
            total = int(m.group(1))
    if total is None:
        raise InputError(f"{path}: not a FANMOD census (no 'subgraphs were enumerated' line)")
    rows, cur = [], None
    for line in text:
        parts = line.split(",")
        if len(parts) >= 7 and parts[0].strip().isdigit():
            cur = [int(parts[0]), [parts[1].strip()], [_pct(x) for x in parts[2:4]] + [float(x) for x in parts[4:7]]]
            rows.append(cur)
        elif cur is not None and len(parts) == 2 and parts[0] == "" and parts[1].strip().isdigit():
            cur[1].append(parts[1].strip())
    out = []
    for cid, adj, (fr, mf, sd, z, p) in rows:
        A = np.array([[int(ch) for ch in r] for r in adj])
        out.append(FanmodClass(cid, A, fr, mf, sd, z, p))
    return total, out


def _pct(x):
    return float(x.strip().rstrip("%"))


def classify(adjacency, symbols="123"):
    """deepcnt's canonical class name of a small coloured DAG given as an adjacency matrix of colours.

    Tries every assignment of the shape's roles to the nodes (a brute-force isomorphism test).
    """
    A = np.asarray(adjacency)
    n = A.shape[0]
    edges = {(u, v): int(A[u, v]) for u in range(n) for v in range(n) if A[u, v]}
    for shape, sh in mc.SHAPES.items():
        if sh.size != n or sh.n_slots != len(edges):
            continue
        roles = _ROLES.get(shape, mc.EDGES[shape])  # the shapes of block DAGs by their vertex-labelled template
        names = sorted({r for e in roles for r in e})
        for perm in itertools.permutations(range(n), len(names)):
            pos = dict(zip(names, perm))
            mapped = [(pos[a], pos[b]) for a, b in roles]
            if set(mapped) == set(edges):
                return mc.class_name(shape, tuple(edges[e] for e in mapped), symbols)
    return None


_ROLES = {
    "chain3": [("i", "j"), ("j", "k")], "fanout2": [("i", "j1"), ("i", "j2")], "fanin2": [("i1", "j"), ("i2", "j")],
    "outstar3": [("i", "j1"), ("i", "j2"), ("i", "j3")], "instar3": [("i1", "j"), ("i2", "j"), ("i3", "j")],
    "y_in2out1": [("i1", "j"), ("i2", "j"), ("j", "k")], "y_in1out2": [("i", "j"), ("j", "k1"), ("j", "k2")],
    "chain4": [("i", "j"), ("j", "k"), ("k", "h")], "bifan": [("i1", "j1"), ("i1", "j2"), ("i2", "j1"), ("i2", "j2")],
    "N": [("i1", "j1"), ("i1", "j2"), ("i2", "j2")], "diamond": [("i", "j1"), ("j1", "k"), ("i", "j2"), ("j2", "k")],
    "src_branch": [("i", "j1"), ("i", "j2"), ("j2", "k")], "snk_branch": [("i", "j2"), ("j1", "k"), ("j2", "k")],
    "ffl": [("i", "j"), ("j", "k"), ("i", "k")],
}
