"""Files of an epoch store: atomic writes, the commit log, ``meta.json`` and the writer lock (part of
:mod:`deepcnt.runs.store`).

:func:`acquire_lock` (also the lock of :func:`deepcnt.runs.pipeline.analyze`'s outputs) takes a lock file
for this process, taking over one left by a dead process of this host.
"""
import json
import os
import socket
import time
from pathlib import Path

from ..errors import InputError

from .store_format import FORMAT


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
