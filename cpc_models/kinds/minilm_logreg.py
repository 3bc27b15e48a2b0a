"""Kind ``minilm-logreg``: one logistic regression per code over frozen MiniLM embeddings (``cpc_models.kinds.minilm``).

Folder: ``encoder.json`` and ``head.npz`` (coefficients and intercepts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import HEAD_FILE
from cpc_models.kinds.common import fit_per_label, sigmoid
from cpc_models.kinds.config import option
from cpc_models.kinds.minilm import MiniLMConfig, load_embedding_scorer, train_head


@dataclass
class Config(MiniLMConfig):
    output_dir: str = option("hub/models/minilm-logreg", flags=("--out",), help="Model folder to write.")
    C: float = option(1.0, help="Inverse regularisation strength.")


class LogRegHead:
    """One logistic regression per label on the embedding."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef = np.asarray(coef, dtype=np.float32)  # (dim, n_labels)
        self.intercept = np.asarray(intercept, dtype=np.float32)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        return sigmoid(np.asarray(queries, dtype=np.float32) @ self.coef + self.intercept)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, C: float = 1.0, seed: int = 0) -> LogRegHead:
        from sklearn.linear_model import LogisticRegression

        return cls(
            *fit_per_label(
                x, y, lambda: LogisticRegression(C=C, max_iter=500, random_state=seed), desc="fitting logreg"
            )
        )

    def save(self, model_dir: Path) -> None:
        np.savez(model_dir / HEAD_FILE, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, model_dir: Path) -> LogRegHead:
        data = np.load(model_dir / HEAD_FILE)
        return cls(data["coef"], data["intercept"])


def load(model_dir: Path, backend: str = "native"):
    return load_embedding_scorer(model_dir, lambda folder, spec: LogRegHead.load(folder))


def train(config: Config) -> dict:
    return train_head(
        config,
        "minilm-logreg",
        lambda x, y: LogRegHead.fit(x, y, config.C, config.seed),
        {"head": "logreg"},
        "one logistic regression per code",
    )
