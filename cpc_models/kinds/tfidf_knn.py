"""Kind ``tfidf-knn``: the similarity-weighted vote of the most TF-IDF-similar training patents.

Folder: ``vectorizers.json``, ``idf.npz`` (``cpc_models.kinds.tfidf``) and ``knn_bank.npz`` (the training
patents' TF-IDF rows in float16, their labels, k and the temperature). Folders of type ``linear`` with a
``knn_bank.npz`` load as this kind.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import KNN_BANK_FILE, KNN_DOCS_FILE
from cpc_models.kinds.common import neighbour_vote, top_indices
from cpc_models.kinds.config import option
from cpc_models.kinds.tfidf import (
    TfidfConfig,
    TfidfScorer,
    describe_blocks,
    fit_blocks,
    load_blocks,
    save_blocks,
    title_of,
    transform_features,
)

log = logging.getLogger(__name__)

KIND = "tfidf-knn"
CACHED_TEXTS = 256  # the last batch up to this size keeps its dot products (at most ~256 x bank rows floats)


@dataclass
class Config(TfidfConfig):
    output_dir: str = option("hub/models/tfidf-knn", flags=("--out",), help="Model folder to write.")
    k: int = option(50, help="Neighbours that vote.")
    temperature: float = option(10.0, help="A vote is exp(temperature * (similarity - best)).")


class TfidfKnnScorer(TfidfScorer):
    """Similarity-weighted vote of the ``k`` training patents with the largest TF-IDF dot product."""

    def __init__(
        self, labels: list[str], blocks, bank, bank_labels: np.ndarray, k: int = 50, temperature: float = 10.0
    ):
        super().__init__(labels, blocks)
        self.bank_t = bank.T.tocsr()  # (n_features, n_bank), CSR: a text's terms pick their posting lists
        self.bank_labels = np.asarray(bank_labels, dtype=np.uint8)
        self.k, self.temperature = int(k), float(temperature)
        self.docs: dict | None = None  # publication_number, title, codes per bank row (knn_docs.json), if saved
        self._norms = None
        self._last = None

    def similarities(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text to every bank row (texts x bank)."""
        if self._norms is None:
            self._norms = np.sqrt(np.asarray(self.bank_t.multiply(self.bank_t).sum(axis=0)).ravel()).astype(np.float32)
        x, sim = self._product(list(texts))
        q = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()).astype(np.float32)
        return sim / np.maximum(q[:, None] * self._norms[None, :], 1e-12)

    def neighbours(self, texts: list[str], k: int = 5) -> list[list[dict]]:
        """The ``k`` most similar bank rows per text: row, similarity (cosine) and, where saved, number, title, codes."""
        sim = self.similarities(texts)
        k = min(k, sim.shape[1])
        out = []
        for row in sim:
            idx = top_indices(row, k)
            out.append([{"row": int(i), "similarity": round(float(row[i]), 4), **self.doc(int(i))} for i in idx])
        return out

    def voters(self, texts: list[str], label_indices: list[list[int]], top: int = 3) -> list[dict[int, list[dict]]]:
        """Per text, per asked label: the most similar of the ``k`` voting neighbours that carry the label."""
        sim = self.similarities(texts)
        k = min(self.k, sim.shape[1])
        out = []
        for row, labels in zip(sim, label_indices):
            idx = top_indices(row, k)
            out.append(
                {
                    j: [
                        {"row": int(i), "similarity": round(float(row[i]), 4), **self.doc(int(i))}
                        for i in idx
                        if self.bank_labels[i, j]
                    ][:top]
                    for j in labels
                }
            )
        return out

    def doc(self, row: int) -> dict:
        if not self.docs:
            return {}
        return {key: self.docs[key][row] for key in ("publication_number", "title", "codes") if key in self.docs}

    def predict_proba(self, texts: list[str], chunk: int = 1024) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), chunk):
            x, sim = self._product(list(texts[start : start + chunk]))
            out[start : start + chunk] = neighbour_vote(sim, self.bank_labels, self.k, self.temperature)
        return out

    def _product(self, texts: list[str]):
        """Features and raw dot products with the bank; the last small batch is kept, so the predictor's
        similar-patents lookup right after scoring the same texts does not compute them twice."""
        last = self._last
        if last is not None and last[0] == texts:
            return last[1], last[2]
        x = transform_features(self.blocks, texts)
        sim = (x @ self.bank_t).toarray()
        if len(texts) <= CACHED_TEXTS:
            self._last = (list(texts), x, sim)  # one tuple assignment: safe to share between threads
        return x, sim

    def save(self, model_dir: str | Path) -> None:
        save_blocks(model_dir, self.blocks)
        bank = self.bank_t.T.tocsr()
        np.savez_compressed(
            Path(model_dir) / KNN_BANK_FILE,
            data=bank.data.astype(np.float16),
            indices=bank.indices,
            indptr=bank.indptr,
            shape=np.array(bank.shape),
            labels=self.bank_labels,
            knn=np.array([self.k, self.temperature]),
        )
        if self.docs:
            (Path(model_dir) / KNN_DOCS_FILE).write_text(json.dumps(self.docs, ensure_ascii=False) + "\n")


def load(model_dir: Path, backend: str = "native") -> TfidfKnnScorer:
    from scipy.sparse import csr_matrix

    from cpc_models.registry import folder_labels

    b = np.load(model_dir / KNN_BANK_FILE)
    bank = csr_matrix((b["data"].astype(np.float32), b["indices"], b["indptr"]), shape=tuple(b["shape"]))
    scorer = TfidfKnnScorer(
        folder_labels(model_dir), load_blocks(model_dir), bank, b["labels"], int(b["knn"][0]), float(b["knn"][1])
    )
    if (model_dir / KNN_DOCS_FILE).exists():
        scorer.docs = json.loads((model_dir / KNN_DOCS_FILE).read_text())
    return scorer


def bank_docs(dataset_dir: str | Path, split) -> dict:
    """Publication number, title and codes of each training document, in the split's row order."""
    import pyarrow.parquet as pq

    titles = []
    for f in sorted((Path(dataset_dir) / "data").glob(f"{split.name}-*.parquet")):
        titles.extend(pq.read_table(f, columns=["title"]).column("title").to_pylist())
    if len(titles) != len(split):
        titles = [title_of(t) for t in split.texts]
    return {
        "publication_number": list(split.publication_numbers),
        "title": titles,
        "codes": [list(c) for c in split.codes],
    }


def train(config: Config) -> dict:
    """Fit the TF-IDF blocks on train, keep the training rows as the bank, save, finalize. Returns test metrics."""
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder
    from cpc_models.registry import write_model_config

    out = Path(config.output_dir)
    train_split = load_split(config.dataset_dir, "train")
    t0 = time.perf_counter()
    blocks, x = fit_blocks(config, train_split.texts)
    x.data = x.data.astype(np.float16).astype(np.float32)  # as saved
    scorer = TfidfKnnScorer(train_split.vocabulary, blocks, x, train_split.y, config.k, config.temperature)
    scorer.docs = bank_docs(config.dataset_dir, train_split)
    seconds = time.perf_counter() - t0
    scorer.save(out)
    write_model_config(out, KIND, train_split.vocabulary, features=[b.name for b in blocks])
    run = {"train_seconds": round(seconds, 1), "n_features": int(x.shape[1]), "bank_nonzeros": int(x.nnz)}
    description = (
        f"TF-IDF ({describe_blocks(blocks)} blocks) with a similarity-weighted vote of the {config.k} most similar "
        "training patents, saved as JSON vocabularies and .npz arrays (no pickle)."
    )
    return finalize_model_folder(
        out,
        config.dataset_dir,
        {**config.to_dict(), "kind": KIND, "run": run},
        scorer=scorer,
        description=description,
    )
