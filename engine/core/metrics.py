"""The core family's entries in the metric registry: degree, strength, k_nn, La Malfa, weight moments."""
from ..registry import register
from .distributions import weight_moments
from .knn import knn
from .lamalfa import layers_fluctuation, nodes_strength
from .strength import degree, strength


@register("degree", "node", ["degree", "degree_in", "degree_out", "degree_pos", "degree_neg"],
          "undirected, in, out, positive and negative degree of the kept edges", skips=True)
def _degree_columns(g):
    return {
        "degree": degree(g), "degree_in": degree(g, "in"), "degree_out": degree(g, "out"),
        "degree_pos": degree(g, sign="positive"), "degree_neg": degree(g, sign="negative"),
    }


@register("strength", "node",
          ["strength", "strength_in", "strength_out", "strength_pos", "strength_neg", "strength_abs"],
          "net, in, out, positive, negative (magnitude) and absolute strength", skips=True)
def _strength_columns(g):
    return {
        "strength": strength(g), "strength_in": strength(g, "in"), "strength_out": strength(g, "out"),
        "strength_pos": strength(g, sign="positive"), "strength_neg": strength(g, sign="negative"),
        "strength_abs": strength(g, sign="abs"),
    }


@register("knn", "node", ["knn", "knn_w_abs"], "binary and Barrat (|w|) average nearest-neighbour degree", skips=True)
def _knn_columns(g):
    return {"knn": knn(g), "knn_w_abs": knn(g, weighted=True, sign="abs")}


@register("lamalfa_strength", "node", ["lamalfa_strength"], "La Malfa nodes strength (code convention)", skips=True)
def _lamalfa_strength_columns(g):
    return {"lamalfa_strength": nodes_strength(g)}


@register("layers_fluctuation", "layer", ["layers_fluctuation"], "La Malfa layers fluctuation (std, ddof=0)",
          skips=True)
def _fluctuation_columns(g):
    return {"layers_fluctuation": layers_fluctuation(g)}


register("weight_moments", "epoch", ["weight_mean", "weight_std", "weight_skew", "weight_kurtosis"],
         "mean, std, skewness and excess kurtosis of all learnt weights (Testolin et al.)", needs_edges=True,
         skips=True, expands=True)(weight_moments)
