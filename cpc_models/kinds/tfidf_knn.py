"""Kind ``tfidf-knn``: the similarity-weighted vote of the most TF-IDF-similar training patents.

Folder (format 2): ``features.json`` (its vectorizer folder, ``cpc_models.kinds.vectorizer``) and ``bank/`` (the
training patents' TF-IDF rows, labels and documents, memory-mapped: ``cpc_models.kinds.bank``). Format 1
(``vectorizers.json``, ``idf.npz``, ``knn_bank.npz``, ``knn_docs.json``) still loads. Folders of type ``linear``
with a ``knn_bank.npz`` load as this kind.

The vote takes the ``k`` bank rows with the largest dot product; the similar patents, the voters shown and the
scope flag rank by cosine similarity. One exact sparse top-n search per batch serves them all
(``cpc_models.kinds.batch``); texts that share a term with fewer than ``k`` rows are voted on by those rows only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.files import BANK_DIR, BANK_FILE
from cpc_models.kinds.bank import DEFAULT_K, DEFAULT_TEMPERATURE
from cpc_models.kinds.config import option
from cpc_models.kinds.tfidf import TfidfConfig, TfidfScorer, fit_vectorizer
from cpc_models.kinds.vectorizer import load_vectorizer, save_member_vectorizer

log = logging.getLogger(__name__)

KIND = "tfidf-knn"


@dataclass
class Config(TfidfConfig):
    output_dir: str = option("hub/models/tfidf-knn", flags=("--out",), help="Model folder to write.")
    k: int = option(DEFAULT_K, help="Neighbours that vote.")
    temperature: float = option(DEFAULT_TEMPERATURE, help="A vote is exp(temperature * (similarity - best)).")
    search_budget: int = option(
        -1,
        help="Postings one text's neighbour search reads, rarest terms first, candidates rescored exactly "
        "(0: the exact search; -1: exact below 100,000 bank rows, 40,000 postings from there).",
    )


class TfidfKnnScorer(TfidfScorer):
    """Similarity-weighted vote of the ``bank.k`` training patents with the largest TF-IDF dot product."""

    def __init__(self, labels: list[str], vectorizer, bank):
        super().__init__(labels, vectorizer)
        self.bank = bank
        self.k, self.temperature = bank.k, bank.temperature

    @property
    def has_docs(self) -> bool:
        return self.bank.docs is not None

    def hits(self, texts: list[str], depth: int = 0):
        from cpc_models.kinds.batch import hits

        return hits(texts, self.vectorizer, self.bank, max(depth, self.k))

    def nearest(self, texts: list[str], n: int):
        """Rows and cosine similarities of the ``n`` most similar bank rows per text (-1 / 0 where fewer): ranked
        once per batch, on the batch's one search, for as many rows as its evidence asks (``TextBatch.near``)."""
        wanted = max(n, getattr(texts, "near", 0))
        rows, sims = self.bank.nearest(self.hits(texts, 2 * wanted), wanted)
        return rows[:, :n], sims[:, :n]

    def neighbours(self, texts: list[str], k: int = 5) -> list[list[dict]]:
        """The ``k`` most similar bank rows per text: row, similarity (cosine) and, where saved, number, title, codes."""
        rows, sims = self.nearest(texts, k)
        return [[self._row(i, s) for i, s in zip(r, ss) if i >= 0] for r, ss in zip(rows, sims)]

    def voters(self, texts: list[str], label_indices: list[list[int]], top: int = 3) -> list[dict[int, list[dict]]]:
        """Per text, per asked label: the most similar of the ``k`` nearest neighbours that carry the label."""
        rows, sims = self.nearest(texts, self.k)
        labels = self.bank.labels
        out = []
        for r, ss, asked in zip(rows, sims, label_indices):
            carried = {
                int(i): set(labels.indices[labels.indptr[i] : labels.indptr[i + 1]].tolist()) for i in r if i >= 0
            }
            out.append(
                {j: [self._row(i, s) for i, s in zip(r, ss) if i >= 0 and j in carried[int(i)]][:top] for j in asked}
            )
        return out

    def _row(self, i, s) -> dict:
        return {"row": int(i), "similarity": round(float(s), 4), **self.bank.doc(int(i))}

    def doc(self, row: int) -> dict:
        return self.bank.doc(row)

    def predict_proba(self, texts: list[str], chunk: int = 1024) -> np.ndarray:
        from cpc_models.kinds.batch import TextBatch

        if isinstance(texts, TextBatch) or len(texts) <= chunk:
            return self.bank.vote(self.hits(texts))
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), chunk):
            out[start : start + chunk] = self.bank.vote(self.hits(list(texts[start : start + chunk])))
        return out


def load(model_dir: Path, backend: str = "native") -> TfidfKnnScorer:
    from cpc_models.kinds.bank_files import load_bank, load_bank_v1
    from cpc_models.registry import folder_labels

    model_dir = Path(model_dir)
    new = (model_dir / BANK_DIR / BANK_FILE).exists()
    bank = load_bank(model_dir / BANK_DIR) if new else load_bank_v1(model_dir)
    return TfidfKnnScorer(folder_labels(model_dir), load_vectorizer(model_dir), bank)


def write_knn_folder(
    out: Path, vectorizer, x, split, dataset_dir, k: int, temperature: float, search_budget: int | None = None
) -> TfidfKnnScorer:
    """Save the vectorizer and the bank (``x``: the split's TF-IDF rows) in ``out``; the loaded scorer."""
    from cpc_models.kinds.bank_files import bank_docs, load_bank, save_bank

    save_member_vectorizer(out, vectorizer)
    docs = bank_docs(dataset_dir, split)
    save_bank(out / BANK_DIR, x, split.y, k, temperature, docs, len(split.vocabulary), search_budget)
    return TfidfKnnScorer(split.vocabulary, vectorizer, load_bank(out / BANK_DIR))


def train(config: Config, features: tuple | None = None) -> dict:
    """Fit the TF-IDF blocks on train, keep the training rows as the bank, save, finalize. Returns test metrics.

    ``features``: ``(vectorizer, x)`` already fitted with this config's TF-IDF options on the train split (one fit
    shared by the members of a recipe); fitted here when None."""
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder
    from cpc_models.registry import write_model_config

    if config.search_budget < -1:
        raise InputError(f"--search-budget {config.search_budget}: postings per text, 0 (exact), or -1 (by bank size)")
    out = Path(config.output_dir)
    train_split = load_split(config.dataset_dir, "train")
    t0 = time.perf_counter()
    vectorizer, x = features or fit_vectorizer(config, train_split.texts)
    seconds = time.perf_counter() - t0
    scorer = write_knn_folder(
        out,
        vectorizer,
        x,
        train_split,
        config.dataset_dir,
        config.k,
        config.temperature,
        None if config.search_budget == -1 else config.search_budget,
    )
    write_model_config(out, KIND, train_split.vocabulary, features=[b.name for b in vectorizer.blocks])
    run = {"train_seconds": round(seconds, 1), "n_features": int(x.shape[1]), "bank_nonzeros": int(x.nnz)}
    description = (
        f"TF-IDF ({vectorizer.describe()} blocks) with a similarity-weighted vote of the {config.k} most similar "
        "training patents, saved as text vocabularies and memory-mapped .npy arrays (no pickle)."
    )
    return finalize_model_folder(
        out,
        config.dataset_dir,
        {**config.to_dict(), "kind": KIND, "run": run},
        scorer=scorer,
        description=description,
    )
