"""The neighbour banks of a model folder, and the one function that writes rows into a bank.

A neighbour bank is a folder of a kind that votes with (or looks up) stored training patents: ``tfidf-knn``
(``knn_bank.npz``: TF-IDF rows and labels; ``knn_docs.json``: number, title, codes per row) and ``minilm-knn``
(``train_embeddings.npy``, ``train_labels.npy``). A model's banks: the folder itself when it is such a kind, its
ensemble members that are, and the ``neighbour_index/`` shipped for similar patents.

Rows are made with the bank's own features (the TF-IDF vectorizers or the encoder are not refitted: a word the
vocabulary lacks does not count, as for any text the model reads). A new row replaces a bank row with the same
publication number, or whose features are those of the same text (cosine >= ``SAME_TEXT``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

BANK_KINDS = ("tfidf-knn", "minilm-knn")  # kinds that keep a neighbour bank
SAME_TEXT = 0.9999  # cosine at or above which a bank row holds the same (normalised) text
CHUNK = 512


def has_bank(kind: str) -> bool:
    """Whether a kind keeps a neighbour bank (``Kind`` capability where the registry has one, else this list)."""
    from cpc_models.registry import KINDS

    flag = getattr(KINDS.get(kind), "neighbour_bank", None)
    return bool(flag) if flag is not None else kind in BANK_KINDS


@dataclass
class Bank:
    path: Path  # the bank's folder
    kind: str  # one of BANK_KINDS


def find_banks(model_dir: str | Path) -> list[Bank]:
    """Every neighbour bank of a model folder (members by their path in ``ensemble.json``)."""
    from cpc_models.predict.evidence import INDEX_DIR
    from cpc_models.registry import kind_of

    model_dir = Path(model_dir)
    kind = kind_of(model_dir)
    banks = [Bank(model_dir, kind)] if has_bank(kind) else []
    if kind == "ensemble":
        from cpc_models.kinds.ensemble import ENSEMBLE_FILE

        for member in json.loads((model_dir / ENSEMBLE_FILE).read_text())["members"]:
            path = model_dir / member["path"]
            if member.get("weight") and path.is_dir() and has_bank(kind_of(path)):
                banks.append(Bank(path, kind_of(path)))
    if (model_dir / INDEX_DIR / "config.json").exists():
        banks.append(Bank(model_dir / INDEX_DIR, "tfidf-knn"))
    return banks


class BankRows:
    """A loaded bank: its labels, rows, publication numbers (where kept) and how it turns texts into rows."""

    def __init__(self, bank: Bank):
        from cpc_models.registry import load_scorer

        self.bank = bank
        self.scorer = load_scorer(bank.path)
        self.labels = list(self.scorer.labels)
        if bank.kind == "tfidf-knn":
            self.matrix_t = self.scorer.bank_t  # (features, rows) CSR: what a text's terms are multiplied with
            self.matrix = self.matrix_t.T.tocsr()
            self.y = self.scorer.bank_labels
            self.docs = self.scorer.docs
        else:
            self.matrix = self.scorer.head.embeddings.astype(np.float32)
            self.matrix_t = self.matrix.T
            self.y = self.scorer.head.labels
            self.docs = None
        if self.y.shape[1] < len(self.labels):  # labels added by --new-labels: no base row carries them
            self.y = np.hstack([self.y, np.zeros((self.y.shape[0], len(self.labels) - self.y.shape[1]), np.uint8)])

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def numbers(self) -> list[str] | None:
        return list(self.docs["publication_number"]) if self.docs and "publication_number" in self.docs else None

    def features(self, texts: list[str]):
        """The bank rows of ``texts``, as the bank stores them (TF-IDF in float16 precision, or fp16 embeddings)."""
        if self.bank.kind == "tfidf-knn":
            from cpc_models.kinds.tfidf import transform_features

            x = transform_features(self.scorer.blocks, texts)
            x.data = x.data.astype(np.float16).astype(np.float32)
            return x
        return self.scorer.encoder.encode(list(texts)).astype(np.float16).astype(np.float32)

    def same_text_rows(self, x) -> np.ndarray:
        """Per new row, the bank row holding the same text (cosine >= SAME_TEXT), else -1."""
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


def write_rows(bank: BankRows, keep: np.ndarray, x, y: np.ndarray, docs: dict[str, list] | None) -> int:
    """Write ``bank``'s folder with its rows ``keep`` (a boolean mask) followed by the new rows ``x`` (labels ``y``,
    and ``docs`` per row where the bank keeps them). The one function that writes a bank; returns its row count."""
    from scipy.sparse import vstack

    folder, kind = bank.bank.path, bank.bank.kind
    if kind == "tfidf-knn":
        from cpc_models.kinds.tfidf_knn import KNN_BANK_FILE, KNN_DOCS_FILE

        matrix = vstack([bank.matrix[keep], x]).tocsr()
        labels = np.vstack([bank.y[keep], y]).astype(np.uint8)
        np.savez_compressed(
            folder / KNN_BANK_FILE,
            data=matrix.data.astype(np.float16),
            indices=matrix.indices,
            indptr=matrix.indptr,
            shape=np.array(matrix.shape),
            labels=labels,
            knn=np.array([bank.scorer.k, bank.scorer.temperature]),
        )
        if bank.docs:
            kept = np.flatnonzero(keep)
            merged = {
                key: [values[i] for i in kept] + list(docs.get(key, [""] * x.shape[0]))
                for key, values in bank.docs.items()
            }
            (folder / KNN_DOCS_FILE).write_text(json.dumps(merged, ensure_ascii=False) + "\n")
    else:
        from cpc_models.kinds.minilm_knn import KNN_EMBEDDINGS, KNN_LABELS

        matrix = np.vstack([bank.matrix[keep], x]).astype(np.float16)
        np.save(folder / KNN_EMBEDDINGS, matrix)
        np.save(folder / KNN_LABELS, np.vstack([bank.y[keep], y]).astype(np.uint8))
    return int(matrix.shape[0])
