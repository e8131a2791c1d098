"""Datasets for training: the bundled handwritten digits, MNIST-family sets through torchvision, IDX files.

``load_dataset(spec)`` understands

* ``"digits"`` (default): scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes), shipped with
  scikit-learn: no network. A fixed stratified split keeps 20 % for testing.
* ``"mnist"``, ``"fashion-mnist"``, ``"emnist"`` / ``"emnist:<split>"`` (default split ``letters``, labels
  shifted to start at 0): through torchvision, downloaded into ``root`` where the machine has a network.
* ``"idx:PATH"``: a directory holding the four IDX files of an MNIST-style set (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, optionally ``.gz``; any
  names containing train/test(t10k) and images/labels work).

Images are flattened to rows and scaled to [0, 1] (float32); labels are int64 from 0.
"""
import gzip
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepcnt.errors import InputError

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_CODES = {np.dtype(v).newbyteorder("=").str[1:]: k for k, v in _IDX_DTYPES.items()}


@dataclass
class Dataset:
    """A classification dataset: ``x`` of shape (n, d) in [0, 1] (float32), ``y`` of shape (n,) (int64)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple
    n_classes: int

    @property
    def n_features(self):
        return int(self.x_train.shape[1])

    def subset(self, n_train=None, n_test=None):
        """The first ``n_train`` / ``n_test`` items (for quick runs); each at least 1 when given."""
        for name, n in (("n_train", n_train), ("n_test", n_test)):
            try:
                ok = n is None or (not isinstance(n, bool) and int(n) == float(n) and int(n) >= 1)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InputError(f"{name} must be a whole number >= 1 (the first N items), got {n!r}")
        a = slice(None) if n_train is None else slice(0, int(n_train))
        b = slice(None) if n_test is None else slice(0, int(n_test))
        return Dataset(self.name, self.x_train[a], self.y_train[a], self.x_test[b], self.y_test[b],
                       self.image_shape, self.n_classes)

    def describe(self):
        return {"name": self.name, "n_train": int(len(self.y_train)), "n_test": int(len(self.y_test)),
                "n_features": self.n_features, "n_classes": self.n_classes, "image_shape": list(self.image_shape)}


# ---------------------------------------------------------------------------------------------- IDX files
def read_idx(path):
    """Read an IDX file (the MNIST format; gzip-compressed when the name ends in ``.gz``).

    Layout: two zero bytes, a dtype code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32, then the data.

    Raises
    ------
    InputError
        Missing file, bad magic number, unknown dtype code, or fewer data bytes than the header announces.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InputError(f"IDX file {path} does not exist") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"IDX file {path} cannot be read ({exc.__class__.__name__}: {exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InputError(f"{path} is not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise InputError(f"IDX file {path} has unknown dtype code 0x{code:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise InputError(f"IDX file {path} is truncated (header)")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_DTYPES[code])
    need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = raw[4 + 4 * ndim:]
    if len(body) != need:
        raise InputError(f"IDX file {path} is truncated or padded: {len(body)} data bytes for shape {shape} "
                         f"(expected {need})")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip when the name ends in ``.gz``)."""
    a = np.asarray(array)
    key = a.dtype.newbyteorder("=").str[1:]
    if key not in _IDX_CODES:
        raise InputError(f"dtype {a.dtype} cannot be written as IDX")
    code = _IDX_CODES[key]
    head = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    data = head + a.astype(_IDX_DTYPES[code]).tobytes()
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(data)


def _find_idx(folder, split, kind):
    names = {"train": ("train",), "test": ("t10k", "test")}[split]
    hits = [p for p in sorted(Path(folder).iterdir())
            if p.is_file() and kind in p.name.lower() and any(n in p.name.lower() for n in names)]
    if len(hits) != 1:
        what = "no" if not hits else f"{len(hits)}"
        raise InputError(f"{folder}: found {what} IDX file(s) for the {split} {kind}; expected exactly one "
                         f"(e.g. {'train' if split == 'train' else 't10k'}-{kind}-idx"
                         f"{3 if kind == 'images' else 1}-ubyte)")
    return hits[0]


def _scale(x):
    x = x.reshape(len(x), -1)
    if x.dtype.kind in "ui":
        top = 255.0 if x.dtype.itemsize == 1 else float(max(x.max(), 1))
        return (x.astype(np.float32) / np.float32(top)).astype(np.float32)
    return x.astype(np.float32)


def load_idx_dir(folder, name=None):
    """An MNIST-style dataset from the four IDX files in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"IDX directory {folder} does not exist")
    parts = {}
    for split in ("train", "test"):
        for kind in ("images", "labels"):
            parts[split, kind] = read_idx(_find_idx(folder, split, kind))
    for split in ("train", "test"):
        xi, yi = parts[split, "images"], parts[split, "labels"]
        if len(xi) != len(yi):
            raise InputError(f"{folder}: {len(xi)} {split} images but {len(yi)} labels")
    ytr, yte = (parts[s, "labels"].astype(np.int64) for s in ("train", "test"))
    lo = min(ytr.min(), yte.min())
    ytr, yte = ytr - lo, yte - lo
    return Dataset(name or f"idx:{folder}", _scale(parts["train", "images"]), ytr, _scale(parts["test", "images"]),
                   yte, tuple(parts["train", "images"].shape[1:]), int(max(ytr.max(), yte.max()) + 1))


# ---------------------------------------------------------------------------------------------- named sets
def load_digits():
    """scikit-learn's 8×8 digits, scaled to [0, 1], with a fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits as _ld

    d = _ld()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.permutation(idx)[: len(idx) // 5]] = True
    tr, te = np.flatnonzero(~test), np.flatnonzero(test)
    tr, te = rng.permutation(tr), rng.permutation(te)
    return Dataset("digits", x[tr], y[tr], x[te], y[te], (8, 8), 10)


def _torchvision(name, root, split=None):
    try:
        import torchvision.datasets as tvd
    except ImportError:
        raise InputError(f"dataset {name!r} needs torchvision (pip install torchvision), or give local IDX files "
                         "with idx:PATH") from None
    cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "emnist": tvd.EMNIST}[name]
    kw = {"split": split} if name == "emnist" else {}
    try:
        tr = cls(root, train=True, download=True, **kw)
        te = cls(root, train=False, download=True, **kw)
    except Exception as exc:
        raise InputError(f"could not load {name} through torchvision into {root} ({exc.__class__.__name__}: "
                         f"{exc}); without a network, give local IDX files with idx:PATH") from None
    xtr, xte = tr.data.numpy(), te.data.numpy()
    if name == "emnist":  # EMNIST images are stored transposed
        xtr, xte = xtr.transpose(0, 2, 1), xte.transpose(0, 2, 1)
    ytr, yte = tr.targets.numpy().astype(np.int64), te.targets.numpy().astype(np.int64)
    lo = min(ytr.min(), yte.min())
    label = name if split is None else f"{name}:{split}"
    return Dataset(label, _scale(xtr), ytr - lo, _scale(xte), yte - lo, tuple(xtr.shape[1:]),
                   int(max(ytr.max(), yte.max()) - lo + 1))


def load_dataset(spec="digits", root="~/.cache/deepcnt/data", n_train=None, n_test=None):
    """Load a dataset by name (see the module docstring); ``n_train``/``n_test`` keep the first items."""
    spec = str(spec)
    low = spec.lower()
    if low == "digits":
        ds = load_digits()
    elif low.startswith("idx:"):
        ds = load_idx_dir(Path(spec[4:]).expanduser())
    elif low in ("mnist", "fashion-mnist", "fashion_mnist", "fmnist"):
        ds = _torchvision("mnist" if low == "mnist" else "fashion-mnist", str(Path(root).expanduser()))
    elif re.fullmatch(r"emnist(:\w+)?", low):
        ds = _torchvision("emnist", str(Path(root).expanduser()), low.partition(":")[2] or "letters")
    else:
        raise InputError(f"unknown dataset {spec!r}: use digits, mnist, fashion-mnist, emnist[:split] or idx:PATH")
    if n_train is not None or n_test is not None:
        ds = ds.subset(n_train, n_test)
    return ds
