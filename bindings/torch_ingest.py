"""Checkpoints into an epoch store: :func:`ingest` and :func:`find_checkpoints` (part of
:mod:`deepcnt.bindings.torch`).

:func:`_store_for` opens or creates the epoch store that a :class:`~deepcnt.bindings.torch.Recorder` or an
ingest writes to; :func:`ingest` reads a directory of checkpoints into one, all or nothing (a temporary
directory renamed at the end; those left by dead ingests are removed), directly or through a model
(:mod:`deepcnt.bindings.model_ingest`: traced block DAGs, pruned checkpoints as sparse blocks).
"""
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
from deepcnt.errors import InputError

from .torch_checkpoints import CHECKPOINT_SUFFIXES, _stem, checkpoint_arrays, checkpoint_record, hf_weights


def _store_for(run_dir, ws, bs, names, metadata, blocks=None):
    """The epoch store at ``run_dir``: opened for appending when it holds the same architecture, else created.

    ``ws`` are what one entry stores per block (dense (n_in, n_out) arrays, convolution kernels, ``None`` for a
    pooling layer); ``blocks`` the implicit blocks (``None`` for dense ones) whose geometry the store records.
    """
    from deepcnt.model.conv import block_spec
    from deepcnt.runs.store import EpochStore

    blocks = blocks or [None] * len(ws)
    sizes = _entry_sizes(ws, blocks)
    specs = [block_spec(b) if b is not None else None for b in blocks]
    dtype = "float64" if any(w is not None and w.dtype == np.float64 for w in ws) else "float32"
    run_dir = Path(run_dir)
    if (run_dir / "meta.json").exists():
        store = EpochStore.open(run_dir, "a")
        if store.sizes != tuple(sizes) or [s or None for s in store.block_specs] != specs:
            store.close()
            raise InputError(f"run {run_dir} holds architecture {store.sizes}, not {tuple(sizes)}"
                             + (" (same widths, other convolution geometry)" if store.sizes == tuple(sizes) else ""))
        return store
    return EpochStore.create(run_dir, sizes, n_members=1, biases=any(b is not None for b in bs), dtype=dtype,
                             layer_names=names, metadata=metadata,
                             blocks=None if not any(specs) else blocks)


def _entry_sizes(ws, blocks):
    """Layer widths of one entry: the implicit blocks' shapes, the dense blocks' (n_in, n_out)."""
    shapes = [b.shape[-2:] if b is not None else w.shape for w, b in zip(ws, blocks)]
    return [int(shapes[0][0])] + [int(sh[1]) for sh in shapes]


def find_checkpoints(folder, epoch_from="auto"):
    """The checkpoints of ``folder`` as ``[(epoch, path)]`` sorted by epoch.

    Checkpoints are the files with a suffix of :data:`CHECKPOINT_SUFFIXES` and the Hugging Face
    ``checkpoint-N/`` sub-folders (``model.safetensors`` or ``pytorch_model.bin`` inside).

    Parameters
    ----------
    folder : path
    epoch_from : {"auto", "checkpoint", "name", "step", "order"}
        Where each epoch comes from: ``auto`` the epoch the checkpoint records (Lightning's and most loops'
        ``epoch`` entry, ``trainer_state.json``), else the one its name gives (``epoch=1-step=45.ckpt``,
        ``epoch01-val_loss0.83.pt``, ``weights.01-0.83.pt``), refusing where the two disagree;
        ``checkpoint`` / ``name`` one source only; ``step`` the training step (``global_step``,
        ``step=N``, ``checkpoint-N``); ``order`` the natural order of the names, numbered 0, 1, 2, ...

    Raises
    ------
    InputError
        No checkpoint; an epoch that cannot be told; two checkpoints mapping to one epoch (see
        :func:`deepcnt.bindings.checkpoint_epochs.assign_epochs`).
    """
    from .checkpoint_epochs import EPOCH_FROM, assign_epochs

    if epoch_from not in EPOCH_FROM:
        raise InputError(f"unknown epoch_from {epoch_from!r}: use one of {', '.join(EPOCH_FROM)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"checkpoint directory {folder} does not exist")
    found = [p for p in folder.iterdir()
             if (p.is_file() and p.suffix in CHECKPOINT_SUFFIXES) or (p.is_dir() and hf_weights(p) is not None)]
    if not found:
        raise InputError(f"{folder} holds no checkpoint files ({', '.join(CHECKPOINT_SUFFIXES)}) and no "
                         f"checkpoint-N/ folders")
    need = epoch_from in ("auto", "checkpoint", "step")
    items = [(p, _stem(p), p.is_dir(), checkpoint_record(p) if need else None) for p in found]
    return assign_epochs(items, epoch_from)


_INGEST_TMP = re.compile(r"^\..+\.ingest-(.+)-(\d+)\.tmp$")


def _remove_dead_ingests(parent):
    """Remove the temporary stores of ingests killed in ``parent`` (named after their host and pid; those of
    live processes stay), and the pid-less ones of older versions."""
    from deepcnt.runs.store import _pid_alive

    if not parent.is_dir():
        return
    for p in parent.iterdir():
        m = _INGEST_TMP.match(p.name)
        dead = m and m.group(1) == socket.gethostname() and not _pid_alive(int(m.group(2)))
        if dead or (p.name.startswith(".") and p.name.endswith(".ingest-tmp")):
            shutil.rmtree(p, ignore_errors=True)


def ingest(folder, run_dir, metadata=None, progress=None, epoch_from="auto", model=None, model_args=None,
           input_shape=None, example_input=None, fold_norm=True, trace_options=None):
    """Ingest a directory of checkpoints (state_dicts or safetensors) into a new epoch store, all or nothing.

    Each checkpoint's epoch comes from what it records or from its name (``epoch_from``, see
    :func:`find_checkpoints`). Without ``model``, every checkpoint must hold the same Linear architecture.
    With ``model``, each checkpoint is loaded into it and the model is traced
    (:class:`deepcnt.bindings.model_ingest.ModelReader`): residual networks, BatchNorm and convolutions become
    a block DAG, and pruned checkpoints (``weight_orig`` × ``weight_mask``) sparse blocks.
    The store is built in a temporary directory beside ``run_dir`` (``.NAME.ingest-HOST-PID.tmp``) and renamed
    into place only when every checkpoint has been read; on any error nothing is left behind, and the
    temporary of a killed ingest is removed by the next ingest into the same folder.

    Parameters
    ----------
    folder, run_dir : path
    metadata : dict, optional
        Recorded in the store beside the source.
    progress : callable ``(done, total)``, optional
    epoch_from : str
        See :func:`find_checkpoints`.
    model : torch.nn.Module, class or str, optional
        The model that reads the checkpoints: an instance, a class, or ``"package.module:Class"`` (also
        ``"path/to/file.py:Class"``).
    model_args : dict or str, optional
        Keyword arguments of a model class (a JSON object as a string).
    input_shape : tuple, optional
        One sample's shape, traced on zeros; default the ``in_features`` of a model whose first weighted module
        is ``nn.Linear``.
    example_input : torch.Tensor, optional
        A batch of inputs to trace on instead.
    fold_norm : bool
        Fold BatchNorm into the block it follows (default) or keep it as a diagonal block.
    trace_options : dict, optional
        ``tokens``, ``embedding``, ``attention`` of :func:`deepcnt.bindings.trace.trace_module` (with ``model``).

    Returns
    -------
    EpochStore
        The new store, open for reading.
    """
    from deepcnt.runs.store import EpochStore

    run_dir = Path(run_dir)
    if run_dir.exists():
        raise InputError(f"{run_dir} exists already: ingest into a new run directory")
    pairs = find_checkpoints(folder, epoch_from)
    reader = None
    if model is not None:
        from .model_ingest import ModelReader

        reader = ModelReader(model, model_args, input_shape, example_input, fold_norm, checkpoint=pairs[-1][1],
                             trace_options=trace_options)
    elif model_args is not None or input_shape is not None or example_input is not None or trace_options:
        raise InputError("model arguments and input shapes are for ingest with a model: give the model too")
    _remove_dead_ingests(run_dir.parent)
    tmp = run_dir.with_name(f".{run_dir.name}.ingest-{socket.gethostname()}-{os.getpid()}.tmp")
    store = None
    try:
        if reader is not None:
            store = _ingest_traced(reader, pairs, tmp, folder, epoch_from, metadata, progress)
        sparse = None
        if reader is None and len(pairs) > 1:  # pruned layers: stored sparse if the last checkpoint has them
            sparse = [_is_sparse(w) for w in checkpoint_arrays(pairs[-1][1])[0]]
        for k, (epoch, path) in enumerate([] if reader is not None else pairs):
            ws, bs, names = checkpoint_arrays(path)
            sparse = sparse or [_is_sparse(w) for w in ws]
            if any(sparse) or any(map(_is_sparse, ws)):
                store = _append_pruned(store, tmp, epoch, path, ws, bs, names, sparse, folder, epoch_from, metadata)
                if progress is not None:
                    progress(k + 1, len(pairs))
                continue
            if store is None:
                meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
                meta.update(metadata or {})
                store = _store_for(tmp, ws, bs, names, meta)
            sizes = tuple([ws[0].shape[0]] + [w.shape[1] for w in ws])
            if sizes != store.sizes:
                raise InputError(f"checkpoint {path} has architecture {sizes}, but {pairs[0][1].name} has "
                                 f"{store.sizes}: one run holds one architecture")
            if (any(b is not None for b in bs)) != store.has_biases:
                raise InputError(f"checkpoint {path} {'has' if not store.has_biases else 'lacks'} biases, "
                                 f"unlike {pairs[0][1].name}")
            biases = None
            if store.has_biases:
                biases = [np.zeros(w.shape[1], w.dtype) if b is None else b for w, b in zip(ws, bs)]
            try:
                store.append(epoch, ws, biases=biases, scalars={})
            except InputError as exc:  # NaN weights, a wrong shape: say which file
                raise InputError(f"checkpoint {path}: {exc}") from None
            if progress is not None:
                progress(k + 1, len(pairs))
        store.close()
        if run_dir.exists():
            raise InputError(f"{run_dir} was created while ingesting: ingest into a new run directory")
        tmp.rename(run_dir)
    except BaseException:
        if store is not None:
            store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EpochStore.open(run_dir)


def _is_sparse(w):
    from deepcnt.model.sparse import SparseBlock

    return isinstance(w, SparseBlock)


def _append_pruned(store, tmp, epoch, path, ws, bs, names, sparse, folder, epoch_from, metadata):
    """Append a checkpoint of Linear layers some of which are pruned (sparse blocks ``sparse``) as a graph;
    the store (created at ``tmp`` for the first checkpoint) is returned."""
    from deepcnt.model.graph import LayeredGraph
    from deepcnt.model.sparse import SparseBlock
    from deepcnt.runs.store import EpochStore

    if len(sparse) != len(ws):
        raise InputError(f"checkpoint {path} has {len(ws)} layers, unlike the last checkpoint's {len(sparse)}")
    blocks = [SparseBlock(w) if s and not _is_sparse(w) else w for w, s in zip(ws, sparse)]
    g = LayeredGraph.from_weights(blocks, biases=None if all(b is None for b in bs) else bs, layer_names=names)
    if store is None:
        meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
        meta.update(metadata or {})
        store = EpochStore.create_for(tmp, g, metadata=meta)
    try:
        store.append_graph(epoch, g)
    except InputError as exc:  # another architecture, NaN weights: say which file
        raise InputError(f"checkpoint {path}: {exc}") from None
    return store


def _ingest_traced(reader, pairs, tmp, folder, epoch_from, metadata, progress):
    """The checkpoints ``pairs`` read through ``reader``'s model into a new store at ``tmp``; returns it."""
    from deepcnt.runs.store import EpochStore

    first = reader.layout(pairs[-1][1])  # which blocks are sparse: those of the last (most pruned) checkpoint
    meta = {"source": "ingest", "checkpoints": str(Path(folder).resolve()), "epoch_from": epoch_from}
    meta.update(reader.metadata)
    meta.update(metadata or {})
    store = EpochStore.create_for(tmp, first, metadata=meta)
    try:
        for k, (epoch, path) in enumerate(pairs):
            g = first if k == len(pairs) - 1 else reader.graph(path)
            try:
                store.append_graph(epoch, g)
            except InputError as exc:  # NaN weights, another layout: say which file
                raise InputError(f"checkpoint {path}: {exc}") from None
            if progress is not None:
                progress(k + 1, len(pairs))
    except BaseException:
        store.close()
        raise
    return store
