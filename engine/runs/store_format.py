"""The on-disk format of an :class:`~deepcnt.runs.store.EpochStore` (part of :mod:`deepcnt.runs.store`).

The format name and version, the block kinds and chunk keys; how a block is described in ``meta["blocks"]``
(:func:`_spec_of`), how a store's layer pairs and block descriptions are checked against its layers
(:func:`_layout`, :func:`_block_specs`) and which format version holds them; whether a zarr array keeps raw
chunks; the check of an epoch number. The layout of a run directory is in :mod:`deepcnt.runs.store`.
"""
import numpy as np

from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.conv import block_from_spec, block_spec
from ..model.diagonal import DiagonalBlock, IdentityBlock
from ..model.sparse import SparseBlock

FORMAT = "deepcnt-epochstore"
#: 1: dense blocks only; 2: some blocks are implicit (convolution kernels + geometry, parameter-free pooling);
#: 3: a block DAG (blocks on any pair i < j), or identity, diagonal and sparse (CSR per entry) blocks
FORMAT_VERSION = 3
#: The block kinds of format 3, described by their kind alone.
PLAIN_KINDS = ("identity", "diagonal", "sparse")
#: Slots reserved in the zarr arrays' shape: chunks exist only where written, so this costs nothing.
CAPACITY = 2**40
#: Chunk keys ``c.<entry>.0.0.0``: one flat file per entry and array (no directory to create per append).
_KEYS = {"name": "default", "separator": "."}


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("deepcnt", "torch", "zarr", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def _spec_of(b, name):
    """The JSON description of one block as the store records it: None for a dense block, ``{"kind": ...}``."""
    if b is None or (hasattr(b, "shape") and not isinstance(b, ImplicitBlock)):
        return None  # a dense block (or its array)
    if isinstance(b, str):
        if b == "dense":
            return None
        if b not in PLAIN_KINDS:
            raise InputError(f"{name} is {b!r}: a block kind is dense, {', '.join(PLAIN_KINDS)}, or a "
                             "convolution/pooling geometry")
        return {"kind": b}
    if isinstance(b, IdentityBlock):
        return {"kind": "identity"}
    if isinstance(b, DiagonalBlock):
        return {"kind": "diagonal"}
    if isinstance(b, SparseBlock) or type(b).__module__.split(".")[0] == "scipy":
        return {"kind": "sparse"}
    if isinstance(b, ImplicitBlock):
        return block_spec(b)  # a convolution or a pooling layer; anything else is refused there
    try:
        return dict(b)
    except (TypeError, ValueError):
        raise InputError(f"{name} is a {type(b).__name__}: give a block, its kind or its geometry") from None


def _layout(sizes, pairs):
    """The block pairs as a sorted tuple (the chain when ``pairs`` is None), checked against ``sizes``, and the
    order that sorts the given pairs."""
    L = len(sizes) - 1
    if pairs is None:
        return tuple((l, l + 1) for l in range(L)), list(range(L))
    try:
        given = [(int(i), int(j)) for i, j in pairs]
    except (TypeError, ValueError):
        raise InputError(f"pairs must be a sequence of layer pairs (i, j), got {pairs!r}") from None
    if not given:
        raise InputError("pairs is empty: a store needs at least one block")
    for i, j in given:
        if not 0 <= i < j <= L:
            raise InputError(f"block pair {(i, j)} does not go forward between layers 0..{L}")
    if len(set(given)) != len(given):
        raise InputError("two blocks join the same pair of layers: sum them into one block")
    order = sorted(range(len(given)), key=lambda b: given[b])
    return tuple(given[b] for b in order), order


def _block_specs(blocks, sizes, pairs=None):
    """``(pairs, specs)``: the sorted block pairs and per block None (dense) or its description (``_spec_of``),
    each checked against the layer sizes."""
    pairs, order = _layout(sizes, pairs)
    B = len(pairs)
    if blocks is None:
        return pairs, [None] * B
    if len(blocks) != B:
        raise InputError(f"blocks has {len(blocks)} entries for an architecture of {B} blocks")
    blocks = [blocks[b] for b in order]
    specs = []
    for b, ((i, j), blk) in enumerate(zip(pairs, blocks)):
        spec = _spec_of(blk, f"blocks[{b}]")
        kind = None if spec is None else spec.get("kind")
        if kind in ("conv", "pool"):
            kernel = np.zeros([1] + list(spec["kernel_shape"])) if kind == "conv" else None
            shape = block_from_spec(spec, kernel, stacked=False).shape[1:]
        elif kind in ("identity", "diagonal"):
            shape = (sizes[i], sizes[i])
        elif kind in (None, "sparse"):
            shape = (sizes[i], sizes[j]) if not hasattr(blk, "shape") else tuple(blk.shape[-2:])
        else:
            raise InputError(f"unknown block kind {kind!r} in blocks[{b}]")
        if tuple(shape) != (sizes[i], sizes[j]):
            raise InputError(f"blocks[{b}] maps {shape[0]} units to {shape[1]} but the architecture has "
                             f"{sizes[i]} -> {sizes[j]}" + (f" on the pair {(i, j)}" if j > i + 1 else ""))
        specs.append(spec)
    return pairs, specs


def _format_version(pairs, specs):
    kinds = {s.get("kind") for s in specs if s is not None}
    if kinds & set(PLAIN_KINDS) or pairs != tuple((l, l + 1) for l in range(len(pairs))):
        return 3
    return 2 if kinds else 1


def _is_raw(arr):
    """True when a zarr array stores each chunk as raw little-endian bytes (the ``bytes`` codec alone)."""
    try:
        meta = arr.metadata.to_dict()
        codecs = meta["codecs"]
        if meta["chunk_key_encoding"]["configuration"]["separator"] != ".":
            return False
    except Exception:
        return False
    return (len(codecs) == 1 and codecs[0].get("name") == "bytes"
            and codecs[0].get("configuration", {}).get("endian", "little") == "little")


def _check_epoch(epoch):
    """``epoch`` as a Python int, or an InputError: integers only (numpy and 0-d integer tensors included),
    not bools or floats (``1.7`` is not epoch 1), and within int64 (the store keeps epochs as int64)."""
    import operator

    if isinstance(epoch, (bool, np.bool_)):
        raise InputError(f"epoch {epoch!r} is a bool: give the epoch number as an integer")
    try:
        e = operator.index(epoch)
    except TypeError:
        raise InputError(f"epoch {epoch!r} is not an integer ({type(epoch).__name__}): give the epoch number "
                         "as an int") from None
    if not -2**63 <= e < 2**63:
        raise InputError(f"epoch {e} is outside the 64-bit integer range the store keeps epochs in")
    return int(e)
