"""The neighbour bank of a ``tfidf-knn`` member: training patents' TF-IDF rows, their labels and who they are.

Folder (``BANK_DIR``, format 2), every array a plain ``.npy`` read memory-mapped (shared between processes):

- ``postings_{data,indices,indptr}.npy``: the rows transposed (features x rows, CSR, float32 values rounded to
  float16 precision): a text's terms pick their posting lists, so the top-n search (``sparse_dot_topn``) never
  materialises texts x bank;
- ``norms.npy``: each row's L2 norm; ``labels_{indices,indptr}.npy``: each row's label columns (CSR);
- ``short_rows.npy`` + ``short_{data,indices,indptr}.npy``: the rows with a norm below the 1st percentile
  (``short_floor`` in ``bank.json``) and their postings, so that the search's hits prove the cosine ranking
  (``NeighbourBank.nearest``); banks saved before them compute them on first use;
- ``docs.jsonl`` + ``docs_offsets.npy``: publication number, title and codes of each row, one JSON object per
  line, read only for the rows shown (``cpc_models.kinds.doc_readers``);
- ``rows_{data,indices,indptr}.npy`` (large banks, or saved with a ``search_budget``): the rows themselves (CSR), for
  the budgeted search's rescoring (``cpc_models.kinds.budget``); made from the postings on first use otherwise;
- ``bank.json``: rows, features, labels, ``k`` and ``temperature`` of the vote, ``search_budget`` (0: the exact
  search; absent: ``default_budget``, exact below 100k rows).

Saving, loading and appending rows: ``cpc_models.kinds.bank_files``. Format 1 (``knn_bank.npz`` + ``knn_docs.json``
in the member folder) still loads (``bank_files.load_bank_v1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cpc_models.kinds.sparse import Csr, as_csr, matmul_dense, ranges, top_n
from cpc_models.kinds.sparse import row_norms as query_norms

FORMAT = 2
DEFAULT_K = 50  # rows that vote
DEFAULT_TEMPERATURE = 10.0
ROW_COPY_ROWS = 100_000  # banks this large save their rows row-major too and search with AUTO_BUDGET
SPLIT_ROWS = 5_000  # banks this large search fewer texts than threads in row ranges, one per thread
AUTO_BUDGET = 40_000  # postings per text of a large bank's search unless its bank.json says otherwise (budget.py)


def default_budget(rows: int) -> int:
    """The search budget of a bank whose ``bank.json`` names none: exact below ``ROW_COPY_ROWS`` rows, else
    ``AUTO_BUDGET`` (``benchmarks/results/search_budget.md``: test F1 within 0.001 of the exact search at 300k)."""
    return AUTO_BUDGET if rows >= ROW_COPY_ROWS else 0


def row_norms(rows) -> np.ndarray:
    """L2 norm of each row of a CSR matrix, float32 (as the dense product's cosine always computed it)."""
    return np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel()).astype(np.float32)


@dataclass
class Hits:
    """Per text, the bank rows with the largest dot products, best first (``rows`` -1 where fewer)."""

    rows: np.ndarray  # (texts, depth) int64
    dots: np.ndarray  # (texts, depth) float32, 0 where rows is -1
    complete: np.ndarray  # (texts,) bool: every bank row with a positive dot product is listed
    qnorms: np.ndarray  # (texts,) float32
    features: object  # the texts' TF-IDF rows (CSR), for the exact fallback
    near: tuple | None = None  # (rows, similarities) of the cosine ranking, once ``NeighbourBank.nearest`` made it
    exact: np.ndarray | None = None  # (texts,) bool: the rows are the exact search's (None: every text's are)

    @property
    def depth(self) -> int:
        return self.rows.shape[1]


class NeighbourBank:
    def __init__(self, postings, norms, labels, k: int, temperature: float, docs=None):
        self.postings = postings  # (features, rows) CSR
        self.norms = np.asarray(norms)
        self.labels = labels  # (rows, n_labels) CSR of ones
        self.k, self.temperature = int(k), float(temperature)
        self.docs = docs  # DocReader or None
        positive = self.norms[self.norms > 0]
        self.min_norm = float(positive.min()) if len(positive) else 1.0
        self._labelled = None
        self._short = None
        self.budget = 0  # postings read per text (``search_budget``; 0: the exact search)
        self._rows = None  # row-major copy (Csr or scipy CSR), for the budgeted search
        self._split = None  # (parts, postings split by row ranges), for searches of fewer texts than threads

    @property
    def n_rows(self) -> int:
        return self.postings.shape[1]

    def labelled(self) -> np.ndarray:
        """1.0 where a row carries any label (for the scope flag)."""
        if self._labelled is None:
            self._labelled = (np.diff(self.labels.indptr) > 0).astype(np.float32)
        return self._labelled

    def search(self, x, depth: int) -> Hits:
        """The ``depth`` rows with the largest dot product per text row of ``x`` (exact; sparse top-n product that
        never materialises texts x bank). With a search budget (``search_budget`` in ``bank.json`` or
        ``CPC_SEARCH_BUDGET``), the budgeted search's candidates instead (``_budgeted``)."""
        x = as_csr(x)
        n, depth = x.shape[0], max(1, min(int(depth), self.n_rows))
        from cpc_models.settings import search_budget, search_threads

        budget = search_budget(self.budget)
        if budget > 0:
            return self._budgeted(x, depth, budget, search_threads())

        # fewer texts than threads: each text's search split over the bank's row ranges, one per thread
        threads = search_threads()
        parts = threads if 0 < n < threads and self.n_rows >= SPLIT_ROWS else 1
        rows, dots, complete, unsure = self._exact(x, depth, parts, threads)
        if unsure.any():  # a tie at the depth cut: which of the tied rows it keeps is the one-thread kernel's choice
            todo = np.flatnonzero(unsure)
            rows[todo], dots[todo], complete[todo], _ = self._exact(x.take(todo), depth, 1, threads)
        return Hits(rows, dots, complete, query_norms(x), x)

    def _exact(self, x: Csr, depth: int, parts: int, threads: int):
        """(rows, dots, complete, unsure) of the exact search, ``parts`` row ranges per text; ``unsure``: texts
        whose hits may keep other rows of equal dot product at the depth cut than the one-thread search does."""
        n = x.shape[0]
        a, b = (x, self.postings) if parts == 1 else (_split_query(x, parts), self.split_postings(parts))
        # rows that share a term with a text have a positive dot product (TF-IDF values are positive)
        data, indices, indptr = top_n(a, b, depth, threads, above=0.0)
        counts = np.diff(indptr)  # per row of a: per text, or per text and row range
        rows = np.full((n, depth * parts), -1, dtype=np.int64)
        dots = np.zeros((n, depth * parts), dtype=np.float32)
        owner = np.repeat(np.arange(a.shape[0]), counts)
        column = (owner % parts) * depth + np.arange(len(indices)) - np.repeat(indptr[:-1], counts)
        rows[owner // parts, column], dots[owner // parts, column] = indices, data
        rows, dots = _ranked(rows, dots)
        # complete: fewer hits than asked for (over all row ranges: as the one-thread search says), or as deep as
        # the bank
        complete = (counts.reshape(n, parts).sum(axis=1) < depth) | (depth >= self.n_rows)
        unsure = np.zeros(n, dtype=bool)
        if parts > 1 and len(data):
            cut = dots[:, depth - 1]
            # a range as deep as asked for may hold more rows of its last (smallest) dot product
            last = np.where(counts == depth, data[np.maximum(np.asarray(indptr[1:], np.int64) - 1, 0)], -1)
            unsure = (cut > 0) & ((dots[:, depth] == cut) | (last.reshape(n, parts) == cut[:, None]).any(axis=1))
        return rows[:, :depth], dots[:, :depth], complete, unsure

    def split_postings(self, parts: int) -> Csr:
        """The postings as ``parts`` row ranges of the bank: row ``t * parts + j`` of this matrix is the postings of
        term ``t`` in the ``j``-th range (the postings' own arrays; only the row pointers are new, made once)."""
        if self._split is None or self._split[0] != parts:
            p = self.postings
            starts, ends = np.asarray(p.indptr[:-1], np.int64), np.asarray(p.indptr[1:], np.int64)
            cuts = [starts]
            for j in range(1, parts):
                below = np.zeros(p.nnz + 1, dtype=p.indptr.dtype)  # int32 unless the postings need int64
                np.cumsum(p.indices < self.n_rows * j // parts, out=below[1:])
                cuts.append(starts + below[ends] - below[starts])  # a term's postings are sorted by row
            indptr = np.empty(len(starts) * parts + 1, dtype=np.int64)
            indptr[:-1], indptr[-1] = np.stack(cuts, axis=1).ravel(), p.nnz
            split = Csr(p.data, p.indices, indptr.astype(p.indptr.dtype), (p.shape[0] * parts, self.n_rows))
            self._split = parts, split
        return self._split[1]

    def _budgeted(self, x: Csr, depth: int, budget: int, threads: int) -> Hits:
        """Hits of the budgeted search (``cpc_models.kinds.budget``): candidates with their exact dot products,
        exact (and, when fewer than asked for, complete) only for the texts whose terms all fit the budget."""
        from cpc_models.kinds.budget import DEFAULT_CANDIDATES, budgeted_search

        depth = min(max(depth, DEFAULT_CANDIDATES), self.n_rows)
        lengths = np.diff(np.asarray(self.postings.indptr))
        rows, dots, covered, found = budgeted_search(
            x, self.postings, self.row_major(), lengths, budget, depth, threads
        )
        rows, dots = _ranked(rows, dots)
        complete = covered & ((found < depth) | (depth >= self.n_rows))
        return Hits(rows, dots, complete, query_norms(x), x, exact=covered)

    def row_major(self):
        """The bank's rows (rows x features, scipy CSR, sorted indices): saved, or made from the postings once."""
        if self._rows is None:
            from scipy.sparse import csr_matrix

            self._rows = csr_matrix(self.postings.to_scipy().T, dtype=np.float32).tocsr()
            self._rows.sort_indices()
        elif isinstance(self._rows, Csr):
            self._rows = self._rows.to_scipy()
            self._rows.has_sorted_indices = True  # saved sorted (``save_bank``)
        return self._rows

    def vote(self, hits: Hits, k: int | None = None) -> np.ndarray:
        """exp(temperature * (dot - best))-weighted share of the ``k`` best rows carrying each label."""
        rows, sims = hits.rows[:, : k or self.k], hits.dots[:, : k or self.k]
        w = self._weights(rows, sims, self.temperature)
        valid = rows >= 0
        r, q = rows[valid], np.nonzero(valid)[0]
        starts, ends = self.labels.indptr[r], self.labels.indptr[r + 1]
        lengths = ends - starts
        flat = ranges(starts, lengths)
        n_labels = self.labels.shape[1]
        cells = np.repeat(q, lengths) * n_labels + self.labels.indices[flat]
        votes = np.bincount(cells, weights=np.repeat(w[valid], lengths), minlength=len(rows) * n_labels)
        total = w.sum(axis=1, keepdims=True)
        return (votes.reshape(len(rows), n_labels) / np.where(total > 0, total, 1)).astype(np.float32)

    @staticmethod
    def _weights(rows: np.ndarray, sims: np.ndarray, temperature: float) -> np.ndarray:
        valid = rows >= 0
        best = np.where(valid, sims, -np.inf).max(axis=1, keepdims=True) if rows.shape[1] else np.zeros((len(rows), 1))
        best = np.where(np.isfinite(best), best, 0).astype(np.float32)
        return np.where(valid, np.exp(np.float32(temperature) * (sims - best)), 0).astype(np.float32)

    def nearest(self, hits: Hits, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` rows of largest cosine similarity per text, best first (ties: lower row first), and the
        similarities; -1 / 0 where fewer rows share a term with the text. Exact and served by the hits: a row
        outside them has a dot product no larger than the last hit's, and the few rows shorter than most
        (``short_rows``) have theirs computed here, so a bound on the others proves the ranking. Texts whose hits
        cannot prove it (near-ties across the hits' depth) are searched again, deeper. Kept on ``hits``: a later
        call for as many rows or fewer reuses it."""
        n = max(1, min(int(n), self.n_rows))
        if hits.near is not None and hits.near[0].shape[1] >= n:
            return hits.near[0][:, :n], hits.near[1][:, :n]
        rows, sims, proven = self._rank(hits, n)
        todo, depth = np.flatnonzero(~proven), hits.depth
        while len(todo):
            depth *= 4
            deeper = self.search(hits.features.take(todo), depth)
            r, s, ok = self._rank(deeper, n)
            rows[todo[ok]], sims[todo[ok]] = r[ok], s[ok]
            todo = todo[~ok]
        hits.near = rows, np.where(rows >= 0, sims, 0).astype(np.float32)
        return hits.near

    def short_rows(self) -> tuple[np.ndarray, float, Csr]:
        """(rows, smallest norm of the other rows, the rows' postings): the rows shorter than 99 % of the bank (e.g.
        patents without a title), whose dot products ``nearest`` computes for every text. Saved with the bank
        (``save_bank``); for a bank saved without them, made here on first use (it reads every posting)."""
        if self._short is None:
            short, floor = find_short_rows(self.norms)
            p = self.postings
            where = self._positions(short)
            column = where[np.asarray(p.indices)]
            keep = np.flatnonzero(column >= 0)  # postings are sorted by term: each kept entry's term by bisection
            features = p.shape[0]
            term = np.searchsorted(np.asarray(p.indptr), keep, side="right") - 1
            indptr = np.zeros(features + 1, dtype=np.int32)
            np.cumsum(np.bincount(term, minlength=features), out=indptr[1:])
            postings = Csr(np.asarray(p.data, dtype=np.float32)[keep], column[keep], indptr, (features, len(short)))
            self._short = np.asarray(short, dtype=np.int64), float(floor), postings, where
        return self._short[:3]

    def set_short_rows(self, short: np.ndarray, floor: float, postings) -> None:
        self._short = np.asarray(short, dtype=np.int64), float(floor), postings, self._positions(short)

    def _positions(self, short: np.ndarray) -> np.ndarray:
        """Each bank row's place among ``short`` (-1: not a short row)."""
        where = np.full(self.n_rows, -1, dtype=np.int32)
        where[short] = np.arange(len(short), dtype=np.int32)
        return where

    def _rank(self, hits: Hits, n: int):
        rows, sims = self._order(hits.qnorms, hits.rows, hits.dots, n)
        # a row outside the hits has a dot product <= the last hit's and a norm >= the smallest
        last = np.maximum(hits.qnorms, np.float32(1e-12))
        proven = hits.complete | (sims[:, -1] > hits.dots[:, -1] / (last * np.float32(self.min_norm)))
        if hits.exact is not None:  # budgeted hits: no bound holds; their candidates ranked as they are
            proven |= ~hits.exact
        todo = np.flatnonzero(~proven)
        short, floor, postings = self.short_rows() if len(todo) else ((), 0.0, None)
        if len(todo) and len(short):
            # the short rows' own dot products (summed as the search sums), then a bound on the other rows
            extra = matmul_dense(as_csr(hits.features).take(todo), postings)
            listed = np.where(hits.rows[todo] >= 0, self._short[3][np.maximum(hits.rows[todo], 0)], -1)
            r, c = np.nonzero(listed >= 0)
            extra[r, listed[r, c]] = 0  # already a hit
            candidates = np.concatenate([hits.rows[todo], np.where(extra > 0, short[None, :], -1)], axis=1)
            dots = np.concatenate([hits.dots[todo], extra], axis=1)
            rows[todo], sims[todo] = self._order(hits.qnorms[todo], candidates, dots, n)
            proven[todo] = sims[todo, -1] > hits.dots[todo, -1] / (last[todo] * np.float32(floor))
        return rows, sims, proven

    def _order(self, qnorms: np.ndarray, rows: np.ndarray, dots: np.ndarray, n: int):
        """The ``n`` of ``rows`` of largest cosine similarity per text (ties: lower row first), padded with -1."""
        valid = rows >= 0
        scale = np.maximum(qnorms[:, None] * self.norms[np.where(valid, rows, 0)], np.float32(1e-12))
        rows, sims = _ranked(rows, np.where(valid, dots / scale, -np.inf).astype(np.float32))
        rows, sims = rows[:, :n], sims[:, :n]
        if rows.shape[1] < n:
            pad = n - rows.shape[1]
            rows = np.pad(rows, ((0, 0), (0, pad)), constant_values=-1)
            sims = np.pad(sims, ((0, 0), (0, pad)), constant_values=-np.inf)
        return rows, sims

    def labelled_share(self, rows: np.ndarray, sims: np.ndarray, temperature: float) -> np.ndarray:
        """Similarity-weighted share of the given rows that carry any label."""
        w = self._weights(rows, sims, temperature)
        labelled = np.where(rows >= 0, self.labelled()[np.where(rows >= 0, rows, 0)], 0)
        total = w.sum(axis=1)
        return ((w * labelled).sum(axis=1) / np.where(total > 0, total, 1)).astype(np.float32)

    def doc(self, row: int) -> dict:
        return {} if self.docs is None else self.docs[row]


def _ranked(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` (texts x places, -1 where unfilled) and their ``values``, each text's best value first; equal values:
    lower row first; unfilled places last."""
    order = np.lexsort((np.where(rows < 0, np.iinfo(np.int64).max, rows), -values), axis=1)
    return np.take_along_axis(rows, order, 1), np.take_along_axis(values, order, 1)


def _split_query(x: Csr, parts: int) -> Csr:
    """Each text row of ``x`` once per row range of ``split_postings``: row ``i * parts + j`` holds text ``i``'s
    terms ``t`` as ``t * parts + j``."""
    counts = np.repeat(np.diff(np.asarray(x.indptr, np.int64)), parts)  # per (text, range) row
    starts = np.repeat(np.asarray(x.indptr[:-1], np.int64), parts)
    indptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    flat = ranges(starts, counts)
    part = np.repeat(np.tile(np.arange(parts), x.shape[0]), counts)
    index = x.indices.dtype if x.shape[1] * parts < 2**31 else np.int64
    indices = (x.indices[flat].astype(np.int64) * parts + part).astype(index)
    return Csr(x.data[flat], indices, indptr.astype(x.indptr.dtype), (len(counts), x.shape[1] * parts))


def find_short_rows(norms: np.ndarray) -> tuple[np.ndarray, float]:
    """The rows whose norm is below the 1st percentile of the positive norms, and that percentile."""
    positive = np.sort(norms[norms > 0])
    floor = float(positive[len(positive) // 100]) if len(positive) else 1.0
    return np.flatnonzero((norms > 0) & (norms < floor)), floor
