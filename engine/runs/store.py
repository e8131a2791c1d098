"""``EpochStore``: every saved epoch of a training run (all blocks and biases of all ensemble members, plus
per-epoch scalars) in one directory that the analysis streams from (DESIGN "Training and the epoch store").

Layout of a run directory::

    meta.json        architecture (sizes, layer names, members, dtype, biases, and for a block DAG the
                     layer pair and kind of every block), preset, seed, data, versions
    arrays.zarr/     zarr v3 group: W0..W{B-1} of shape (capacity, E, n_i, n_j) for the dense block ``b`` on the
                     pair ``(i, j)`` (``(l, l+1)`` in a chain), one chunk per epoch; a convolution's kernel
                     (capacity, E, C_out, C_in/groups, kh, kw), a diagonal block's ``d`` (capacity, E, n);
                     b of shape (capacity, E, n_1 + ... + n_L) (the biases of every non-input layer)
    sparse/W{b}/c.<i>  a sparse block's entry ``i`` (CSR per member, O(kept edges)): ``indptr`` int64 (E, n_i + 1)
                     (offsets into this file's entries, member ``m``'s rows at ``indptr[m]``), then ``indices``
                     (nnz,) int32 (int64 past 2^31 columns), then ``data`` (nnz,) in the store's dtype, all
                     little-endian, nnz = ``indptr[-1, -1]``
    index.jsonl      the commit log: one JSON line per complete epoch (epoch number, scalars, time, and the
                     CRC-32 of each array's bytes per member, checked on every read)
    state/<i>.npz    optional resume state saved with entry i (optimiser buffers, RNG state)
    write.lock       the host and pid of the one writer

Atomicity: an append writes the arrays of slot ``i`` (and its resume state) first and commits by appending
one newline-terminated line to ``index.jsonl`` in a single ``write``. Readers count only complete lines, so a
crash at any point (even mid-line) leaves only complete epochs visible; the half-written slot and any partial
line are dropped by the next writer. Committed slots are never rewritten, so any number of readers (other
processes) can read while one writer appends. ``durable=True`` also fsyncs the chunks and the log (survives a
power failure, not only a killed process).

Uncompressed stores (the default) read and write their chunk files directly, as raw little-endian bytes: the
layout zarr's ``bytes`` codec defines, so zarr, dask and xarray read the same directory. Compressed stores go
through zarr (sparse blocks are raw files in either case). zarr is imported lazily.

Formats: 1 holds a chain of dense blocks, 2 a chain with convolution and pooling blocks (``meta["blocks"]``:
one geometry or None per block), 3 a block DAG (``meta["pairs"]``: the layer pair of every block, sorted) or
identity, diagonal and sparse blocks (``{"kind": "identity" | "diagonal" | "sparse"}`` in ``meta["blocks"]``).
A store is written in the lowest format that holds it, so chain stores are unchanged.

The parts: :mod:`deepcnt.runs.store_format` (format versions, block descriptions), :mod:`deepcnt.runs.store_files`
(atomic writes, the commit log, the writer lock), :mod:`deepcnt.runs.store_chunks` (chunk and sparse files,
CRC checks), :mod:`deepcnt.runs.store_read` (the reading methods). This module holds :class:`EpochStore`:
creating, opening, locking and appending.
"""
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ..backend import to_host
from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.conv import ConvBlock, block_spec
from ..model.diagonal import DiagonalBlock, IdentityBlock
from ..model.graph import LayeredGraph
from ..model.sparse import SparseBlock
from .store_chunks import _Chunks
# acquire_lock (runs.pipeline), _pid_alive (bindings.torch) and the format constants are imported from here
from .store_files import (_append_line, _atomic_write, _check_replaceable, _pid_alive, _read_json,  # noqa: F401
                          acquire_lock)
from .store_format import (_KEYS, CAPACITY, FORMAT, FORMAT_VERSION, PLAIN_KINDS, _block_specs,  # noqa: F401
                           _check_epoch, _format_version, _is_raw, _spec_of, _versions)
from .store_read import _Reading


class EpochStore(_Reading, _Chunks):
    """A run directory holding every saved epoch of one training run (one or many ensemble members).

    Create one with :meth:`create` (writer) or open one with :meth:`open` (``mode="r"`` reader, ``"a"``
    writer that resumes after the last complete epoch). Entries are addressed by position ``i`` in
    ``0..len(store)-1``; ``store.epochs[i]`` is the training epoch saved there.

    Attributes
    ----------
    sizes : tuple of int
        Layer sizes ``(n_0, ..., n_L)``.
    pairs : tuple of (int, int)
        The layer pair of each block (``(l, l+1)`` in a chain), in the order of a graph's ``pairs``.
    block_specs : list
        Per block: None (dense) or its description (``{"kind": "conv" | "pool" | "identity" | "diagonal" |
        "sparse", ...}``).
    n_members : int
        Ensemble size ``E`` (every entry holds all members).
    has_biases : bool
    metadata : dict
        Everything recorded at creation (preset, seed, data, hyper-parameters, versions).

    Examples
    --------
    >>> s = EpochStore.create(tmp / "run", sizes=(2, 3, 1))                 # doctest: +SKIP
    >>> s.append(0, [W1, W2], biases=[b1, b2], scalars={"loss": 0.7})     # doctest: +SKIP
    >>> g = EpochStore.open(tmp / "run").graph(0)                         # doctest: +SKIP
    """

    def __init__(self, path, mode, durable=False):
        self.path = Path(path)
        self.mode = mode
        self.durable = bool(durable)
        self._lock = None
        self._log_fd = None
        meta = _read_json(self.path / "meta.json", "epoch store metadata")
        if meta.get("format") != FORMAT:
            raise InputError(f"{self.path} is not a deepcnt epoch store (meta.json has no format {FORMAT!r})")
        if meta.get("format_version", 0) > FORMAT_VERSION:
            raise InputError(f"{self.path} was written by a newer deepcnt (format {meta['format_version']})")
        self.meta = meta
        self.sizes = tuple(int(n) for n in meta["sizes"])
        self.layer_names = tuple(meta["layer_names"])
        self.n_members = int(meta["n_members"])
        self.has_biases = bool(meta["biases"])
        self.dtype = np.dtype(meta["dtype"])
        self.metadata = meta.get("metadata", {})
        given = meta.get("pairs")
        try:
            self.pairs, specs = _block_specs(meta.get("blocks"), self.sizes, given)
            if given is not None and [list(p) for p in self.pairs] != [list(p) for p in given]:
                raise InputError("the block pairs are not in order")
        except (InputError, TypeError, KeyError, ValueError, AttributeError) as exc:
            raise InputError(f"epoch store metadata {self.path / 'meta.json'} is corrupt: its blocks do not fit "
                             f"its layers ({exc})") from None
        #: per block: None (dense) or the description of an implicit block (:func:`_spec_of`)
        self.block_specs = list(specs)
        self._kinds = [None if sp is None else sp.get("kind") for sp in self.block_specs]
        #: graphs are built with from_blocks (a DAG, or kinds from_weights does not adapt) rather than from_weights
        self._dag = meta.get("format_version", 1) >= 3
        if mode == "a":
            self._acquire_lock()
        self._open_arrays()
        self.refresh()
        if mode == "a":
            self._clean_orphans()
            self._log_fd = os.open(self.path / "index.jsonl", os.O_WRONLY | os.O_APPEND)

    # ------------------------------------------------------------------ create / open
    @classmethod
    def create(cls, path, sizes, n_members=1, biases=True, dtype="float32", layer_names=None, metadata=None,
               overwrite=False, compress=False, durable=False, blocks=None, pairs=None):
        """Create an empty store at ``path`` and return it open for appending.

        Parameters
        ----------
        path : str or Path
            The run directory (must not exist, unless ``overwrite``: then an existing epoch store that no
            live process writes, or an empty directory, is replaced; anything else is refused).
        sizes : sequence of int
            Layer sizes ``(n_0, ..., n_L)``.
        n_members : int
            Ensemble size ``E``.
        biases : bool
            Whether entries carry biases (``False``: graphs are built without biases).
        dtype : str
            ``"float32"`` or ``"float64"``; appended arrays are stored in it bit for bit.
        metadata : dict, optional
            JSON-serialisable record (preset, seed, data, hyper-parameters); versions are added.
        compress : bool
            zstd-compress the chunks (smaller, slower; weights compress poorly).
        durable : bool
            fsync the chunks and the log at every append (power-failure safe; slower).
        blocks : sequence, optional
            Per block (in the order of ``pairs``), None (a dense (n_i, n_j) block), a block kind
            (``"dense"``, ``"identity"``, ``"diagonal"``, ``"sparse"``), an implicit block's geometry from
            ``deepcnt.model.conv.block_spec``, or the block itself (a graph's ``g.blocks``): a convolution
            stores its kernel (E, C_out, C_in/groups, kh, kw) per entry, a diagonal block its diagonal (E, n), a
            sparse block its CSR arrays (O(kept edges)), an identity or a pooling layer nothing.
        pairs : sequence of (int, int), optional
            The layer pair ``(i, j)``, ``i < j``, of each block: a block DAG (skips, residuals), as a graph's
            ``g.pairs``. Default the chain ``(0, 1), ..., (L-1, L)``. See :meth:`create_for` to take the
            layout from a graph.
        """
        import zarr

        path = Path(path)
        sizes = [int(n) for n in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise InputError(f"sizes {sizes} is not an architecture: give at least two layer sizes, all >= 1")
        if int(n_members) < 1:
            raise InputError(f"n_members must be >= 1, got {n_members}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise InputError(f"dtype {dtype} is not supported: use float32 or float64")
        if layer_names is None:
            layer_names = [f"L{l}" for l in range(len(sizes))]
        if len(layer_names) != len(sizes):
            raise InputError(f"layer_names has {len(layer_names)} names for {len(sizes)} layers")
        pairs, specs = _block_specs(blocks, sizes, pairs)
        version = _format_version(pairs, specs)
        if path.exists():
            if not overwrite:
                raise InputError(f"{path} exists already: open it with EpochStore.open(path, 'a') to resume, "
                                 "or choose another run directory")
            _check_replaceable(path)
            shutil.rmtree(path)
        path.mkdir(parents=True)
        meta = {
            "format": FORMAT, "format_version": version, "sizes": sizes, "layer_names": list(layer_names),
            "n_members": int(n_members), "biases": bool(biases), "dtype": dtype.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(),
            "metadata": dict(metadata or {}),
        }
        if version >= 3:
            meta["pairs"] = [list(p) for p in pairs]
        if any(specs):
            meta["blocks"] = specs
        try:
            E = int(n_members)
            comp = "auto" if compress else None
            group = zarr.open_group(path / "arrays.zarr", mode="w")
            for l, ((i, j), spec) in enumerate(zip(pairs, specs)):
                kind = None if spec is None else spec["kind"]
                if kind in ("pool", "identity"):
                    continue  # no parameters
                if kind == "sparse":
                    (path / "sparse" / f"W{l}").mkdir(parents=True)
                    continue
                shape = {None: (sizes[i], sizes[j]), "diagonal": (sizes[i],)}.get(kind) or tuple(spec["kernel_shape"])
                group.create_array(f"W{l}", shape=(CAPACITY, E) + shape, chunks=(1, E) + shape, dtype=dtype,
                                   compressors=comp, fill_value=np.nan, chunk_key_encoding=_KEYS)
            if biases:
                nb = sum(sizes[1:])
                group.create_array("b", shape=(CAPACITY, E, nb), chunks=(1, E, nb), dtype=dtype,
                                   compressors=comp, fill_value=np.nan, chunk_key_encoding=_KEYS)
            (path / "index.jsonl").write_bytes(b"")
            # meta.json last: a directory without it is not a store (a crash during create leaves no half store)
            _atomic_write(path / "meta.json", json.dumps(meta, indent=1).encode())
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # created here: a failed create leaves nothing
            raise
        return cls(path, "a", durable=durable)

    @classmethod
    def create_for(cls, path, graph, **kwargs):
        """Create an empty store for the architecture of ``graph`` (its sizes, layer names, block pairs and
        kinds; biases when it has them) and return it open for appending (:meth:`append_graph`).

        ``kwargs`` are those of :meth:`create` (``n_members``, ``dtype``, ``metadata``, ...); the dtype defaults
        to float64 when a block of ``graph`` holds float64 weights, else float32.
        """
        if not isinstance(graph, LayeredGraph):
            raise InputError(f"create_for needs a LayeredGraph, got {type(graph).__name__}")
        if "dtype" not in kwargs:
            kwargs["dtype"] = "float64" if any(np.dtype(b.dtype) == np.float64 for b in graph.blocks) else "float32"
        kwargs.setdefault("biases", graph.biases is not None)
        kwargs.setdefault("layer_names", graph.layer_names)
        return cls.create(path, graph.sizes, blocks=list(graph.blocks), pairs=graph.pairs, **kwargs)

    @classmethod
    def open(cls, path, mode="r", durable=False):
        """Open an existing store: ``mode="r"`` to read, ``"a"`` to append after its last complete epoch
        (``durable=True``: fsync every append)."""
        if mode not in ("r", "a"):
            raise InputError(f"unknown mode {mode!r}: use 'r' (read) or 'a' (append)")
        path = Path(path)
        if not path.is_dir():
            raise InputError(f"no epoch store at {path}: the directory does not exist")
        return cls(path, mode, durable=durable)

    def _open_arrays(self):
        import zarr

        try:
            group = zarr.open_group(self.path / "arrays.zarr", mode="r+" if self.mode == "a" else "r")
            self._W = [None if kind in ("pool", "identity", "sparse") else group[f"W{l}"]
                       for l, kind in enumerate(self._kinds)]
            self._b = group["b"] if self.has_biases else None
        except Exception as exc:
            raise InputError(f"the arrays of epoch store {self.path} are missing or corrupt "
                             f"({exc.__class__.__name__}: {exc})") from None
        arrays = [W for W in self._W if W is not None] + ([self._b] if self.has_biases else [])
        self._ndim = {f"W{l}": len(W.shape) for l, W in enumerate(self._W) if W is not None}
        self._ndim["b"] = 3
        self._raw = all(_is_raw(a) for a in arrays)

    def refresh(self):
        """Re-read the commit log (a reader sees the epochs a writer has committed since)."""
        log = self.path / "index.jsonl"
        try:
            raw = log.read_bytes()
        except FileNotFoundError:
            raise InputError(f"epoch store log {log} is missing: this is not a complete epoch store") from None
        lines = raw.split(b"\n")
        self._tail = len(raw) - len(lines[-1])  # bytes of complete lines; a partial last line is not committed
        entries = []
        for k, line in enumerate(lines[:-1]):
            try:
                e = json.loads(line)
                _check_epoch(e["epoch"])
            except (ValueError, KeyError, TypeError):  # InputError is a ValueError
                raise InputError(f"epoch store log {log} is corrupt at line {k + 1}") from None
            entries.append(e)
        self._entries = entries
        return self

    # ------------------------------------------------------------------ the writer lock
    def _acquire_lock(self):
        self._lock = acquire_lock(
            self.path / "write.lock",
            lambda pid, host, lock: f"epoch store {self.path} is being written by process {pid} on {host}: "
                                    "one writer at a time (readers may open it with mode='r'; if that process "
                                    f"is gone, delete {lock})")

    def close(self):
        """Release the write lock (a reader has nothing to release)."""
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        if self._lock is not None:
            self._lock.unlink(missing_ok=True)
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _clean_orphans(self):
        n = len(self._entries)
        log = self.path / "index.jsonl"
        if log.stat().st_size != self._tail:  # a partial line left by a killed writer
            os.truncate(log, self._tail)
        sdir = self.path / "state"
        if sdir.is_dir():
            for f in sdir.iterdir():
                stem = f.name.split(".")[0]
                if f.name.startswith(".") or (stem.isdigit() and int(stem) >= n):
                    f.unlink(missing_ok=True)

    # ------------------------------------------------------------------ shape of the run
    def __len__(self):
        return len(self._entries)

    @property
    def n_epochs(self):
        """Number of complete entries."""
        return len(self._entries)

    @property
    def epochs(self):
        """The training epoch saved at each position, shape (T,)."""
        return np.array([e["epoch"] for e in self._entries], dtype=np.int64)

    def __repr__(self):
        dag = "" if not self._dag else f", blocks={list(self.pairs)}"
        return (f"EpochStore({str(self.path)!r}, sizes={self.sizes}{dag}, members={self.n_members}, "
                f"epochs={len(self)}, mode={self.mode!r})")

    def _pos(self, i):
        T = len(self._entries)
        if not isinstance(i, (int, np.integer)) or not -T <= i < T:
            raise InputError(f"entry {i!r} does not exist: the store holds entries 0..{T - 1}")
        return int(i) % T

    def index_of(self, epoch):
        """Position of training epoch ``epoch``."""
        hits = np.flatnonzero(self.epochs == epoch)
        if hits.size == 0:
            raise InputError(f"epoch {epoch} was not saved in {self.path}")
        return int(hits[0])

    # ------------------------------------------------------------------ writing
    def _check_member_stack(self, a, shape, what):
        a = np.asarray(a)
        E = self.n_members
        if a.shape == shape and E == 1:
            a = a[None]
        if a.shape != (E,) + shape:
            raise InputError(f"{what} has shape {a.shape}: expected {(E,) + shape}"
                             + (f" or {shape}" if E == 1 else "") + f" for this store's architecture {self.sizes}")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{what} holds NaN or infinite values: not appended")
        return np.ascontiguousarray(a, dtype=self.dtype)

    def append(self, epoch, weights, biases=None, scalars=None, state=None):
        """Append one entry atomically.

        Parameters
        ----------
        epoch : int
            The training epoch; larger than every epoch already stored.
        weights : sequence, one per block (in the order of :attr:`pairs`)
            A dense block: an array (E, n_i, n_j) (or (n_i, n_j) when E = 1); a convolution: its kernel
            (E, C_out, C_in/groups, kh, kw); a diagonal block: its diagonal (E, n) or the ``DiagonalBlock``; a
            sparse block: a ``SparseBlock`` of E epochs (one per member), a scipy matrix or a dense array
            (zeros are dropped); an identity or pooling block: None (nothing is stored). A ``SparseBlock``
            given for a dense block is stored dense.
            :meth:`append_graph` takes a graph instead.
        biases : sequence of arrays, each shape (E, n_l) (or (n_l,)), of layers 1..L; required iff the store
            has biases
        scalars : dict of str -> float or sequence of E floats, optional
            Loss, accuracies, reconstruction error (one value, or one per member).
        state : dict of str -> array, optional
            Resume state (optimiser buffers, RNG states) kept with this entry; see :meth:`last_state`.
        """
        if self.mode != "a":
            raise InputError(f"epoch store {self.path} is open read-only: open it with mode='a' to append")
        epoch = _check_epoch(epoch)
        if self._entries and epoch <= self._entries[-1]["epoch"]:
            raise InputError(f"epoch {epoch} is not after the last stored epoch {self._entries[-1]['epoch']}")
        L = len(self.sizes) - 1
        if len(weights) != len(self.pairs):
            raise InputError(f"{len(weights)} weight blocks given for an architecture of {len(self.pairs)} blocks "
                             f"{self.sizes}")
        ws = [self._check_block(l, w) for l, w in enumerate(weights)]
        if self.has_biases:
            if biases is None or len(biases) != L:
                raise InputError(f"this store keeps biases: give {L} bias vectors (one per block)")
            bs = [self._check_member_stack(b, (self.sizes[l + 1],), f"biases[{l}]") for l, b in enumerate(biases)]
            bcat = np.concatenate(bs, axis=1)
        elif biases is not None and any(np.any(np.asarray(b) != 0) for b in biases):
            raise InputError("this store was created with biases=False but non-zero biases were given")
        rec = {}
        for k, v in (scalars or {}).items():
            v = np.asarray(v, dtype=np.float64)
            if v.ndim == 0:
                rec[str(k)] = float(v)
            elif v.shape == (self.n_members,):
                rec[str(k)] = [float(x) for x in v]
            else:
                raise InputError(f"scalar {k!r} has shape {v.shape}: give one number or one per member "
                                 f"({self.n_members})")
        i = len(self._entries)
        # 1. the arrays of slot i (invisible until committed), with their checksums
        crc = {}
        for l, w in enumerate(ws):
            if self._kinds[l] == "sparse":
                crc[f"W{l}"] = self._write_sparse(l, i, *w)
            elif w is not None:
                crc[f"W{l}"] = self._write_chunk(self._W[l], f"W{l}", i, w)
        if self.has_biases:
            crc["b"] = self._write_chunk(self._b, "b", i, bcat)
        # 2. the resume state of slot i
        if state is not None:
            sdir = self.path / "state"
            sdir.mkdir(exist_ok=True)
            tmp = sdir / f".{i}.tmp-{os.getpid()}.npz"
            with open(tmp, "wb") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in state.items()})
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, sdir / f"{i}.npz")
        # 3. commit: one complete line appended to the log
        entry = {"epoch": epoch, "scalars": rec, "time": time.time(), "state": state is not None, "crc": crc}
        _append_line(self._log_fd, (json.dumps(entry) + "\n").encode())
        if self.durable:
            os.fsync(self._log_fd)
        self._entries = self._entries + [entry]
        # 4. older resume states are no longer needed
        if state is not None:
            for f in (self.path / "state").glob("*.npz"):
                stem = f.name.split(".")[0]
                if stem.isdigit() and int(stem) < i:
                    f.unlink(missing_ok=True)
        return i

    def _check_block(self, l, w):
        """What entry ``l`` of :meth:`append`'s weights stores: a checked member stack, the CSR arrays of a
        sparse block, or None for a block without parameters."""
        kind, what = self._kinds[l], f"weights[{l}]"
        if kind in ("pool", "identity"):
            return None
        if kind == "sparse":
            return self._check_sparse(l, w, what)
        if isinstance(w, DiagonalBlock) and kind == "diagonal":
            w = to_host(w.d)  # (T, n): T = E members
        elif isinstance(w, ConvBlock) and kind == "conv":
            w = to_host(w.kernel)
        elif isinstance(w, SparseBlock) and kind is None:  # held dense here: its entries, zeros elsewhere
            dense = np.zeros(w.shape, dtype=self.dtype)
            for t in range(w.shape[0]):
                r, c, v = w.edges(t, -1.0)
                dense[t, r, c] = v
            w = dense if w.stacked or self.n_members > 1 else dense[0]
        elif isinstance(w, ImplicitBlock) or type(w).__module__.split(".")[0] == "scipy":
            held = {None: "a dense block", "conv": "a convolution kernel", "diagonal": "a diagonal"}[kind]
            raise InputError(f"{what} is a {type(w).__name__}, but this store holds {held} on the pair "
                             f"{self.pairs[l]}")
        elif w is None:
            raise InputError(f"{what} is None, but this store holds the weights of the block on {self.pairs[l]}")
        return self._check_member_stack(to_host(w) if hasattr(w, "dtype") else w, tuple(self._W[l].shape[2:]), what)

    def _check_sparse(self, l, w, what):
        """``(indptr, indices, data)`` of a sparse block's entry: indptr (E, n_i + 1) int64 from 0 (members
        in order, contiguous), indices and data of the kept entries in the store's index dtype and dtype."""
        E = self.n_members
        i, j = self.pairs[l]
        if w is None:
            raise InputError(f"{what} is None, but this store holds a sparse block on the pair {(i, j)}")
        if not isinstance(w, SparseBlock):
            try:
                w = SparseBlock(to_host(w) if hasattr(w, "dtype") and not hasattr(w, "tocsr") else w)
            except InputError as exc:
                raise InputError(f"{what}: {exc}") from None
        if w.shape != (E, self.sizes[i], self.sizes[j]):
            raise InputError(f"{what} is a sparse block of {w.shape[0]} epoch(s) of shape {w.shape[1:]}: expected "
                             f"{E} (one per member) of shape {(self.sizes[i], self.sizes[j])}")
        indptr = to_host(w.indptr).astype(np.int64)
        if E > 1 and not np.array_equal(indptr[1:, 0], indptr[:-1, -1]):  # members not contiguous: repack
            w = SparseBlock.concat([w.take(t) for t in range(E)])
            indptr = to_host(w.indptr).astype(np.int64)
        r0, r1 = int(indptr[0, 0]), int(indptr[-1, -1])
        data = to_host(w.data)[r0:r1]
        if not np.all(np.isfinite(data)):
            raise InputError(f"{what} holds NaN or infinite values: not appended")
        itype = np.int32 if self.sizes[j] < 2**31 else np.int64
        return (np.ascontiguousarray(indptr - r0), np.ascontiguousarray(to_host(w.indices)[r0:r1], dtype=itype),
                np.ascontiguousarray(data, dtype=self.dtype))

    def append_graph(self, epoch, graph, scalars=None, state=None):
        """Append ``graph`` (one network, or an epoch stack of the E members) as one entry; see :meth:`append`.

        Its sizes and block pairs must be the store's; each block is stored as the store's kind holds it (a
        dense block of the graph goes into a sparse block of the store as its non-zero entries, a sparse block
        into a dense one with zeros elsewhere).
        """
        if not isinstance(graph, LayeredGraph):
            raise InputError(f"append_graph needs a LayeredGraph, got {type(graph).__name__}")
        if graph.sizes != self.sizes or graph.pairs != self.pairs:
            raise InputError(f"the graph has layers {graph.sizes} and blocks on {list(graph.pairs)}, but this store "
                             f"holds {self.sizes} with blocks on {list(self.pairs)}")
        T = graph.n_epochs if graph.stacked else 1
        if T != self.n_members:
            raise InputError(f"the graph holds {T} network(s): an entry of this store holds {self.n_members} "
                             "(one per member, as an epoch stack)")
        weights = []
        for l, b in enumerate(graph.blocks):
            kind = self._kinds[l]
            if kind in ("pool", "identity"):
                ok = isinstance(b, IdentityBlock) if kind == "identity" else _spec_of(b, "") == self.block_specs[l]
                if not ok:
                    raise InputError(f"the block on {self.pairs[l]} is a {type(b).__name__}, but this store holds "
                                     f"{'an identity' if kind == 'identity' else 'this pooling layer'} there")
                weights.append(None)
            elif kind == "conv" and (not isinstance(b, ConvBlock) or block_spec(b) != self.block_specs[l]):
                raise InputError(f"the block on {self.pairs[l]} is not the convolution this store holds there "
                                 "(another kind or geometry)")
            elif isinstance(b, ImplicitBlock) or kind == "sparse":
                weights.append(b)
            else:
                weights.append(to_host(b))  # a dense (T, n_i, n_j) stack
        biases = None
        if graph.biases is not None:
            biases = [to_host(b) for b in graph.biases]
        elif self.has_biases:
            biases = [np.zeros((self.n_members, n), self.dtype) for n in self.sizes[1:]]
        return self.append(epoch, weights, biases=biases, scalars=scalars, state=state)

    def last_state(self):
        """``(position, epoch, state)`` of the last complete entry that has a resume state, or ``None``."""
        for i in range(len(self._entries) - 1, -1, -1):
            if self._entries[i].get("state"):
                f = self.path / "state" / f"{i}.npz"
                if not f.exists():
                    return None
                try:
                    with np.load(f, allow_pickle=False) as z:
                        return i, self._entries[i]["epoch"], {k: z[k] for k in z.files}
                except Exception as exc:
                    raise InputError(f"resume state {f} is corrupt ({exc.__class__.__name__})") from None
        return None
