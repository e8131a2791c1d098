"""Numba's on-disk cache of deepcnt's kernels, invalidated by a change to any kernel source.

Numba stamps a cached kernel with the contents of the one file that defines it. A kernel that inlines a
helper from another file (``kernels/common.py``) was therefore served stale after that helper changed, by an
edit or by upgrading deepcnt. Here every kernel under ``kernels/`` carries one stamp, the hash of all the
sources under ``kernels/``: any change to any of them recompiles every cached kernel once, and nothing else.

Numba finds a cache directory through its list of cache locators; :func:`install` puts deepcnt's locators
(the same places as Numba's own: ``NUMBA_CACHE_DIR`` when set, else ``__pycache__`` beside the source, else the
user's cache directory) at the front of that list, for the files of this package only. It must run before
the kernel modules are imported (``deepcnt.kernels`` does it first).
"""
import hashlib
from pathlib import Path

from numba.core import caching

ROOT = Path(__file__).resolve().parent


def sources_stamp(root=ROOT):
    """SHA-256 over the relative path and contents of every ``*.py`` file under ``root`` (hex string)."""
    root = Path(root)
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


#: {source root: its stamp} of the trees whose kernels are stamped as a whole.
_STAMPS = {}


def _stamp_of(py_file):
    path = Path(py_file).resolve()
    for root, stamp in _STAMPS.items():
        if root == path or root in path.parents:
            return stamp
    return None


class _TreeStamped:
    """Mixin: the stamp of the whole source tree instead of the one file; other files are left to Numba."""

    def get_source_stamp(self):
        return self._tree_stamp

    @classmethod
    def from_function(cls, py_func, py_file):
        stamp = _stamp_of(py_file)
        if stamp is None:
            return None
        self = super().from_function(py_func, py_file)
        if self is not None:
            self._tree_stamp = stamp
        return self


def _numba(name):
    """A class of numba.core.caching under its current name or its older, private one."""
    return getattr(caching, name, None) or getattr(caching, "_" + name)


class UserProvidedLocator(_TreeStamped, _numba("UserProvidedCacheLocator")):
    """``NUMBA_CACHE_DIR``, when the user sets one."""


class InTreeLocator(_TreeStamped, _numba("InTreeCacheLocator")):
    """``__pycache__`` beside the source, when it is writable."""


class UserWideLocator(_TreeStamped, _numba("UserWideCacheLocator")):
    """The user's cache directory (a read-only install)."""


LOCATORS = (UserProvidedLocator, InTreeLocator, UserWideLocator)


def install(root=ROOT):
    """Stamp the kernels under ``root`` with :func:`sources_stamp` (idempotent)."""
    root = Path(root).resolve()
    _STAMPS[root] = sources_stamp(root)
    classes = _numba("CacheImpl")._locator_classes
    for cls in reversed(LOCATORS):
        if cls not in classes:
            classes.insert(0, cls)
    return _STAMPS[root]

