"""``EpochStore``: every saved epoch of a training run (all blocks and biases of all ensemble members, plus
per-epoch scalars) in one directory that the analysis streams from (DESIGN "Training and the epoch store").

Layout of a run directory::

    meta.json        architecture (sizes, layer names, members, dtype, biases), preset, seed, data, versions
    arrays.zarr/     zarr v3 group: W0..W{L-1} of shape (capacity, E, n_l, n_{l+1}), one chunk per epoch;
                     b of shape (capacity, E, n_1 + ... + n_L) (the biases of every non-input layer)
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
through zarr. zarr is imported lazily.
"""
import json
import os
import shutil
import socket
import time
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..model.blocks import ImplicitBlock
from ..model.conv import block_from_spec, block_spec
from ..model.graph import LayeredGraph

FORMAT = "deepcnt-epochstore"
#: 1: dense blocks only; 2: some blocks are implicit (convolution kernels + geometry, parameter-free pooling)
FORMAT_VERSION = 2
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


def _atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` atomically: a reader sees the old or the new file, never a part."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _append_line(fd, data):
    """Commit: one ``write`` of a newline-terminated line to the log opened with O_APPEND."""
    n = os.write(fd, data)
    if n != len(data):
        raise OSError(f"short write to the epoch log ({n} of {len(data)} bytes)")


def _read_json(path, what):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"{what} {path} is missing: this is not a complete epoch store") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} {path} is corrupt ({exc.__class__.__name__}): "
                         "the epoch store cannot be read") from None


def _block_specs(blocks, sizes):
    """Validated per-block geometry: None for dense blocks, a ``block_spec`` dict for implicit ones."""
    L = len(sizes) - 1
    if blocks is None:
        return [None] * L
    if len(blocks) != L:
        raise InputError(f"blocks has {len(blocks)} entries for an architecture of {L} blocks")

    specs = []
    for l, b in enumerate(blocks):
        spec = block_spec(b) if isinstance(b, ImplicitBlock) else (None if b is None else dict(b))
        if spec is not None:
            kernel = np.zeros([1] + list(spec["kernel_shape"])) if spec.get("kind") == "conv" else None
            blk = block_from_spec(spec, kernel, stacked=False)
            if blk.shape[1:] != (sizes[l], sizes[l + 1]):
                raise InputError(f"blocks[{l}] maps {blk.shape[1]} units to {blk.shape[2]} but the architecture "
                                 f"has {sizes[l]} -> {sizes[l + 1]}")
        specs.append(spec)
    return specs


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


def _check_replaceable(path):
    """Refuse to delete ``path`` for ``create(overwrite=True)`` unless it is an empty directory or an epoch
    store that no live process is writing (its write lock is taken, and goes with the directory)."""
    if path.is_dir() and not any(path.iterdir()):
        return
    try:
        fmt = json.loads((path / "meta.json").read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if fmt != FORMAT:
        raise InputError(f"{path} is not a deepcnt epoch store: refusing to delete it (overwrite only replaces "
                         "a run); choose another run directory")
    acquire_lock(path / "write.lock",
                 lambda pid, host, lock: f"epoch store {path} is being written by process {pid} on {host}: "
                                         "it cannot be overwritten now")


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


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age(path):
    try:
        return time.time() - Path(path).stat().st_mtime
    except OSError:
        return float("inf")


def acquire_lock(lock, busy):
    """Take the lock file ``lock`` for this process (O_EXCL, holding ``host pid``); return its path.

    A lock left by a dead process of this host (killed mid-write) is taken over. ``busy(pid, host, lock)``
    gives the message of the :class:`InputError` raised while a live process holds it. Release the lock by
    deleting the file.
    """
    lock = Path(lock)
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                host, pid = lock.read_text().split()
                pid = int(pid)
            except FileNotFoundError:
                continue  # released meanwhile
            except (OSError, ValueError):
                host, pid = socket.gethostname(), -1
                if _age(lock) < 10:  # just created, its owner has not written its name yet
                    raise InputError(busy("?", host, lock)) from None
            if host == socket.gethostname() and (pid < 0 or not _pid_alive(pid)):
                lock.unlink(missing_ok=True)  # stale: its writer died (e.g. killed mid-append)
                continue
            raise InputError(busy(pid, host, lock)) from None
        with os.fdopen(fd, "w") as f:
            f.write(me)
        return lock
    raise InputError(f"could not take the lock {lock}")


class EpochStore:
    """A run directory holding every saved epoch of one training run (one or many ensemble members).

    Create one with :meth:`create` (writer) or open one with :meth:`open` (``mode="r"`` reader, ``"a"``
    writer that resumes after the last complete epoch). Entries are addressed by position ``i`` in
    ``0..len(store)-1``; ``store.epochs[i]`` is the training epoch saved there.

    Attributes
    ----------
    sizes : tuple of int
        Layer sizes ``(n_0, ..., n_L)``.
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
        #: per block: None (dense) or the geometry of an implicit block (``deepcnt.model.conv.block_spec``)
        self.block_specs = list(meta.get("blocks") or [None] * (len(self.sizes) - 1))
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
               overwrite=False, compress=False, durable=False, blocks=None):
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
            Per block, None (a dense (n_l, n_{l+1}) block) or an implicit block's geometry from
            ``deepcnt.model.conv.block_spec`` (or the block itself): a convolution stores its kernel
            (E, C_out, C_in/groups, kh, kw) per entry, a pooling layer stores nothing.
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
        specs = _block_specs(blocks, sizes)
        if path.exists():
            if not overwrite:
                raise InputError(f"{path} exists already: open it with EpochStore.open(path, 'a') to resume, "
                                 "or choose another run directory")
            _check_replaceable(path)
            shutil.rmtree(path)
        path.mkdir(parents=True)
        meta = {
            "format": FORMAT, "format_version": 2 if any(specs) else 1, "sizes": sizes, "layer_names": list(layer_names),
            "n_members": int(n_members), "biases": bool(biases), "dtype": dtype.name,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": _versions(),
            "metadata": dict(metadata or {}),
        }
        if any(specs):
            meta["blocks"] = specs
        try:
            E = int(n_members)
            comp = "auto" if compress else None
            group = zarr.open_group(path / "arrays.zarr", mode="w")
            for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                spec = specs[l]
                if spec is not None and spec["kind"] == "pool":
                    continue  # no parameters
                shape = (a, b) if spec is None else tuple(spec["kernel_shape"])
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
            self._W = [None if spec is not None and spec["kind"] == "pool" else group[f"W{l}"]
                       for l, spec in enumerate(self.block_specs)]
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
        return (f"EpochStore({str(self.path)!r}, sizes={self.sizes}, members={self.n_members}, "
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
        weights : sequence of arrays, each shape (E, n_l, n_{l+1}) (or (n_l, n_{l+1}) when E = 1)
        biases : sequence of arrays, each shape (E, n_{l+1}) (or (n_{l+1},)), required iff the store has biases
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
        if len(weights) != L:
            raise InputError(f"{len(weights)} weight blocks given for an architecture of {L} blocks {self.sizes}")
        ws = [None if self._W[l] is None else self._check_member_stack(w, tuple(self._W[l].shape[2:]), f"weights[{l}]")
              for l, w in enumerate(weights)]
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
            if w is not None:
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

    # ------------------------------------------------------------------ chunks
    def _chunk_path(self, name, i):
        ndim = self._ndim[name]
        return Path(self.path, "arrays.zarr", name, ".".join(["c", str(i)] + ["0"] * (ndim - 1)))

    def _write_chunk(self, arr, name, i, a):
        """Write entry ``i`` of array ``name``; return the CRC-32 of each member's little-endian bytes."""
        a = np.ascontiguousarray(a, dtype=self.dtype.newbyteorder("<"))
        if not self._raw:
            arr[i] = a
        else:
            with open(self._chunk_path(name, i), "wb") as f:
                f.write(a.data)
                if self.durable:
                    f.flush()
                    os.fsync(f.fileno())
        return [zlib.crc32(m) for m in a]

    def _verify(self, name, i, member, a):
        """Check ``a`` (entry ``i`` of array ``name``: one ``member``'s part, or all members) against the
        checksums committed with it; entries written before checksums existed are not checked."""
        crcs = self._entries[i].get("crc", {}).get(name)
        if crcs is None:
            return
        members = range(len(crcs)) if member is None else [member]
        parts = a if member is None else [a]
        le = self.dtype.newbyteorder("<") == self.dtype
        for m, part in zip(members, parts):
            got = zlib.crc32(part if le and part.flags.c_contiguous else part.astype(self.dtype.newbyteorder("<")))
            if got != crcs[m]:
                raise InputError(f"epoch store {self.path} is corrupt: array {name} of entry {i} (epoch "
                                 f"{self._entries[i]['epoch']}), member {m}, fails its checksum (the file "
                                 f"{self._chunk_path(name, i)} was altered): restore the run from a copy")

    def _read_chunk(self, arr, name, i, member, out=None):
        """Entry ``i`` of array ``name`` (one ``member`` or all); with ``out``, read straight into it."""
        f = self._chunk_path(name, i)
        if not f.exists():
            raise InputError(f"epoch store {self.path} is corrupt: entry {i} (epoch {self.epochs[i]}) "
                             f"has no data for {name}")
        shape = arr.shape[1:]
        try:
            if not self._raw:
                a = arr[(i, slice(None) if member is None else member)]
            elif out is not None and self.dtype.newbyteorder("<") == self.dtype:
                self._read_raw_into(f, shape, member, out)
                self._verify(name, i, member, out)
                return out
            else:
                a = np.fromfile(f, dtype=self.dtype.newbyteorder("<"))
                if a.size != int(np.prod(shape)):
                    raise ValueError(f"{a.size * a.itemsize} bytes for shape {shape}")
                a = a.reshape(shape).astype(self.dtype, copy=False)
                a = a if member is None else a[member]
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"epoch store {self.path}: array {name} of entry {i} is corrupt or truncated "
                             f"({exc.__class__.__name__}: {exc})") from None
        self._verify(name, i, member, a)
        if out is None:
            return a
        out[...] = a
        return out

    def _read_raw_into(self, f, shape, member, out):
        """Read one member's part (or all) of a raw little-endian chunk into ``out`` without a temporary."""
        total = int(np.prod(shape)) * self.dtype.itemsize
        if f.stat().st_size != total:
            raise ValueError(f"{f.stat().st_size} bytes for shape {shape}")
        per_member = total // shape[0]
        offset, count = (0, total) if member is None else (member * per_member, per_member)
        if out.nbytes != count or not out.flags.c_contiguous:
            raise ValueError("output buffer does not match the chunk")
        with open(f, "rb") as fh:
            fh.seek(offset)
            got = fh.readinto(memoryview(out).cast("B"))
        if got != count:
            raise ValueError(f"read {got} of {count} bytes")
        return out

    def read_arrays(self, i, member=None):
        """The raw arrays of entry ``i`` (reads only that entry).

        Returns
        -------
        weights : list of arrays, shape (E, n_l, n_{l+1}) (or (n_l, n_{l+1}) for one ``member``); for a
            convolution its kernel (E, C_out, C_in/groups, kh, kw), for a pooling layer None
        biases : list of arrays, shape (E, n_{l+1}) (or (n_{l+1},)), or None
        """
        i = self._pos(i)
        m = None if member is None else self._member(member)
        ws = [None if W is None else self._read_chunk(W, f"W{l}", i, m) for l, W in enumerate(self._W)]
        return ws, self._read_biases(i, m)

    def _read_biases(self, i, m):
        """The biases of entry ``i`` split per layer, or None for a store without biases."""
        if not self.has_biases:
            return None
        bcat = self._read_chunk(self._b, "b", i, m)
        return np.split(bcat, np.cumsum(self.sizes[1:])[:-1], axis=-1)

    def _member(self, member):
        E = self.n_members
        if not isinstance(member, (int, np.integer)) or not -E <= member < E:
            raise InputError(f"member {member!r} does not exist: this run has members 0..{E - 1}")
        return int(member) % E

    def graph(self, i, member=None):
        """Entry ``i`` as a :class:`LayeredGraph`: one network for ``member``; for ``member=None`` the one
        network of a single-member run, or the stack of all ``E`` members of an ensemble."""
        if member is None and self.n_members == 1:
            member = 0
        ws, bs = self.read_arrays(i, member)
        ws = self._implicit_blocks(ws, stacked=member is None, T=self.n_members if member is None else 1)
        return LayeredGraph.from_weights(ws, biases=bs, layer_names=self.layer_names)

    def _implicit_blocks(self, ws, stacked, T):
        """Dense arrays as read; convolution kernels and pooling layers as their implicit blocks."""
        if not any(self.block_specs):
            return ws

        return [w if spec is None else block_from_spec(spec, w, n_epochs=T, stacked=stacked)
                for w, spec in zip(ws, self.block_specs)]

    def graphs(self, member=None):
        """Iterate over every entry as a :class:`LayeredGraph` (one entry read at a time)."""
        for i in range(len(self)):
            yield self.graph(i, member)

    __iter__ = graphs

    def stack(self, indices=None, member=0):
        """The entries ``indices`` (default all) of one member as one epoch-stacked :class:`LayeredGraph`
        (blocks of shape (T, n_l, n_{l+1}))."""
        idx = list(range(len(self))) if indices is None else [self._pos(i) for i in indices]
        if not idx:
            raise InputError(f"epoch store {self.path} has no entries to stack")
        m = self._member(member)
        # each entry is read straight into its slot of the stack (no per-entry temporary, no stacking copy)
        ws = [None if W is None else np.empty((len(idx),) + tuple(W.shape[2:]), dtype=self.dtype) for W in self._W]
        for t, i in enumerate(idx):
            for l, W in enumerate(self._W):
                if W is not None:
                    self._read_chunk(W, f"W{l}", i, m, out=ws[l][t])
        ws = self._implicit_blocks(ws, stacked=True, T=len(idx))
        bs = None
        if self.has_biases:
            per = [self._read_biases(i, m) for i in idx]
            bs = [np.stack([p[l] for p in per]) for l in range(len(self._W))]
        return LayeredGraph.from_weights(ws, biases=bs, layer_names=self.layer_names)

    def stacks(self, size, member=0):
        """Iterate over T-epoch stacks of at most ``size`` entries (memory bounded by ``size`` epochs)."""
        if int(size) < 1:
            raise InputError(f"stack size must be >= 1, got {size}")
        for start in range(0, len(self), int(size)):
            yield self.stack(range(start, min(start + int(size), len(self))), member)

    def scalars(self):
        """Per-entry scalars: ``{name: array}``, shape (T,) for shared values or (T, E) for per-member values
        (NaN where an entry lacks the scalar)."""
        names = []
        for e in self._entries:
            for k in e["scalars"]:
                if k not in names:
                    names.append(k)
        out = {}
        for k in names:
            vals = [e["scalars"].get(k, np.nan) for e in self._entries]
            if any(isinstance(v, list) for v in vals):
                vals = [v if isinstance(v, list) else [v] * self.n_members for v in vals]
            out[k] = np.array(vals, dtype=np.float64)
        return out

    def scalars_frame(self):
        """The scalars as a tidy pandas DataFrame: one row per (entry, member)."""
        import pandas as pd

        sc = self.scalars()
        T, E = len(self), self.n_members
        cols = {"entry": np.repeat(np.arange(T), E), "epoch": np.repeat(self.epochs, E),
                "member": np.tile(np.arange(E), T)}
        for k, v in sc.items():
            cols[k] = (v if v.ndim == 2 else np.repeat(v[:, None], E, axis=1)).reshape(-1)
        return pd.DataFrame(cols)
