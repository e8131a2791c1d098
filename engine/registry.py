"""The metric registry: one entry per metric family, iterated by the pipeline, the CLI and the contract tests.

An entry names the function that computes every column of the family for a graph, and what kind of output
it is: ``node`` (length N per epoch), ``layer`` (length L+1 per epoch) or ``epoch`` (one value per epoch).
Adding a metric is one ``register(...)`` call in the module of its family.
"""
from dataclasses import dataclass
from typing import Callable, Tuple

from .errors import UnknownMetricError
from .model.graph import takes_graph

KINDS = ("node", "layer", "epoch")


@dataclass(frozen=True)
class Metric:
    """One registered metric family.

    Attributes
    ----------
    name : str
    kind : {"node", "layer", "epoch"}
    columns : tuple of str
        The output columns, in order.
    compute : callable
        ``compute(g, **options) -> dict`` mapping every column to an array of shape (N,) / (L+1,) / ()
        (with a leading T axis for an epoch stack).
    description : str
    default : bool
        Part of ``analyze``'s default set (expensive families, e.g. 500-run consensus, say False).
    needs_edges : bool
        Needs explicit edges (GEMMs, Louvain): left out of the default set for graphs with implicit
        (convolution) blocks, where it would raise.
    skips : bool
        Defined on block DAGs (skip blocks); otherwise such a graph is one clear error.
    expands : bool
        Needs explicit edges but reads sparse, identity and diagonal blocks (as the dense blocks of their kept
        edges, ``LayeredGraph.kept_stack``, or as their learnt weights, ``LayeredGraph.learnt_weights``): only
        convolution and pooling blocks keep it out.
    spans_epochs : callable, optional
        ``spans_epochs(options) -> bool``: with these options an epoch's values depend on the other epochs
        (a partition seeded by the previous epoch's, a consensus across epochs), so ``analyze`` gives it
        every epoch of a member in one stack.
    instead : str, optional
        For a metric defined on chains only: the sentence its refusal of a block DAG closes with (what to use).
    """

    name: str
    kind: str
    columns: Tuple[str, ...]
    compute: Callable
    description: str = ""
    default: bool = True
    needs_edges: bool = False
    skips: bool = False
    expands: bool = False
    spans_epochs: Callable = None
    instead: str = None

    def reads(self, implicit, opaque):
        """Whether this metric can read a run whose blocks are ``implicit`` (any kind but dense) and ``opaque``
        (a kind ``kept_stack`` cannot expand: convolution, pooling)."""
        return not self.needs_edges or not (opaque if self.expands else implicit)


REGISTRY = {}


def register(name, kind, columns, description="", default=True, needs_edges=False, skips=False, expands=False,
             spans_epochs=None, instead=None):
    """Decorator: register ``compute(g) -> {column: array}`` under ``name`` (``skips=True``: it is defined on
    block DAGs with skip blocks; otherwise such a graph is refused with one :class:`InputError`, closed by
    ``instead`` when given; ``expands=True``: it needs explicit edges but reads sparse, identity and diagonal
    blocks; ``spans_epochs``: :class:`Metric`'s)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")

    def deco(func):
        # given anything but a graph: one line that says what it expects
        checked = takes_graph(func, skips=skips, instead=instead)
        checked.__name__ = f"metric {name!r}"
        REGISTRY[name] = Metric(name, kind, tuple(columns), checked, description, default, needs_edges, skips,
                                expands, spans_epochs, instead)
        return func

    return deco


def get_metric(name):
    """The registered metric ``name``.

    Raises
    ------
    UnknownMetricError
        With the list of known names.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {known}") from None


def metric_names():
    """Names of every registered metric, sorted."""
    return sorted(REGISTRY)
