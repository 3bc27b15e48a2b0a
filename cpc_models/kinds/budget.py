"""The budgeted neighbour search: work per text bounded by a budget, not by the bank's size.

The exact search (``NeighbourBank.search``) reads every posting of a text's terms, so its cost grows with the bank.
With a budget (``search_budget`` in ``bank.json``, where absent ``bank.default_budget``: 40,000 from 100k rows; or
``CPC_SEARCH_BUDGET``; 0 = exact), a text keeps its terms
with the shortest posting lists while their postings add up to at most the budget (at least its rarest term), the
top-n product over those terms gives ``candidates`` rows, and each candidate's exact dot product with the whole
text is computed from a row-major copy of the bank (scipy's C loops: per text, its candidates' rows gathered and
one matrix-vector product; bit for bit the exact search's sums). Texts whose terms all fit the budget get the exact search's rows.
Measured in ``benchmarks/search_budget.py`` and ``benchmarks/budget_speed.py``.
"""

from __future__ import annotations

import numpy as np

from cpc_models.kinds.sparse import Csr, top_n

DEFAULT_CANDIDATES = 200  # rows rescored per text (at least the depth asked for); 100 lose F1 at 300k rows


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
    ``candidates`` (texts x c bank rows, listed first, -1 after; 0 there), from ``rows`` (bank rows x features,
    scipy CSR with sorted indices): per text, its candidates' rows times the text as a dense vector, in scipy's C
    matrix-vector loop (each row's terms in order, as the exact search sums them; a zero adds nothing)."""
    dots = np.zeros(candidates.shape, dtype=np.float32)
    dense = np.zeros(x.shape[1], dtype=np.float32)
    found = (candidates >= 0).sum(axis=1)
    for i in np.flatnonzero(found):
        terms = x.indices[x.indptr[i] : x.indptr[i + 1]]
        dense[terms] = x.data[x.indptr[i] : x.indptr[i + 1]]
        dots[i, : found[i]] = rows[candidates[i, : found[i]]] @ dense
        dense[terms] = 0
    return dots


def budgeted_search(x: Csr, postings: Csr, rows, lengths: np.ndarray, budget: int, candidates: int, threads: int):
    """(rows, dots, covered, found) per text: ``candidates`` bank rows from the terms within ``budget`` with their
    exact dot products, in the candidate search's order (-1 / 0 where fewer; ``NeighbourBank`` ranks them), whether
    every term of the text was searched, and how many rows the candidate search found."""
    n = x.shape[0]
    kept, covered = keep_rarest(x, lengths, budget)
    _, indices, indptr = top_n(kept, postings, candidates, threads, above=0.0)
    found = np.diff(indptr)
    picked = np.full((n, candidates), -1, dtype=np.int64)
    picked[np.repeat(np.arange(n), found), np.arange(len(indices)) - np.repeat(indptr[:-1], found)] = indices
    return picked, rescore(x, rows, picked), covered, found
