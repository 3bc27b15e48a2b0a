"""The neighbour banks of a model folder, and the one function that writes rows into a bank.

A neighbour bank is a folder of a kind that votes with (or looks up) stored training patents: ``tfidf-knn`` (its
TF-IDF rows, labels and number, title, codes per row: ``bank/``, memory-mapped, written by
``cpc_models.kinds.bank_files.save_bank``; or, in folders of format 1, ``knn_bank.npz`` + ``knn_docs.json``) and
``minilm-knn`` (``train_embeddings.npy``, ``train_labels.npy``). A model's banks: the folder itself when it is
such a kind, its ensemble members that are, and the ``neighbour_index/`` shipped for similar patents.

Rows are made with the bank's own features (the TF-IDF vectorizer or the encoder is not refitted: a word the
vocabulary lacks does not count, as for any text the model reads). A new row replaces a bank row with the same
publication number, or whose features are those of the same text (cosine >= ``SAME_TEXT``). ``write_rows`` is
the one function here that writes a bank.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import (
    CONFIG_FILE,
    ENSEMBLE_FILE,
    KNN_BANK_FILE,
    KNN_DOCS_FILE,
    KNN_EMBEDDINGS_FILE,
    KNN_LABELS_FILE,
    NEIGHBOUR_INDEX_DIR,
)

try:  # storage format 2 (the memory-mapped bank/ of cpc_models.kinds.bank), where this version has it
    from cpc_models.files import BANK_DIR
except ImportError:  # format 1 only
    BANK_DIR = None

log = logging.getLogger(__name__)

SAME_TEXT = 0.9999  # cosine at or above which a bank row holds the same (normalised) text
SAME_TEXT_DEPTH = 20  # format 2: rows of largest dot product among which the same text is looked for
CHUNK = 512


def has_bank(kind: str) -> bool:
    """Whether a kind owns a neighbour bank that rows can be written to (``Kind.learnable_bank``)."""
    from cpc_models.registry import KINDS

    return kind in KINDS and KINDS[kind].learnable_bank


@dataclass
class Bank:
    path: Path  # the bank's folder
    kind: str  # a kind with ``learnable_bank``

    @property
    def tfidf(self) -> bool:
        """TF-IDF rows (else sentence embeddings, ``KNN_EMBEDDINGS_FILE``)."""
        return not (self.path / KNN_EMBEDDINGS_FILE).exists()


def find_banks(model_dir: str | Path) -> list[Bank]:
    """Every neighbour bank of a model folder (members by their path in ``ensemble.json``)."""
    from cpc_models.registry import kind_of

    model_dir = Path(model_dir)
    kind = kind_of(model_dir)
    banks = [Bank(model_dir, kind)] if has_bank(kind) else []
    if (model_dir / ENSEMBLE_FILE).exists():
        for member in json.loads((model_dir / ENSEMBLE_FILE).read_text())["members"]:
            path = model_dir / member["path"]
            if member.get("weight") and path.is_dir() and has_bank(kind_of(path)):
                banks.append(Bank(path, kind_of(path)))
    if (model_dir / NEIGHBOUR_INDEX_DIR / CONFIG_FILE).exists():
        banks.append(Bank(model_dir / NEIGHBOUR_INDEX_DIR, kind_of(model_dir / NEIGHBOUR_INDEX_DIR)))
    return banks


def bank_files(bank: Bank) -> list[Path]:
    """What ``write_rows`` rewrites in a bank's folder (files or folders), for ``cpc learn --in-place``'s undo."""
    if bank.tfidf:
        return [bank.path / name for name in (BANK_DIR, KNN_BANK_FILE, KNN_DOCS_FILE) if name]
    return [bank.path / KNN_EMBEDDINGS_FILE, bank.path / KNN_LABELS_FILE]


def _format2(bank: Bank) -> bool:
    return bank.tfidf and BANK_DIR is not None and (bank.path / BANK_DIR).is_dir()


class BankRows:
    """A bank read into memory: rows (CSR or dense), labels (dense 0/1 over ``labels``), one doc per row (number,
    title, codes) where it keeps them, and how it turns texts into rows."""

    def __init__(self, bank: Bank):
        from cpc_models.registry import load_scorer

        self.bank = bank
        self.scorer = load_scorer(bank.path)
        self.labels = list(self.scorer.labels)
        self.docs: list[dict] | None = None
        if _format2(bank):
            from cpc_models.kinds.bank_files import read_bank_rows

            self.matrix, y, self.docs, spec = read_bank_rows(bank.path / BANK_DIR)
            self.y = np.asarray(y.todense(), dtype=np.uint8)
            self.knn = (spec["k"], spec["temperature"])
        elif bank.tfidf:
            from scipy.sparse import csr_matrix

            b = np.load(bank.path / KNN_BANK_FILE)
            self.matrix = csr_matrix((b["data"].astype(np.float32), b["indices"], b["indptr"]), shape=tuple(b["shape"]))
            self.y, self.knn = b["labels"].astype(np.uint8), (int(b["knn"][0]), float(b["knn"][1]))
            if (bank.path / KNN_DOCS_FILE).exists():
                cols = json.loads((bank.path / KNN_DOCS_FILE).read_text())
                self.docs = [{key: values[i] for key, values in cols.items()} for i in range(self.matrix.shape[0])]
        else:
            self.matrix = self.scorer.head.embeddings.astype(np.float32)
            self.y = self.scorer.head.labels
        self.matrix_t = self.matrix.T.tocsr() if hasattr(self.matrix, "tocsr") else self.matrix.T
        if self.y.shape[1] < len(self.labels):  # labels added by --new-labels: no base row carries them
            self.y = np.hstack([self.y, np.zeros((self.y.shape[0], len(self.labels) - self.y.shape[1]), np.uint8)])

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def numbers(self) -> list[str] | None:
        return None if self.docs is None else [d.get("publication_number") or "" for d in self.docs]

    def features(self, texts: list[str]):
        """The bank rows of ``texts``, as the bank stores them (TF-IDF in float16 precision, or fp16 embeddings)."""
        if self.bank.tfidf:
            vectorizer = getattr(self.scorer, "vectorizer", None)  # format 2; format 1 scorers hold the blocks
            if vectorizer is not None:
                x = vectorizer.transform(list(texts))
                x = x.to_scipy() if hasattr(x, "to_scipy") else x.tocsr()  # the storage's own CSR, or scipy's
            else:
                from cpc_models.kinds.tfidf import transform_features

                x = transform_features(self.scorer.blocks, texts)
            x.data = x.data.astype(np.float16).astype(np.float32)
            return x
        return self.scorer.encoder.encode(list(texts)).astype(np.float16).astype(np.float32)

    def same_text_rows(self, x) -> np.ndarray:
        """Per new row, the bank row holding the same text (cosine >= SAME_TEXT), else -1."""
        bank = getattr(self.scorer, "bank", None)
        if hasattr(bank, "search") and x.shape[0]:  # format 2: the bank's sparse top-n search by dot product
            hits = bank.search(x, SAME_TEXT_DEPTH)  # rows are L2-normalised per block: the same text is among them
            valid = hits.rows >= 0
            norms = bank.norms[np.where(valid, hits.rows, 0)]
            cos = np.where(valid, hits.dots / np.maximum(hits.qnorms[:, None] * norms, 1e-12), -1.0)
            best = cos.argmax(axis=1)
            pick = np.arange(len(cos))
            return np.where(cos[pick, best] >= SAME_TEXT, hits.rows[pick, best], -1)
        out = np.full(x.shape[0], -1, dtype=np.int64)
        bank_norms = _norms(self.matrix)
        for start in range(0, x.shape[0], CHUNK):
            part = x[start : start + CHUNK]
            sim = part @ self.matrix_t
            sim = sim.toarray() if hasattr(sim, "toarray") else np.asarray(sim)
            sim = sim / np.maximum(_norms(part)[:, None] * bank_norms[None, :], 1e-12)
            best = sim.argmax(axis=1) if sim.shape[1] else np.zeros(len(sim), dtype=np.int64)
            hit = sim[np.arange(len(sim)), best] >= SAME_TEXT if sim.shape[1] else np.zeros(len(sim), bool)
            out[start : start + CHUNK] = np.where(hit, best, -1)
        return out


def _norms(m) -> np.ndarray:
    if hasattr(m, "multiply"):
        return np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel()).astype(np.float32)
    return np.linalg.norm(np.asarray(m, dtype=np.float32), axis=1)


def write_rows(bank: BankRows, keep: np.ndarray, x, y: np.ndarray, docs: list[dict]) -> int:
    """Write ``bank``'s folder with its rows ``keep`` (a boolean mask) followed by the new rows ``x`` (labels ``y``
    over ``bank.labels``, one doc per row). The one function that writes a bank; returns its row count."""
    from scipy.sparse import vstack

    folder, kept = bank.bank.path, np.flatnonzero(keep)
    labels = np.vstack([bank.y[keep], y]).astype(np.uint8)
    all_docs = None if bank.docs is None else [bank.docs[i] for i in kept] + list(docs)
    if _format2(bank.bank):
        from cpc_models.kinds.bank_files import save_bank

        rows = vstack([bank.matrix[keep], x], format="csr")
        save_bank(folder / BANK_DIR, rows, labels, *bank.knn, all_docs, n_labels=labels.shape[1])
    elif bank.bank.tfidf:
        rows = vstack([bank.matrix[keep], x], format="csr")
        np.savez_compressed(
            folder / KNN_BANK_FILE,
            data=rows.data.astype(np.float16),
            indices=rows.indices,
            indptr=rows.indptr,
            shape=np.array(rows.shape),
            labels=labels,
            knn=np.array(bank.knn),
        )
        if all_docs is not None:
            cols = {key: [d.get(key) for d in all_docs] for key in all_docs[0]} if all_docs else {}
            (folder / KNN_DOCS_FILE).write_text(json.dumps(cols, ensure_ascii=False) + "\n")
    else:
        rows = np.vstack([bank.matrix[keep], x]).astype(np.float16)
        np.save(folder / KNN_EMBEDDINGS_FILE, rows)
        np.save(folder / KNN_LABELS_FILE, labels)
    return int(rows.shape[0])
