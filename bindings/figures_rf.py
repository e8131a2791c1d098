"""Receptive fields of the first layer drawn as images of the input: the columns of a dense first block, and
Testolin's clustering of them. They are drawn only where the input layer is a grey image (:func:`input_image`).
"""
import math

import numpy as np

from . import figures  # its _save, _plt and member_note, looked up at call time (tests wrap _save)


def input_image(store):
    """The (height, width) of the grey image that a store's input layer holds, or ``(None, why)``.

    A store written from a traced model records the shape and dtype of one input sample (``input_shape``,
    ``input_dtype``; integer ids are tokens, never an image): the layer
    is an image when it holds exactly those values and they are one channel of ``H × W`` (``(1, H, W)`` or
    ``(H, W)``), or a flat vector of a square number of values. A token model's input layer is one
    position's features (its size is not the input's), and colour channels are not drawn as one grey image.
    A store without that record (a chain of weights) is taken for a flattened square image when its size is a
    square, as MNIST's 784 = 28 × 28.
    """
    n0 = store.sizes[0]
    shape = store.metadata.get("input_shape")
    if "int" in str(store.metadata.get("input_dtype", "")):
        return None, "the model's input is integer ids (tokens), not an image"
    if shape is not None:
        shape = [int(v) for v in shape]
        if math.prod(shape) != n0:
            return None, (f"the input layer's {n0} units are not the model's input values (one sample of shape "
                          f"{tuple(shape)}): one token's features, not an image")
        dims = [v for v in shape if v != 1] if len(shape) > 1 else shape
        if len(dims) == 2:
            return tuple(dims), None
        if len(dims) > 2:
            return None, f"the input {tuple(shape)} has colour channels (drawn only for one grey channel)"
    side = math.isqrt(n0)
    if side * side == n0:
        return (side, side), None
    return None, f"the input layer's {n0} units are no square image (give the model's input_shape when ingesting)"


def why_no_fields(store):
    """Why a store's layer-1 receptive fields are not drawn as images of its input, or None where they are:
    the first block is dense or pruned (sparse) from the input to layer 1 and the input a grey image.
    A convolution's kernel or a diagonal block is no image of the input (their weights are in the weight
    figure), nor is a skip from it."""
    first = store.block_specs[0]
    if (first and first["kind"] != "sparse") or store.pairs[0] != (0, 1):
        what = (f"a skip {store.pairs[0]}" if not first else "a convolution" if first["kind"] == "conv"
                else f"a {first['kind']} block")
        return f"the first block is {what} (its weights are in the first figure)"
    return input_image(store)[1]


def fig_receptive_fields(store, out, n_show=64, member=0):
    """Layer-1 receptive fields (columns of the first block, dense or pruned: a pruned weight reads 0) as
    images, min to max grey, first and last epoch; None where the input layer is no grey image
    (:func:`input_image`)."""
    import deepcnt

    if why_no_fields(store) is not None:
        return None
    shape = input_image(store)[0]
    plt = figures._plt()
    figs = []
    for i in sorted({0, len(store) - 1}):
        W1 = deepcnt.receptive_fields(store.graph(i, member=member), 1).T  # (n_0, n_1): column j is unit j's
        k = min(n_show, W1.shape[1])
        cols = int(np.ceil(np.sqrt(k)))
        rows = int(np.ceil(k / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(max(cols * 0.8, 3.5), rows * 0.8 + 0.5), squeeze=False)
        for j, ax in enumerate(np.ravel(axes)):
            ax.axis("off")
            if j < k:
                ax.imshow(W1[:, j].reshape(shape), cmap="gray")
        note = figures.member_note(store, member)
        pruned = ", a pruned weight reads 0" if store.block_specs[0] else ""
        fig.suptitle(f"receptive fields of {store.layer_names[1]} (units 0–{k - 1} of {W1.shape[1]}), "
                     f"epoch {store.epochs[i]}{note}; {shape[0]}×{shape[1]} input pixels, "
                     f"each unit scaled min (black) to max (white){pruned}", fontsize=7, wrap=True)
        figs.append(figures._save(fig, out / f"receptive_fields_epoch{store.epochs[i]}.png"))
    return figs


def fig_rf_clusters(store, out, threshold=0.1, member=0, progress=None, result=None):
    """Testolin's receptive-field clustering of layer 1 at the last epoch: the dendrogram (cut at 20
    clusters) and each cluster's mean receptive field. Exact EMD over all cores; ``progress``:
    ``progress(done, total)`` over the EMD pairs; ``result``: that epoch's
    :func:`deepcnt.receptive_field_clusters`, already computed."""
    import deepcnt
    from scipy.cluster.hierarchy import dendrogram

    if why_no_fields(store) is not None:
        return []
    shape = input_image(store)[0]
    i = len(store) - 1
    res = result
    if res is None:
        g = store.graph(i, member=member).threshold(threshold)
        res = deepcnt.receptive_field_clusters(g, 1, shape, emd="exact", min_size=2, progress=progress)
    cl = res["clustering"]
    k = int(cl.labels.max())
    plt = figures._plt()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    dendrogram(cl.Z, ax=ax, truncate_mode="lastp", p=20, no_labels=False, color_threshold=None)
    ax.set_title(f"receptive fields of {store.layer_names[1]}, epoch {store.epochs[i]}"
                 f"{figures.member_note(store, member)}: EMD clustering (Testolin), {k} clusters", fontsize=9)
    ax.set_xlabel("unit, or (number of units) in a merged leaf")
    ax.set_ylabel("EMD linkage distance")
    figs = [figures._save(fig, out / "rf_dendrogram.png")]
    fig, axes = plt.subplots(1, k, figsize=(1.1 * k, 1.6), squeeze=False)
    for c in range(1, k + 1):
        ax = axes[0, c - 1]
        ax.imshow(res["rf"][cl.labels == c].mean(axis=0).reshape(shape), cmap="gray")
        ax.set_title(f"{c} (n={int((cl.labels == c).sum())})", fontsize=6)
        ax.axis("off")
    fig.suptitle(f"mean receptive field of each cluster (cluster, units){figures.member_note(store, member)}",
                 fontsize=7)
    figs.append(figures._save(fig, out / "rf_cluster_means.png"))
    return figs
