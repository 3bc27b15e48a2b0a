"""The budgeted neighbour search: work per text bounded by a budget, not by the bank's size.

The exact search (``NeighbourBank.search``) reads every posting of a text's terms, so its cost grows with the bank.
With a budget (``search_budget`` in ``bank.json``, or ``CPC_SEARCH_BUDGET``; 0 = exact), a text keeps its terms
with the shortest posting lists while their postings add up to at most the budget (at least its rarest term), the
top-n product over those terms gives ``candidates`` rows, and each candidate's exact dot product with the whole
text is computed from a row-major copy of the bank (scipy's C loops: rows gathered, one matrix-vector product per
sub-chunk; bit for bit the exact search's sums). Texts whose terms all fit the budget get the exact search's rows.
Measured in ``benchmarks/search_budget.py`` and ``benchmarks/budget_speed.py``.
"""

from __future__ import annotations

import numpy as np

from cpc_models.kinds.sparse import Csr, top_n

DEFAULT_CANDIDATES = 100  # rows rescored per text (at least the depth asked for)
SUB_CHUNK = 64  # texts rescored at once (bounds the gathered rows' memory)


def keep_rarest(x: Csr, lengths: np.ndarray, budget: int) -> tuple[Csr, np.ndarray]:
    """Each row of ``x`` restricted to its terms with the shortest posting lists (``lengths`` per feature) while
    they add up to at most ``budget`` postings (at least its rarest term), and per row whether every term was kept."""
    indptr = np.asarray(x.indptr, dtype=np.int64)
    counts = np.diff(indptr)
    row = np.repeat(np.arange(x.shape[0]), counts)
    term_lengths = lengths[x.indices].astype(np.int64)
    order = np.lexsort((term_lengths, row))  # per row, shortest list first
    running = np.cumsum(term_lengths[order])
    within = running - np.repeat(np.r_[0, running][indptr[:-1]], counts)
    first = np.zeros(len(order), dtype=bool)
    first[indptr[:-1][counts > 0]] = True
    keep = np.empty(len(order), dtype=bool)
    keep[order] = (within <= budget) | first
    kept = np.bincount(row[keep], minlength=x.shape[0])
    new_indptr = np.zeros(x.shape[0] + 1, dtype=x.indptr.dtype)
    np.cumsum(kept, out=new_indptr[1:])
    return Csr(x.data[keep], x.indices[keep], new_indptr, x.shape), kept == counts


def rescore(x: Csr, rows, candidates: np.ndarray) -> np.ndarray:
    """Exact dot products (float32, bit for bit the top-n kernel's) of each text row of ``x`` with its
    ``candidates`` (texts x c bank rows, -1 where none; 0 there), from ``rows`` (bank rows x features, scipy CSR).

    One sparse matrix-vector product per sub-chunk of texts, in scipy's C loop: the candidates' rows, their terms
    renumbered within the sub-chunk's terms (the others point at a zero) and shifted to their text's block, times
    the texts' rows laid end to end as one small dense vector. A zero adds nothing, so each sum is the exact
    search's, term by term in the same order."""
    from scipy.sparse import csr_matrix

    dots = np.zeros(candidates.shape, dtype=np.float32)
    lookup = np.zeros(x.shape[1], dtype=np.int32)  # a term's slot in the sub-chunk's block; 0: the zero slot
    for start in range(0, len(candidates), SUB_CHUNK):
        part = candidates[start : start + SUB_CHUNK]
        valid = part >= 0
        if not valid.any():
            continue
        texts = x.take(np.arange(start, start + len(part)))
        terms = np.unique(texts.indices)
        width = len(terms) + 1
        lookup[terms] = np.arange(1, width, dtype=np.int32)
        dense = np.zeros(len(part) * width, dtype=np.float32)
        owner = np.repeat(np.arange(len(part), dtype=np.int32) * width, np.diff(texts.indptr))
        dense[owner + lookup[texts.indices]] = texts.data
        gathered = rows[part[valid]]
        column = lookup[gathered.indices]
        column += np.repeat(np.nonzero(valid)[0].astype(np.int32) * width, np.diff(gathered.indptr))
        lookup[terms] = 0
        shifted = csr_matrix((gathered.data, column, gathered.indptr), shape=(gathered.shape[0], len(dense)))
        dots[start : start + SUB_CHUNK][valid] = shifted @ dense
    return dots


def budgeted_search(x: Csr, postings: Csr, rows, lengths: np.ndarray, budget: int, candidates: int, threads: int):
    """(rows, dots, covered, found) per text: ``candidates`` bank rows from the terms within ``budget``, best exact
    dot product first (ties: lower row first; -1 / 0 where fewer), whether every term of the text was searched, and
    how many rows the candidate search found."""
    n = x.shape[0]
    kept, covered = keep_rarest(x, lengths, budget)
    _, indices, indptr = top_n(kept, postings, candidates, threads, above=0.0)
    found = np.diff(indptr)
    picked = np.full((n, candidates), -1, dtype=np.int64)
    picked[np.repeat(np.arange(n), found), np.arange(len(indices)) - np.repeat(indptr[:-1], found)] = indices
    dots = rescore(x, rows, picked)
    order = np.lexsort((np.where(picked < 0, np.iinfo(np.int64).max, picked), -dots), axis=1)
    return np.take_along_axis(picked, order, 1), np.take_along_axis(dots, order, 1), covered, found
