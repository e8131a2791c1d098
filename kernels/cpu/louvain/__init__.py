"""Louvain in BCT ``community_louvain`` form on a sparse graph plus a low-rank null model.

The modularity matrix is never stored. It is held as

.. math:: B_{uv} = A_{uv} - \\sum_{t<R} b_t\\, X_{t,u} Y_{t,v}

with ``A`` symmetric, held as a CSR matrix or as the weight blocks themselves (``graph``), and ``R``
rank-one null terms (``R = 1`` Newman, ``2`` signed undirected, ``4`` signed directed after BCT's
symmetrisation). The node-to-module sums ``H[u,c] = A[u,c] − Σ_t b_t X_{t,u} Σ_{v∈c} Y_{t,v}`` cost
``O(deg u)`` for the neighbour part plus ``O(R)`` per candidate module. Aggregation keeps the form:
``A ← EᵀAE`` (self-loops included), ``X ← EᵀX``, ``Y ← EᵀY``.

Move rule as BCT: ``dQ(u→c) = H[u,c] − H[u,a] + B_uu``, best move accepted if ``> 1e-10``; sweeps in a
random node order until no move; aggregate while the level gains ``> 1e-10``. The node order comes from a
xorshift64 stream per run, so a run is deterministic for its seed whatever the thread count.

How a node's candidates are evaluated (all exact, the same candidates as BCT's dense ``B·M``):

* module ids are kept compact (renumbered between sweeps), so the ``C`` modules are ids ``0..C-1``;
* *scan*: ``A[u, ·]`` scattered into a row of length ``C+1`` (or read from the dense matrix below), then one
  vectorised pass over all ids (an empty id is "u alone");
* *neighbours*: for a node whose degree is small against ``C``, only the modules of its neighbours and
  "alone", when a bound on the null term shows that no other module can give a move; else the scan. The
  bound is the smaller of two: ``ymin``/``ymax`` over the modules, and for rank 2 with ``Y ≥ 0`` (signed
  undirected) a bound from the largest ratio ``Y1_c/Y0_c``, leaving out the 16 modules with the largest
  ratios, which are then evaluated exactly with the neighbours' (``_ratio_ub``, ``_outliers``);
* *dense mode*: once an ``N × C'`` matrix fits in cache, or the last sweep moved few nodes and the matrix is
  no larger than the edge list, the rows ``Hnm[u, c] = A[u, c]`` are kept (built when it starts: all at once
  from the blocks, module-major then transposed, or row by row from a CSR; updated by each move in
  ``O(deg)``), so a sweep costs ``O(N·C)`` instead of ``O(E)``; they also give the next level's graph.

The modules, by role: ``graph`` (the two forms of ``A``, ``edge_rule``, the level-0 builders), ``access`` (reading
either form), ``rng`` (the node order), ``scan`` (a node's value for every module id), ``neighbours`` and
``bound`` (the neighbours strategy and its bounds), ``dense_rows`` (dense mode's rows at once), ``moving`` (the
sweeps), ``aggregate`` (the next level), ``levels`` (a run), ``refine`` (seeded runs that split modules),
``runs`` (the entry point, over threads).

Names used throughout: ``part`` the module id of every node; ``ysum[t, c] = Σ_{v∈c} Y[t, v]``; ``xb[t] =
b_t X[t, u]`` of the node ``u`` being evaluated, so its null term for module ``c`` is ``Σ_t xb[t] ysum[t, c]``;
``b_uu = B[u, u]``; ``h_own`` the value ``H[u, a] − null`` of u's own module ``a``; ``Hnm`` the dense node ×
module sums ``A[u, c]`` (BCT's name); ``scatter1``/``scatter4`` the one or four rows a node's row is scattered into.

The sweeps (``_sweeps``) are compiled without Numba's reference counting (``_nrt=False``; the workspace is
allocated by ``_local_moving``): the atomic incref/decref of every array view and tuple item were 20% of a
run. For the same reason the per-entry loops address rows by index instead of slicing, and use unsigned
indices (a signed one costs a wrap-around test per access).
"""
from .graph import (BlocksGraph, CSRGraph, SIGN_MODES, block_channel_sums, block_csr_fill, block_csr_fill_dense,
                    block_edge_counts, block_transpose, edge_rule, level0_pass)
from .runs import louvain_runs

CPU_ONLY = ("Louvain's local moving is a chain of dependent moves; a GPU version (parallel moves with conflict "
            "resolution) would not follow BCT's move rule, so it runs on the CPU for every backend")

__all__ = ["BlocksGraph", "CSRGraph", "SIGN_MODES", "block_channel_sums", "block_csr_fill", "block_csr_fill_dense",
           "block_edge_counts", "block_transpose", "edge_rule", "level0_pass", "louvain_runs", "CPU_ONLY"]
