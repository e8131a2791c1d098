"""``analyze``: every epoch of a run through the registered metrics, into two Parquet tables (DESIGN "The pipeline").

Output directory (default ``<run>/analysis``)::

    meta.json                 how the tables were made: metrics, threshold, batch, versions, the run; its
                              ``"format": "deepcnt-analysis"`` marks the directory as an analysis
    write.lock                while an ``analyze`` writes here: its host and pid (one at a time)
    nodes/part-*.parquet      per node: run, member, entry, epoch, layer, layer_name, node, node_in_layer, metrics
    epochs/part-*.parquet     per epoch: run, member, entry, epoch, the store's scalars, epoch/layer metrics

Each table is a Parquet dataset (a directory of parts): ``pandas.read_parquet(out / "nodes")`` reads it whole.
Every part of a table has the same columns once ``analyze`` returns: a scalar first recorded in entries
analysed later (an extended run's ``val_acc``) is added to the older parts as NaN.
A part covers one task (a batch of consecutive entries of one member) and appears atomically (written to a
temporary name, then renamed), so a killed run never leaves a partial or corrupt part; re-running skips the
entries whose parts exist. A failed new analysis (a threshold that empties a graph, a corrupt entry) leaves
nothing behind, and ``overwrite`` deletes only what ``analyze`` writes, in a directory marked as an analysis.
Tasks are independent: run in-process, or as Dask tasks on a LocalCluster or an
existing cluster, with identical results. The output directory's checks, lock and atomic writes are in
:mod:`deepcnt.runs.output`.
"""
import inspect
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backend import get_backend
from ..errors import DeepcntError, InputError, StorageError
from ..registry import REGISTRY, get_metric
from ..model.graph import chain_refusal
from .output import (_PART, _TABLES, _WRITE_ERRNOS, ANALYSIS_FORMAT, _check_out, _clear_analysis, _OutputLock,
                     _read_out_meta, _read_table, _storage_error, _unify_columns, _write_part)
from .store import EpochStore

#: Memory budget of one task's weights (the batch size is chosen to fit it).
BATCH_BYTES = 256 * 2**20
MAX_BATCH = 16


@dataclass(frozen=True)
class Analysis:
    """Where ``analyze`` wrote its tables, and what it did.

    Attributes
    ----------
    out : Path
    tasks_run : int
        Tasks computed by this call (0 when everything was already done).
    entries_skipped : int
        (member, entry) pairs found finished and not recomputed.
    """

    out: Path
    tasks_run: int
    entries_skipped: int

    @property
    def nodes_path(self):
        return self.out / "nodes"

    @property
    def epochs_path(self):
        return self.out / "epochs"

    def nodes(self):
        """The per-node table as a pandas DataFrame, sorted by (member, entry, node)."""
        return _read_table(self.nodes_path, ["member", "entry", "node"])

    def epochs(self):
        """The per-epoch table as a pandas DataFrame, sorted by (member, entry)."""
        return _read_table(self.epochs_path, ["member", "entry"])

    def metadata(self):
        return json.loads((self.out / "meta.json").read_text())


def threshold_spec(threshold=None, mode="abs", per_block=False):
    """Normalise a threshold request to a JSON-able dict (``None`` keeps every non-zero weight)."""
    if threshold is None:
        return {"mode": "none"}
    if isinstance(threshold, dict):
        return threshold_spec(threshold.get("theta"), threshold.get("mode", "abs"), threshold.get("per_block", False))
    try:
        theta = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold must be a number, got {threshold!r}") from None
    if mode not in ("abs", "proportional"):
        raise InputError(f"unknown threshold mode {mode!r}: use abs or proportional")
    if not np.isfinite(theta) or theta < 0 or (mode == "proportional" and not 0 < theta <= 1):
        raise InputError(f"bad threshold {threshold!r}: abs needs theta >= 0, proportional a fraction in (0, 1]")
    if mode == "abs" and theta == 0:
        return {"mode": "none"}  # |w| > 0 is w != 0: one spec, so that the two resume each other's analysis
    return {"mode": mode, "theta": theta, "per_block": bool(per_block)}


def describe_threshold(spec):
    """A threshold spec in words: ``|w| > 0.1``, ``top 20% of |w| per block``, ``w != 0``."""
    if spec["mode"] == "none":
        return "w != 0"
    if spec["mode"] == "abs":
        return f"|w| > {spec['theta']:g}"
    return f"top {100 * spec['theta']:g}% of |w|" + (" per block" if spec.get("per_block") else "")


def apply_threshold(g, spec):
    """``g`` with the threshold ``spec`` (from :func:`threshold_spec`) applied."""
    if spec["mode"] == "none":
        return g
    return g.threshold(spec["theta"], mode=spec["mode"], per_block=spec.get("per_block", False))


def _metric_list(metrics, implicit=False, chain=True, opaque=None):
    """The metric names to compute: the registry's default set (without the families that need explicit
    edges the run's blocks do not give (``Metric.reads``), and those defined on chains only when it is a block
    DAG), or the given names, checked. ``opaque``: the run has convolution or pooling blocks (default:
    ``implicit``)."""
    opaque = implicit if opaque is None else opaque
    if metrics is None:
        return [name for name in sorted(REGISTRY)
                if REGISTRY[name].default and REGISTRY[name].reads(implicit, opaque)
                and (chain or REGISTRY[name].skips)]
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    if not metrics:
        raise InputError("no metric given: name at least one (`deepcnt metrics` lists them, as does "
                         "deepcnt.metric_names())")
    for name in metrics:
        get_metric(name)  # raises UnknownMetricError with the known names
    return list(dict.fromkeys(metrics))


def metric_options(options, names):
    """Check ``{metric: {option: value}}`` against the metrics computed and their keyword arguments.

    Returns a plain dict (recorded in the analysis's metadata, so values must be JSON: numbers, strings,
    booleans, lists).

    Raises
    ------
    InputError
        Options for a metric not computed, an option the metric does not take, a value JSON cannot hold.
    """
    if not options:
        return {}
    if not isinstance(options, dict):
        raise InputError("options must map metric names to their options, e.g. {'modularity': {'runs': 500}}")
    out = {}
    for name, opts in options.items():
        if name not in names:
            raise InputError(f"options given for {name!r}, which is not computed here ({', '.join(names)}): "
                             "add it to the metrics or drop its options")
        params = inspect.signature(get_metric(name).compute).parameters
        takes = [p.name for p in list(params.values())[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        anything = any(p.kind == p.VAR_KEYWORD for p in params.values())
        for key, value in dict(opts).items():
            if key not in takes and not anything:
                raise InputError(f"metric {name!r} has no option {key!r}; its options: {', '.join(takes) or 'none'}")
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise InputError(f"option {name}.{key} = {value!r} is not a number, string, boolean or list") from None
        out[name] = dict(opts)
    return out


def metric_option_names(name):
    """The options a registered metric takes, with their defaults: ``{option: default}``."""
    params = list(inspect.signature(get_metric(name).compute).parameters.values())[1:]
    return {p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _versions():
    import numba

    from .. import (
        __version__,  # deepcnt/__init__.py imports this module: read at call time
    )

    return {"deepcnt": __version__, "numpy": np.__version__, "numba": numba.__version__}


def _done_entries(out):
    """(member, entry) pairs that have a part in both tables."""
    done = {}
    for table in ("nodes", "epochs"):
        got = set()
        for p in (out / table).glob("part-*.parquet"):
            m = _PART.match(p.name)
            if m:
                member, a, b = (int(x) for x in m.groups())
                got.update((member, i) for i in range(a, b + 1))
        done[table] = got
    return done["nodes"] & done["epochs"]


def _drop_member(out, member):
    """Delete the table parts of one member (its analysis is recomputed as a whole)."""
    for table in _TABLES:
        for p in (out / table).glob(f"part-m{member:04d}-*.parquet"):
            p.unlink(missing_ok=True)


def _batches(entries, batch):
    """Consecutive runs of ``entries`` cut into batches of at most ``batch``."""
    out, cur = [], []
    for i in entries:
        if cur and (i != cur[-1] + 1 or len(cur) == batch):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def compute_tables(g, metrics, scalars=None, run="", member=0, entries=None, epochs=None):
    """The per-node and per-epoch rows of one epoch stack (what one task writes).

    Parameters
    ----------
    g : LayeredGraph, an epoch stack of T entries of one member
    metrics : list of str or of (str, dict)
        Metric names, or ``(name, options)`` pairs: ``options`` are keyword arguments of the metric.
    scalars : dict of name -> array (T,), optional
    run : str
    member : int
    entries, epochs : arrays (T,) of store positions and training epoch numbers

    Returns
    -------
    nodes, per_epoch : pandas.DataFrame
    """
    import pandas as pd

    T, N = g.blocks[0].shape[0], g.n_nodes
    entries = np.arange(T) if entries is None else np.asarray(entries)
    epochs = entries if epochs is None else np.asarray(epochs)
    layer = g.layer_of()
    names = np.array(g.layer_names)[layer]
    node_in_layer = np.arange(N) - np.array(g.offsets)[layer]
    nodes = {
        "run": np.full(T * N, run, dtype=object), "member": np.full(T * N, member, dtype=np.int32),
        "entry": np.repeat(entries, N).astype(np.int64), "epoch": np.repeat(epochs, N).astype(np.int64),
        "layer": np.tile(layer, T).astype(np.int16), "layer_name": np.tile(names, T),
        "node": np.tile(np.arange(N), T).astype(np.int64), "node_in_layer": np.tile(node_in_layer, T),
    }
    per_epoch = {"run": np.full(T, run, dtype=object), "member": np.full(T, member, dtype=np.int32),
                 "entry": entries.astype(np.int64), "epoch": epochs.astype(np.int64),
                 "n_edges": np.asarray(g.n_edges if g.stacked else [g.n_edges], dtype=np.int64)}
    for k, v in (scalars or {}).items():
        per_epoch[k] = np.asarray(v, dtype=np.float64)
    to_np = g.backend.to_numpy
    for item in metrics:
        name, options = (item, {}) if isinstance(item, str) else item
        metric = get_metric(name)
        cols = metric.compute(g, **options)
        for col in metric.columns:
            v = np.asarray(to_np(cols[col]))
            v = v if g.stacked else v[None]
            if metric.kind == "node":
                nodes[col] = v.reshape(T * N)
            elif metric.kind == "layer":
                for l, lname in enumerate(g.layer_names):
                    per_epoch[f"{col}_{lname}"] = v[:, l]
            else:
                per_epoch[col] = v.reshape(T)
    return pd.DataFrame(nodes), pd.DataFrame(per_epoch)


def _load(run, member, entries, spec, device):
    """Read a batch of entries of one member as a thresholded graph, with its scalars and epoch numbers."""
    store = EpochStore.open(run)
    try:
        # one entry: its blocks are used as read (no stacking copy), so a task holds one copy of the weights
        g = store.stack(entries, member=member) if len(entries) > 1 else store.graph(entries[0], member=member)
        g = apply_threshold(g.to(device) if device != "cpu" else g, spec)
        sc = store.scalars()
        scalars = {k: (v[entries, member] if v.ndim == 2 else v[entries]) for k, v in sc.items()}
        epochs = np.asarray(store.epochs)[entries]
    finally:
        store.close()
    return g, scalars, epochs


def _compute(run, member, entries, metrics, spec, loaded):
    g, scalars, epochs = loaded
    n_edges = np.atleast_1d(g.n_edges)
    if (n_edges == 0).any():
        k = int(np.argmax(n_edges == 0))
        raise InputError(f"the threshold {describe_threshold(spec)} leaves no edge in entry {entries[k]} "
                         f"(epoch {epochs[k]}) of member {member}: lower it")
    return compute_tables(g, metrics, scalars, Path(run).name, member, np.asarray(entries), epochs)


def _write(out, member, entries, tables):
    name = f"part-m{member:04d}-i{entries[0]:07d}-{entries[-1]:07d}.parquet"
    nodes, per_epoch = tables
    _write_part(nodes, Path(out) / "nodes" / name)
    _write_part(per_epoch, Path(out) / "epochs" / name)
    return name


def _run_task(run, out, member, entries, metrics, spec, device):
    """One task: read a batch of entries of one member, compute, write both parts atomically."""
    loaded = _load(run, member, entries, spec, device)
    return _write(out, member, entries, _compute(run, member, entries, metrics, spec, loaded))


def _run_task_once(*args):
    """:func:`_run_task` for Dask: a user error (:class:`DeepcntError`) is returned, not raised, so that Dask does
    not retry it (it retries what raises, for lost workers) and the worker logs nothing; the client raises it."""
    try:
        return _run_task(*args)
    except DeepcntError as exc:
        return exc


def _run_local(args, progress, prefetch=True):
    """The tasks in this process. With ``prefetch``, the next batch is read and the last tables written by an
    I/O thread while the kernels compute (the kernels release the GIL); without, one batch is in memory."""
    from concurrent.futures import ThreadPoolExecutor

    if not prefetch:
        bar = _progress(len(args), progress)
        try:
            for a in args:
                _run_task(*a)
                bar.update(1)
        finally:
            bar.close()
        return
    bar = _progress(len(args), progress)
    with ThreadPoolExecutor(max_workers=1) as io:
        writes = []
        nxt = io.submit(_load, args[0][0], args[0][2], args[0][3], args[0][5], args[0][6]) if args else None
        try:
            for k, (run, out, member, entries, metrics, spec, device) in enumerate(args):
                loaded = nxt.result()
                if k + 1 < len(args):
                    r2, _, m2, e2, _, s2, d2 = args[k + 1]
                    nxt = io.submit(_load, r2, m2, e2, s2, d2)
                tables = _compute(run, member, entries, metrics, spec, loaded)
                writes.append(io.submit(_write, out, member, entries, tables))
                for w in [w for w in writes if w.done()]:
                    w.result()
                    writes.remove(w)
                    bar.update(1)
            for w in writes:
                w.result()
                bar.update(1)
        finally:
            bar.close()


def _differences(old, new):
    """The settings that differ, in words: ``threshold top 30% of |w| per block there, w != 0 here``."""
    def words(k, v):
        return describe_threshold(threshold_spec(v)) if k == "threshold" else json.dumps(v)

    return "; ".join(f"{k} {words(k, old[k])} there, {words(k, new[k])} here" for k in old if old[k] != new[k])


def _prepare_out(out, meta, old, overwrite):
    """Make ``out`` hold an analysis with ``meta`` (``old``: its metadata before, or None). The caller holds
    the lock of ``out``, so every temporary found there is a dead writer's."""
    if old is not None and overwrite:
        _clear_analysis(out)
    elif old is not None:
        same = {k: old.get(k) for k in ("metrics", "threshold", "members")}
        same["options"] = old.get("options") or {}  # analyses made before options were recorded had none
        if same != {k: meta[k] for k in same}:
            raise InputError(f"{out} holds an analysis made with other settings ({_differences(same, meta)}): "
                             "recompute it with --overwrite (overwrite=True) or choose another output directory")
        made_with, now = (old.get("versions") or {}).get("deepcnt"), meta["versions"]["deepcnt"]
        if made_with is not None and made_with != now:  # a metric's definition may differ: the rows would mix
            raise InputError(f"{out} holds an analysis made by deepcnt {made_with}, and this is deepcnt {now}: "
                             "recompute it with --overwrite (overwrite=True) or choose another output directory")
    tmp = out / f".meta.json.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, out / "meta.json")
    finally:
        tmp.unlink(missing_ok=True)
    for table in _TABLES:
        (out / table).mkdir(exist_ok=True)
        for stale in (out / table).glob(".part-*.tmp"):
            stale.unlink(missing_ok=True)


def analyze(run, metrics=None, threshold=None, threshold_mode="abs", per_block=False, device="cpu",
            scheduler=None, workers=None, batch=None, out=None, members=None, overwrite=False, progress=False,
            options=None):
    """Compute the registered metrics for every epoch of a run and write the per-node and per-epoch tables.

    Parameters
    ----------
    run : str or Path
        An epoch store (``deepcnt.EpochStore``) directory.
    metrics : list of str or str, optional
        Registered metric names (``deepcnt.metric_names()``); default every metric registered as default
        (for runs with convolution, sparse, identity or diagonal blocks, those that do not need explicit
        edges; for a block DAG, those defined on it: degree, strength, knn and La Malfa's).
    threshold : float, optional
        ``θ`` for ``threshold_mode="abs"`` or the kept fraction for ``"proportional"``; None keeps every
        non-zero weight.
    threshold_mode : {"abs", "proportional"}
    per_block : bool
        Proportional thresholds per block.
    device : {"cpu", "gpu"}
    scheduler : str, optional
        Address of a running Dask scheduler to join (``tcp://host:8786``), e.g. one started by dask-jobqueue
        (SLURM, PBS) or dask-mpi on a cluster.
    workers : int, optional
        Start a Dask LocalCluster of this many worker processes. Neither given: run in this process.
    batch : int, optional
        Entries per task (an epoch stack); default: as many as fit in 256 MiB of weights, at most 16.
    out : str or Path, optional
        Output directory; default ``<run>/analysis``.
    members : list of int, optional
        Ensemble members to analyse; default all.
    overwrite : bool
        Delete an existing analysis first (otherwise it is resumed, and must have the same settings). Only
        what ``analyze`` wrote is deleted (``meta.json`` and the table parts); a directory that is not an
        analysis is refused.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    options : dict of str -> dict, optional
        Options of the metrics, by metric name: ``{"modularity": {"runs": 500}}`` makes every epoch's Q that of
        a 500-run consensus partition. The names are the keyword arguments of each metric
        (``deepcnt metrics`` lists them); they are recorded with the analysis, which is resumed only with
        the same options. Options that tie the epochs together (``modularity``/``communities``:
        ``init="previous"``, ``across_epochs=True``) analyse each member's entries in one task (one stack of
        every epoch); a member whose run has grown since is recomputed as a whole.

    Returns
    -------
    Analysis

    Raises
    ------
    InputError
        Missing or corrupt run, unknown metric, bad threshold, a threshold that empties a graph, an analysis
        made with other settings in ``out``, an ``out`` that is not an analysis, another ``analyze`` writing
        to ``out``.
    DeviceError
        ``device="gpu"`` without a GPU.
    """
    run = Path(run)
    if not run.exists():
        raise InputError(f"run {run} does not exist: train or ingest one first (deepcnt train / deepcnt ingest)")
    store = EpochStore.open(run)
    try:
        n_entries, E, sizes = len(store), store.n_members, store.sizes
        itemsize = store.dtype.itemsize
        implicit = any(store.block_specs)
        opaque = any(sp and sp["kind"] not in ("identity", "diagonal", "sparse") for sp in store.block_specs)
        words = {"conv": "convolution", "pool": "pooling"}
        kinds = list(dict.fromkeys(words.get(sp["kind"], sp["kind"]) for sp in store.block_specs if sp))
        pairs = store.pairs
        chain = pairs == tuple((l, l + 1) for l in range(len(sizes) - 1))
    finally:
        store.close()
    names = _metric_list(metrics, implicit, chain, opaque)
    options = metric_options(options, names)
    spec = threshold_spec(threshold, threshold_mode, per_block)
    members = list(range(E)) if members is None else [int(m) for m in members]
    for m in members:
        if not 0 <= m < E:
            raise InputError(f"member {m} does not exist: this run has members 0..{E - 1}")
    per_epoch = itemsize * sum(sizes[i] * sizes[j] for i, j in pairs)  # dense upper bound
    spans = [n for n in names if REGISTRY[n].spans_epochs and REGISTRY[n].spans_epochs(options.get(n, {}))]
    if batch is not None and int(batch) < 1:
        raise InputError(f"batch must be >= 1, got {batch}")
    if spans:  # every epoch of a member in one task: an epoch's values depend on the others
        if batch is not None and int(batch) < n_entries:
            raise InputError(f"the options of {', '.join(spans)} tie the epochs together (init='previous' or "
                             f"across_epochs), so each member's {n_entries} entries are analysed in one task: "
                             "leave batch unset")
        batch = max(n_entries, 1)
    elif batch is None:
        batch = int(max(1, min(MAX_BATCH, BATCH_BYTES // max(per_epoch, 1))))
    get_backend(device)  # DeviceError now, before anything is written
    if not chain:
        refused = [n for n in names if not REGISTRY[n].skips]
        if refused:
            raise InputError(chain_refusal(", ".join(refused), pairs, len(sizes)).replace(
                "work on them", "work on them: leave the others out (the default metrics of this run do)")
                + "".join(f". {REGISTRY[n].instead}" for n in refused if REGISTRY[n].instead))
    if implicit:
        edges = [n for n in names if not REGISTRY[n].reads(implicit, opaque)]
        if edges:
            raise InputError(f"{', '.join(edges)} {'needs' if len(edges) == 1 else 'need'} explicit edges, but this "
                             f"run has {' and '.join(kinds)} blocks: leave it out (the default metrics work on "
                             f"{kinds[0]} runs)")
    out = run / "analysis" if out is None else Path(out)
    _check_out(out, run, overwrite)  # refused before anything is created
    meta = {"format": ANALYSIS_FORMAT, "run": str(run), "metrics": names, "threshold": spec, "members": members,
            "options": options, "batch": int(batch), "device": device, "versions": _versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        with _OutputLock(out):
            old = _read_out_meta(out)  # again, under the lock
            fresh = old is None or overwrite
            try:
                _prepare_out(out, meta, old, overwrite)
                done = _done_entries(out)
                tasks = []
                for m in members:
                    todo = [i for i in range(n_entries) if (m, i) not in done]
                    if spans and 0 < len(todo) < n_entries:  # the run has grown: the member again, as a whole
                        _drop_member(out, m)
                        todo = list(range(n_entries))
                    tasks += [(m, b) for b in _batches(todo, int(batch))]
                skipped = len(members) * n_entries - sum(len(b) for _, b in tasks)
                calls = [(n, options.get(n, {})) for n in names]
                args = [(str(run), str(out), m, b, calls, spec, device) for m, b in tasks]
                if scheduler is None and workers is None:
                    # read ahead only while two batches fit the budget: a huge network keeps one epoch in memory
                    _run_local(args, progress, prefetch=2 * int(batch) * per_epoch <= BATCH_BYTES)
                else:
                    _run_dask(args, scheduler, workers, progress)
                for table in _TABLES:
                    _unify_columns(out / table)
            except Exception:
                if fresh:  # a failed new analysis leaves nothing (an interrupted one stays, to be resumed)
                    try:
                        _clear_analysis(out)
                    except OSError:
                        pass
                raise
    except OSError as exc:
        if isinstance(exc, StorageError) or (exc.filename is None and exc.errno not in _WRITE_ERRNOS):
            raise  # ours already, or not the file system's (e.g. a Dask scheduler that does not answer)
        raise _storage_error(exc, out) from None
    return Analysis(out, len(tasks), skipped)


def _run_dask(args, scheduler, workers, progress):
    """Run the tasks on Dask distributed: join ``scheduler`` or start a LocalCluster of ``workers``."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        if int(workers) < 1:
            raise InputError(f"workers must be >= 1, got {workers}")
        # the cores are shared out between the worker processes (no oversubscription of Numba/BLAS threads)
        per = str(max(1, (os.cpu_count() or 1) // int(workers)))
        env = {"NUMBA_NUM_THREADS": per, "OMP_NUM_THREADS": per, "OPENBLAS_NUM_THREADS": per, "MKL_NUM_THREADS": per}
        # silence_logs: the workers' warnings (e.g. on the tasks cancelled after a user error) are not for the user
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1", env=env, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [client.submit(_run_task_once, *a, pure=False, retries=3) for a in args]
        bar = _progress(len(futures), progress)
        try:
            for fut in as_completed(futures):
                res = fut.result()  # re-raises a task's unexpected error here
                if isinstance(res, DeepcntError):  # a user error: fails once, the other tasks are cancelled
                    client.cancel(futures)
                    raise res
                bar.update(1)
        finally:
            bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _progress(total, show):
    from .progress import progress_bar

    return progress_bar(total, "analyze", "task", show)
