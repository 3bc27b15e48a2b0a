"""Kind ``minilm-knn``: PatentSBERTa-style voting over frozen MiniLM embeddings (``cpc_models.kinds.minilm``).

A label's score is the similarity-weighted share of the ``k`` nearest training patents that carry it.
Folder: ``encoder.json``, ``train_embeddings.npy`` (fp16) and ``train_labels.npy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import KNN_EMBEDDINGS_FILE as KNN_EMBEDDINGS
from cpc_models.files import KNN_LABELS_FILE as KNN_LABELS
from cpc_models.kinds.common import neighbour_vote
from cpc_models.kinds.config import option
from cpc_models.kinds.minilm import MiniLMConfig, load_embedding_scorer, train_head


@dataclass
class Config(MiniLMConfig):
    output_dir: str = option("hub/models/minilm-knn", flags=("--out",), help="Model folder to write.")
    k: int = option(50, help="Neighbours that vote.")
    temperature: float = option(
        10.0, help="A neighbour's vote is exp(temperature * (its similarity - the best one's))."
    )


class KnnHead:
    """Label scores: the similarity-weighted share of the ``k`` nearest training patents carrying each label."""

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray, k: int = 50, temperature: float = 10.0):
        self.embeddings = np.asarray(embeddings, dtype=np.float16)  # as saved: fp16
        self.bank = self.embeddings.astype(np.float32)  # what the similarities are computed with
        self.labels = np.asarray(labels, dtype=np.uint8)
        self.k, self.temperature = int(k), float(temperature)

    def scores(self, queries: np.ndarray, chunk: int = 1024, exclude: np.ndarray | None = None) -> np.ndarray:
        """``exclude``: per query, a row of the bank to leave out (leave-one-out scores of the bank itself)."""
        bank = self.bank
        k = min(self.k, len(bank) - (exclude is not None))
        out = np.zeros((len(queries), self.labels.shape[1]), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            sim = np.asarray(queries[start : start + chunk], dtype=np.float32) @ bank.T
            if exclude is not None:
                sim[np.arange(len(sim)), exclude[start : start + chunk]] = -np.inf
            out[start : start + chunk] = neighbour_vote(sim, self.labels, k, self.temperature)
        return out

    def save(self, model_dir: Path) -> None:
        np.save(model_dir / KNN_EMBEDDINGS, self.embeddings)
        np.save(model_dir / KNN_LABELS, self.labels)

    @classmethod
    def load(cls, model_dir: Path, k: int, temperature: float) -> KnnHead:
        return cls(np.load(model_dir / KNN_EMBEDDINGS), np.load(model_dir / KNN_LABELS), k, temperature)


def load(model_dir: Path, backend: str = "native"):
    return load_embedding_scorer(model_dir, lambda folder, spec: KnnHead.load(folder, spec["k"], spec["temperature"]))


def train(config: Config) -> dict:
    return train_head(
        config,
        "minilm-knn",
        lambda x, y: KnnHead(x, y, config.k, config.temperature),
        {"head": "knn", "k": config.k, "temperature": config.temperature},
        f"a similarity-weighted vote of the {config.k} nearest training patents",
    )
