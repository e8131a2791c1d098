"""The chunk files of an epoch store: dense and implicit blocks' chunks (raw little-endian bytes, or through
zarr when compressed) and sparse blocks' CSR files, written with and checked against their CRC-32 (part of
:mod:`deepcnt.runs.store`).

:class:`_Chunks` is a mixin of :class:`~deepcnt.runs.store.EpochStore`; it uses the store's ``path``,
``dtype``, ``durable`` and its open arrays.
"""
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..model.sparse import SparseBlock


class _Chunks:
    """Reading and writing one entry's chunk of an array or of a sparse block (mixed into EpochStore)."""

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

    # ------------------------------------------------------------------ sparse blocks
    def _sparse_path(self, l, i):
        return Path(self.path, "sparse", f"W{l}", f"c.{i}")

    def _index_dtype(self, l):
        return np.dtype(np.int32 if self.sizes[self.pairs[l][1]] < 2**31 else np.int64).newbyteorder("<")

    @staticmethod
    def _sparse_crc(indptr, indices, data, m):
        """CRC-32 of member ``m``'s part: its row of ``indptr``, then its indices and values."""
        r0, r1 = int(indptr[m, 0]), int(indptr[m, -1])
        return zlib.crc32(data[r0:r1], zlib.crc32(indices[r0:r1], zlib.crc32(indptr[m])))

    def _write_sparse(self, l, i, indptr, indices, data):
        """Write entry ``i`` of sparse block ``l`` (one file); return the CRC-32 of each member's part."""
        le = [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
              for a in (indptr, indices.astype(self._index_dtype(l)), data.astype(self.dtype))]
        with open(self._sparse_path(l, i), "wb") as f:
            for a in le:
                f.write(a.data)
            if self.durable:
                f.flush()
                os.fsync(f.fileno())
        return [self._sparse_crc(*le, m) for m in range(self.n_members)]

    def _read_sparse(self, l, i, member):
        """Entry ``i`` of sparse block ``l`` as a :class:`SparseBlock`: of one ``member`` (unstacked), or of
        every member (an E-epoch stack). Reads only that member's part."""
        f = self._sparse_path(l, i)
        E, n_in = self.n_members, self.sizes[self.pairs[l][0]]
        itype, dtype = self._index_dtype(l), self.dtype.newbyteorder("<")
        try:
            size = f.stat().st_size
        except FileNotFoundError:
            raise InputError(f"epoch store {self.path} is corrupt: entry {i} (epoch {self.epochs[i]}) has no "
                             f"data for W{l}") from None
        members = range(E) if member is None else [member]
        try:
            with open(f, "rb") as fh:
                head = E * (n_in + 1) * 8
                indptr = np.fromfile(fh, dtype="<i8", count=E * (n_in + 1)).reshape(E, n_in + 1)
                nnz = int(indptr[-1, -1]) if indptr.size == E * (n_in + 1) else -1
                if nnz < 0 or size != head + nnz * (itype.itemsize + dtype.itemsize) or indptr[0, 0] != 0 \
                        or np.any(np.diff(indptr, axis=1) < 0):
                    raise ValueError(f"{size} bytes do not hold the CSR arrays of {E} member(s) of {n_in} rows")
                r0, r1 = int(indptr[members[0], 0]), int(indptr[members[-1], -1])
                fh.seek(head + r0 * itype.itemsize)
                indices = np.fromfile(fh, dtype=itype, count=r1 - r0)
                fh.seek(head + nnz * itype.itemsize + r0 * dtype.itemsize)
                data = np.fromfile(fh, dtype=dtype, count=r1 - r0)
        except Exception as exc:
            raise InputError(f"epoch store {self.path}: array W{l} of entry {i} is corrupt or truncated "
                             f"({exc.__class__.__name__}: {exc})") from None
        crcs = self._entries[i].get("crc", {}).get(f"W{l}")
        for m in members:
            got = zlib.crc32(data[indptr[m, 0] - r0:indptr[m, -1] - r0],
                             zlib.crc32(indices[indptr[m, 0] - r0:indptr[m, -1] - r0], zlib.crc32(indptr[m])))
            if crcs is not None and got != crcs[m]:
                raise InputError(f"epoch store {self.path} is corrupt: array W{l} of entry {i} (epoch "
                                 f"{self._entries[i]['epoch']}), member {m}, fails its checksum (the file {f} was "
                                 "altered): restore the run from a copy")
        if int(indices.max(initial=0)) >= self.sizes[self.pairs[l][1]] or indices.min(initial=0) < 0:
            raise InputError(f"epoch store {self.path}: array W{l} of entry {i} is corrupt (a column index out of "
                             "range)")
        ptr = indptr[list(members)] - r0
        return SparseBlock.from_arrays(ptr, indices.astype(itype.newbyteorder("="), copy=False),
                                       data.astype(self.dtype, copy=False), self.sizes[self.pairs[l][1]],
                                       stacked=member is None)
