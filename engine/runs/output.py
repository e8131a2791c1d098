"""The output directory of ``analyze``: what marks it as an analysis, the checks before anything is written
there, its lock, and the table parts written atomically (a full disk or a read-only directory: one
:class:`~deepcnt.errors.StorageError` line, no temporary left)."""
import errno
import json
import os
import re
from pathlib import Path

import numpy as np

from ..errors import InputError, StorageError
from .store import acquire_lock

_PART = re.compile(r"^part-m(\d+)-i(\d+)-(\d+)\.parquet$")


def _read_table(path, keys):
    import pandas as pd

    parts = sorted(p for p in Path(path).glob("part-*.parquet") if _PART.match(p.name))
    if not parts:
        raise InputError(f"{path} holds no table parts: run deepcnt analyze first")
    df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


_WRITE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


def _storage_error(exc, where):
    """An OSError met writing ``where`` as one line that says what to do."""
    return StorageError(f"cannot write the analysis to {where}: {exc.strerror or exc} (free some space, make it "
                        "writable, or choose another output directory with --out)")


def _write_part(df, path):
    """Write a table part atomically: a temporary beside it, renamed into place; no temporary survives an
    error (a full disk, a read-only directory: raised as one StorageError line)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_parquet(tmp, index=False)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise _storage_error(exc, path.parent.parent) from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


def _unify_columns(path):
    """Give every part of the table ``path`` the same columns, in one order, so that any Parquet reader
    (``pandas.read_parquet(path)`` takes the first part's schema) sees them all: a scalar that first appears
    in entries analysed later (``val_acc``) is added to the older parts as NaN. Only the parts that differ
    are rewritten (atomically); the footers alone are read to find them."""
    import pandas as pd
    import pyarrow.parquet as pq

    parts = sorted(p for p in Path(path).glob("part-*.parquet") if _PART.match(p.name))
    names = {p: pq.read_schema(p).names for p in parts}
    names = {p: [c for c in n if not c.startswith("__index_level_")] for p, n in names.items()}
    if len({tuple(n) for n in names.values()}) <= 1:
        return
    order = max(names.values(), key=len)
    for n in names.values():
        order = order + [c for c in n if c not in order]
    for p, n in names.items():
        if n != order:
            df = pd.read_parquet(p)
            for c in order:
                if c not in df:
                    df[c] = np.nan
            _write_part(df[order], p)


ANALYSIS_FORMAT = "deepcnt-analysis"
_TABLES = ("nodes", "epochs")


def _is_analysis(meta):
    """True when a parsed ``meta.json`` is an analysis's (marked, or written before the marker existed)."""
    if not isinstance(meta, dict):
        return False
    if meta.get("format") == ANALYSIS_FORMAT:
        return True
    return ("format" not in meta and {"metrics", "threshold", "members", "versions"} <= set(meta)
            and isinstance(meta["versions"], dict) and "deepcnt" in meta["versions"])


def _read_out_meta(out):
    """The analysis metadata in ``out``, None when there is none; refuses a directory holding other files."""
    f = out / "meta.json"
    if not f.exists():
        return None
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError):
        meta = None
    if not _is_analysis(meta):
        raise InputError(f"{out} is not a deepcnt analysis (its meta.json is something else, e.g. a run): "
                         "choose another output directory (--out)")
    return meta


def _check_out(out, run, overwrite):
    """Refuse an output directory that is not (and cannot become) an analysis; return its metadata or None."""
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} is a file, not a directory: choose another output directory (--out)")
    if out.resolve() == run.resolve():
        raise InputError(f"the output directory {out} is the run itself: choose another one (default RUN/analysis)")
    meta = _read_out_meta(out)
    if overwrite and meta is None and out.is_dir():
        ours = {"write.lock"} | set(_TABLES)
        other = [p.name for p in out.iterdir()
                 if p.name not in ours or (p.name in _TABLES and (not p.is_dir() or any(p.iterdir())))]
        if other:
            raise InputError(f"--overwrite: {out} is not a deepcnt analysis (it holds {other[0]!r} and no analysis "
                             "meta.json): refusing to delete anything there; choose another output directory")
    return meta


def _clear_analysis(out):
    """Delete what ``analyze`` writes in ``out`` (meta.json, the table parts and their temporaries) and nothing
    else: other files stay, and so do the table directories if something else is in them."""
    (out / "meta.json").unlink(missing_ok=True)
    for table in _TABLES:
        d = out / table
        if not d.is_dir():
            continue
        for p in d.iterdir():
            if _PART.match(p.name) or (p.name.startswith(".part-") and p.name.endswith(".tmp")):
                p.unlink(missing_ok=True)
        if not any(d.iterdir()):
            d.rmdir()


class _OutputLock:
    """``analyze``'s hold on its output directory: created if missing, locked like an epoch store's writer
    (one ``analyze`` at a time), and on leaving the directory removed again when this call created it and
    left nothing in it."""

    def __init__(self, out):
        self.out = out
        self.created = False
        self.lock = None

    def __enter__(self):
        try:
            if not self.out.exists():
                self.out.mkdir(parents=True)
                self.created = True
            self.lock = acquire_lock(
                self.out / "write.lock",
                lambda pid, host, lock: f"{self.out} is being written by another analyze (process {pid} on "
                                        f"{host}): wait for it or choose another output directory (if that "
                                        f"process is gone, delete {lock})")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.lock is not None:
                self.lock.unlink(missing_ok=True)
            if self.created and self.out.is_dir() and not any(self.out.iterdir()):
                self.out.rmdir()
        except OSError:
            pass  # the error that brought us here (if any) says more
