"""Fitting a word TF-IDF block in bounded memory: scikit-learn's ``TfidfVectorizer.fit_transform``, counted in chunks.

scikit-learn counts every n-gram of the corpus in one dict, and every non-zero in Python lists, before ``min_df``,
``max_df`` and ``max_features`` prune them: its memory grows with the corpus' distinct n-grams and non-zeros as
Python objects. ``StreamedTfidf`` counts chunk by chunk into numpy arrays and holds at most ``max_candidates``
distinct n-grams: when the table is full, the n-grams seen in the fewest documents so far are dropped (as gensim's
``max_vocab_size``), and a second pass recounts the training matrix with the chosen vocabulary, so the matrix and
the idf are exact for the chosen terms (only which rare n-grams are chosen can differ from an unbounded count).
While the table is never full it returns exactly what ``TfidfVectorizer`` returns: vocabulary, idf and the matrix,
bit for bit (same column order within rows), so models trained below the bound do not change.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from itertools import chain
from numbers import Integral

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_CANDIDATES = 4_000_000


class StreamedTfidf:
    """A word-analyzer ``TfidfVectorizer`` whose ``fit_transform`` counts in chunks (see the module)."""

    def __init__(
        self,
        *,
        min_df: int = 1,
        max_df: float = 1.0,
        max_features: int | None = None,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        chunk: int = 2048,
        **params,
    ):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._sklearn = TfidfVectorizer(min_df=min_df, max_df=max_df, max_features=max_features, **params)
        self._sklearn._validate_params()  # what TfidfVectorizer.fit refuses (max_df 1.5, max_features -1), refused here
        self._sklearn._validate_ngram_range()  # and an n-gram range (2, 1)
        if self._sklearn.analyzer != "word":
            raise ValueError("StreamedTfidf counts word n-grams only")
        self.min_df, self.max_df, self.max_features = min_df, max_df, max_features
        self.max_candidates, self.chunk = max(1, int(max_candidates)), max(1, int(chunk))
        self.pruned = 0  # times the candidate table was full
        self.peak_candidates = 0  # the most distinct n-grams held from one chunk to the next

    def get_params(self, deep: bool = True) -> dict:
        return self._sklearn.get_params(deep)

    @property
    def idf_(self) -> np.ndarray:
        return self._tfidf.idf_

    def fit_transform(self, texts: list[str]):
        from sklearn.feature_extraction.text import TfidfTransformer

        texts = list(texts)
        vocab, df, tf, parts = self._count(texts)
        self.vocabulary_, column = self._choose(vocab, df, tf, len(texts))
        del vocab
        if parts is None:  # the table was pruned: recount with the chosen vocabulary
            x = self._recount(texts)
        else:
            x = _remap(parts, column, len(self.vocabulary_), self._sklearn.dtype)
        p = self._sklearn
        self._tfidf = TfidfTransformer(
            norm=p.norm, use_idf=p.use_idf, smooth_idf=p.smooth_idf, sublinear_tf=p.sublinear_tf
        )
        self._tfidf.fit(x)
        return self._tfidf.transform(x, copy=False)

    def transform(self, texts: list[str]):
        return self._tfidf.transform(self._recount(list(texts)), copy=False)

    def _count(self, texts: list[str]):
        """Provisional ids (first-seen order, as scikit-learn's), per-id document and term counts, and the
        per-chunk count matrices (None once the table was pruned: they are recounted)."""
        from scipy.sparse import csr_matrix

        analyze = self._sklearn.build_analyzer()
        vocab: defaultdict = defaultdict()
        vocab.default_factory = vocab.__len__
        lookup = vocab.__getitem__
        df = np.zeros(0, dtype=np.int64)
        tf = np.zeros(0, dtype=np.int64)
        parts: list | None = []
        for start in range(0, len(texts), self.chunk):
            counts = [Counter(analyze(doc)) for doc in texts[start : start + self.chunk]]
            lengths = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
            ids = np.fromiter(chain.from_iterable(map(lookup, c) for c in counts), dtype=np.int64)
            values = np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=np.int64)
            del counts
            df = _grow(df, len(vocab)) + np.bincount(ids, minlength=len(vocab))
            tf = _grow(tf, len(vocab)) + np.bincount(ids, weights=values, minlength=len(vocab)).astype(np.int64)
            if parts is not None:
                indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
                np.cumsum(lengths, out=indptr[1:])
                part = csr_matrix(
                    (values.astype(np.int32), ids.astype(np.int32), indptr), shape=(len(lengths), len(vocab))
                )
                part.sort_indices()  # as scikit-learn's count matrix: each row by provisional id
                parts.append(part)
            if len(vocab) > self.max_candidates:
                vocab, df, tf = self._prune(vocab, df, tf)
                lookup = vocab.__getitem__
                parts = None
            self.peak_candidates = max(self.peak_candidates, len(vocab))
        return vocab, df, tf, parts

    def _prune(self, vocab: dict, df: np.ndarray, tf: np.ndarray):
        """Drop the n-grams seen in the fewest documents so far until at most half the table is left."""
        floor = 1
        while np.count_nonzero(df > floor) > self.max_candidates // 2:
            floor += 1
        keep = df > floor
        new_id = np.cumsum(keep) - 1
        kept: defaultdict = defaultdict()
        kept.default_factory = kept.__len__
        for term, i in vocab.items():
            if keep[i]:
                kept[term] = int(new_id[i])
        self.pruned += 1
        log.info("n-gram table full (%d): kept %d seen in more than %d documents", len(vocab), len(kept), floor)
        return kept, df[keep], tf[keep]

    def _choose(self, vocab: dict, df: np.ndarray, tf: np.ndarray, n_docs: int):
        """As ``CountVectorizer._limit_features`` after ``_sort_features``: the terms within ``min_df`` .. ``max_df``,
        the ``max_features`` largest total counts among them (ties as scikit-learn's argsort over the alphabetical
        order breaks them), in alphabetical order. Returns the vocabulary and each provisional id's column (-1: not
        kept)."""
        high = self.max_df if isinstance(self.max_df, Integral) else self.max_df * n_docs
        low = self.min_df if isinstance(self.min_df, Integral) else self.min_df * n_docs
        if high < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        ok = (df <= high) & (df >= low)
        terms = sorted((t, i) for t, i in vocab.items() if ok[i])
        ids = np.fromiter((i for _, i in terms), dtype=np.int64, count=len(terms))
        if self.max_features is not None and len(ids) > self.max_features:
            best = (-tf[ids].astype(np.float32)).argsort()[: self.max_features]
            keep = np.zeros(len(ids), dtype=bool)
            keep[best] = True
            terms = [t for t, k in zip(terms, keep) if k]
            ids = ids[keep]
        if not terms:
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher max_df.")
        column = np.full(len(df), -1, dtype=np.int64)
        column[ids] = np.arange(len(ids))
        return {t: j for j, (t, _) in enumerate(terms)}, column

    def _recount(self, texts: list[str]):
        """The count matrix of ``texts`` over the chosen vocabulary (as ``CountVectorizer.transform``)."""
        from scipy.sparse import csr_matrix, vstack

        analyze, get = self._sklearn.build_analyzer(), self.vocabulary_.get
        parts = []
        for start in range(0, len(texts), self.chunk):
            counts = []
            for doc in texts[start : start + self.chunk]:
                c = Counter(map(get, analyze(doc)))
                c.pop(None, None)
                counts.append(c)
            lengths = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
            indptr = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(lengths, out=indptr[1:])
            ids = np.fromiter(chain.from_iterable(counts), dtype=np.int32, count=int(indptr[-1]))
            values = np.fromiter(chain.from_iterable(c.values() for c in counts), dtype=np.int32, count=int(indptr[-1]))
            part = csr_matrix(
                (values, ids, indptr), shape=(len(counts), len(self.vocabulary_)), dtype=self._sklearn.dtype
            )
            part.sort_indices()
            parts.append(part)
        if not parts:
            return csr_matrix((0, len(self.vocabulary_)), dtype=self._sklearn.dtype)
        return vstack(parts, format="csr", dtype=self._sklearn.dtype)


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    if len(a) >= n:
        return a
    out = np.zeros(n, dtype=a.dtype)
    out[: len(a)] = a
    return out


def _remap(parts: list, column: np.ndarray, n_columns: int, dtype):
    """The chunks' count matrices with provisional ids replaced by the chosen columns (others dropped), stacked;
    each row keeps its provisional-id order, as scikit-learn's column selection keeps it."""
    from scipy.sparse import csr_matrix

    n_rows = sum(p.shape[0] for p in parts)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indices, data, row = [], [], 0
    while parts:
        p = parts.pop(0)
        cols = column[p.indices]
        keep = cols >= 0
        rows = np.repeat(np.arange(p.shape[0]), np.diff(p.indptr))
        indptr[row + 1 : row + 1 + p.shape[0]] = np.bincount(rows[keep], minlength=p.shape[0])
        row += p.shape[0]
        indices.append(cols[keep].astype(np.int32))
        data.append(p.data[keep].astype(dtype))
    np.cumsum(indptr, out=indptr)
    nnz = int(indptr[-1])
    index_dtype = np.int32 if nnz < 2**31 else np.int64
    x = csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, dtype),
            np.concatenate(indices) if indices else np.zeros(0, np.int32),
            indptr.astype(index_dtype),
        ),
        shape=(n_rows, n_columns),
        dtype=dtype,
    )
    return x
