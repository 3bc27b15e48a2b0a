"""Sparse rows at prediction time without importing scipy (its import alone costs more than loading a model).

``Csr`` holds the three CSR arrays (they may be memory maps); the products run in the ``sparse_dot_topn``
kernels (loaded without the package's scipy-importing ``__init__``), which accumulate in the same order as scipy's
``csr_matmat`` (results are bit-identical). Training code keeps using scipy (``to_scipy``, ``as_csr``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np

_KERNELS = None


def kernels():
    """``sparse_dot_topn``'s compiled module (``sp_matmul``, ``sp_matmul_topn_sorted``, ...)."""
    global _KERNELS
    if _KERNELS is None:
        package = importlib.util.find_spec("sparse_dot_topn")
        if package is None or not package.submodule_search_locations:
            from cpc_dataset.errors import MisconfiguredError

            raise MisconfiguredError("sparse-dot-topn is not installed: pip install 'patent-cpc[space]'")
        folder = os.path.join(package.submodule_search_locations[0], "lib")
        names = (
            [f for f in os.listdir(folder) if f.startswith("_sparse_dot_topn_core")] if os.path.isdir(folder) else []
        )
        if names:
            spec = importlib.util.spec_from_file_location(
                "sparse_dot_topn.lib._sparse_dot_topn_core", os.path.join(folder, names[0])
            )
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _KERNELS = module
        else:  # another layout: through the package (which imports scipy)
            from sparse_dot_topn import _core

            _KERNELS = _core
    return _KERNELS


@dataclass
class Csr:
    """A CSR matrix: float32 ``data``, ``indices`` and ``indptr`` (one integer type), sorted indices per row."""

    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple[int, int]

    def __post_init__(self):
        # memory maps as plain arrays (views of them): indexing a np.memmap makes a memmap each time
        self.data, self.indices, self.indptr = (np.asarray(a) for a in (self.data, self.indices, self.indptr))

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    @property
    def dtype(self):
        return self.data.dtype

    def take(self, rows) -> Csr:
        """The given rows, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        starts, ends = self.indptr[rows].astype(np.int64), self.indptr[rows + 1].astype(np.int64)
        lengths = ends - starts
        flat = ranges(starts, lengths)
        indptr = np.zeros(len(rows) + 1, dtype=self.indptr.dtype)
        np.cumsum(lengths, out=indptr[1:])
        return Csr(self.data[flat], self.indices[flat], indptr, (len(rows), self.shape[1]))

    def to_scipy(self):
        from scipy.sparse import csr_matrix

        return csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def ranges(starts, lengths) -> np.ndarray:
    """The positions ``start, start + 1, ...`` of each (``start``, ``length``) pair, one range after the other (the
    entries of CSR rows given by their starts and lengths), int64."""
    starts, lengths = np.asarray(starts, np.int64), np.asarray(lengths, np.int64)
    return np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())


def as_csr(m) -> Csr:
    """A ``Csr`` of a scipy matrix or a ``Csr`` (float32 values, int32 indices where they fit)."""
    if isinstance(m, Csr):
        return m
    m = m.tocsr()
    m.sort_indices()
    index = np.int32 if m.nnz < 2**31 and max(m.shape) < 2**31 else np.int64
    return Csr(
        np.asarray(m.data, dtype=np.float32),
        np.asarray(m.indices, dtype=index),
        np.asarray(m.indptr, dtype=index),
        tuple(int(s) for s in m.shape),
    )


def _args(a: Csr, b: Csr) -> dict:
    index = np.int64 if np.int64 in (a.indptr.dtype, b.indptr.dtype, a.indices.dtype, b.indices.dtype) else np.int32
    return {
        "A_data": np.asarray(a.data, dtype=np.float32),
        "A_indptr": np.asarray(a.indptr, dtype=index),
        "A_indices": np.asarray(a.indices, dtype=index),
        "B_data": np.asarray(b.data, dtype=np.float32),
        "B_indptr": np.asarray(b.indptr, dtype=index),
        "B_indices": np.asarray(b.indices, dtype=index),
    }


def matmul_dense(a: Csr, b: Csr) -> np.ndarray:
    """``a @ b`` as a dense float32 array (accumulated as scipy does)."""
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
    if a.nnz == 0 or b.nnz == 0:
        return out
    data, indices, indptr = kernels().sp_matmul(nrows=a.shape[0], ncols=b.shape[1], **_args(a, b))
    out[np.repeat(np.arange(a.shape[0]), np.diff(indptr)), indices] = data
    return out


def top_n(a: Csr, b: Csr, n: int, threads: int = 1, above: float | None = None):
    """(data, indices, indptr) of ``a @ b`` keeping each row's ``n`` largest values, largest first; rows split over
    ``threads`` (the same result). ``above``: keep only values greater than it (the kernel's thresholded path is
    also the faster one: with ``0.0``, a third less time on a TF-IDF bank, whose products are all positive)."""
    if a.nnz == 0 or b.nnz == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(a.shape[0] + 1, np.int32)
    k = kernels()
    common = {"top_n": n, "nrows": a.shape[0], "ncols": b.shape[1], "threshold": above, **_args(a, b)}
    if threads > 1 and a.shape[0] > 1 and k._has_openmp_support:
        return k.sp_matmul_topn_sorted_mt(n_threads=threads, **common)
    return k.sp_matmul_topn_sorted(density=1.0, **common)


def row_norms(a: Csr) -> np.ndarray:
    """L2 norm of each row, float32, the squares summed in row order in float32 (as scipy's ``multiply().sum(1)``)."""
    squares = Csr(a.data * a.data, a.indices, a.indptr, a.shape)
    key = (a.shape[1], np.dtype(a.indptr.dtype).str)
    if key not in _ONES:
        n = a.shape[1]
        _ONES[key] = Csr(
            np.ones(n, np.float32), np.zeros(n, a.indptr.dtype), np.arange(n + 1, dtype=a.indptr.dtype), (n, 1)
        )
    return np.sqrt(matmul_dense(squares, _ONES[key])[:, 0]).astype(np.float32)


_ONES: dict = {}
