"""Readers of a neighbour bank's documents (publication number, title and codes of each row), by row number.

``DocReader``: format 2, ``docs.jsonl`` memory-mapped, one line parsed (orjson) per row asked; ``ListDocs``: format 1,
``knn_docs.json`` (columns), parsed on first use. Written by ``cpc_models.kinds.bank_files.save_bank``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson

DOC_KEYS = ("publication_number", "title", "codes")


class DocReader:
    """Row -> {publication_number, title, codes}, read from ``docs.jsonl`` only for the rows asked."""

    def __init__(self, path: Path, offsets: np.ndarray):
        import mmap

        self.path, self.offsets = path, np.asarray(offsets)
        # mapped at load, with the offsets: a bank rewritten later (cpc learn --in-place) is a new file, and this
        # process keeps reading the one its offsets describe; read-only, safe between threads
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if self.offsets[-1] else b""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> dict:
        return orjson.loads(self._map[self.offsets[row] : self.offsets[row + 1]])


class ListDocs:
    """Format 1: ``knn_docs.json`` (columns), parsed on first use."""

    def __init__(self, path: Path):
        self.path, self._docs = path, None

    def __getitem__(self, row: int) -> dict:
        if self._docs is None:
            self._docs = json.loads(self.path.read_text())
        doc = {k: self._docs[k][row] for k in DOC_KEYS if k in self._docs}
        if "codes" in doc:
            doc["codes"] = list(doc["codes"])  # the caller's own, as a parsed line's is
        return doc
