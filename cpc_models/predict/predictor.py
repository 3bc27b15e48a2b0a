"""``CpcPredictor``: one loaded model, batch-first predictions with CPC roll-ups. Thread-safe to share."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.scoring.thresholds import Thresholds

log = logging.getLogger(__name__)

BACKENDS = ("auto", "onnx", "torch", "native")


@dataclass
class CodeScore:
    code: str
    score: float


@dataclass
class Prediction:
    codes: list[CodeScore] = field(default_factory=list)  # decided codes, best first
    subclasses: list[CodeScore] = field(default_factory=list)  # roll-up of the decided codes (max score)
    sections: list[CodeScore] = field(default_factory=list)
    truncated: bool = False  # the text was cut to the model's maximum length
    reason: str = ""  # why there is no prediction (e.g. empty text)

    def to_dict(self) -> dict:
        return asdict(self)


class CpcPredictor:
    """Wraps a scorer (see ``cpc_models.registry``) with its thresholds and label vocabulary."""

    def __init__(self, scorer, thresholds: Thresholds, model_dir: Path | None = None, backend: str = "native"):
        self.scorer = scorer
        self.labels: list[str] = list(scorer.labels)
        self.thresholds = thresholds
        self.model_dir = model_dir
        self.backend = backend

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: str = "auto") -> CpcPredictor:
        """Load a model folder. ``backend``: "onnx" (the int8 file if present, else fp32), "torch", "native" (non-transformer
        models), or "auto": ONNX where the folder has an ONNX file, else torch or native."""
        from cpc_models.registry import load_scorer, read_model_config

        path = Path(path)
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        config = read_model_config(path)
        if not config.get("id2label"):
            raise InputError(f"{path}/config.json has no id2label: not a CPC model folder")
        scorer = load_scorer(path, backend=backend)
        return cls(scorer, Thresholds.load(path), path, getattr(scorer, "backend", backend))

    def scores(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.scorer.predict_proba(texts), dtype=np.float32)

    def predict(self, texts: list[str] | str, top_k: int | None = None, threshold: float | None = None) -> list[Prediction]:
        """Codes per text: those over the tuned thresholds (or ``threshold`` for all), best first, at most ``top_k``.

        Every non-empty text gets at least the model's ``min_codes`` codes. Empty texts get an empty prediction
        with a reason.
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = [t if isinstance(t, str) else "" for t in texts]
        results = [Prediction(reason="empty text") for _ in texts]
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if not keep:
            return results
        batch = [texts[i] for i in keep]
        scores = self.scores(batch)
        rule = self.thresholds if threshold is None else Thresholds(float(threshold), mode="global", min_codes=self.thresholds.min_codes)
        decided = rule.apply(scores, self.labels)
        truncated = self.scorer.truncated(batch) if hasattr(self.scorer, "truncated") else [False] * len(batch)
        for row, i in enumerate(keep):
            cols = np.flatnonzero(decided[row])
            cols = cols[np.argsort(-scores[row, cols], kind="stable")][: top_k or None]
            codes = [CodeScore(self.labels[j], round(float(scores[row, j]), 4)) for j in cols]
            results[i] = Prediction(codes, _roll(codes, 4), _roll(codes, 1), bool(truncated[row]))
        return results

    def ranked(self, texts: list[str], top_k: int = 5) -> list[list[CodeScore]]:
        """The ``top_k`` highest-scored codes per text, with no threshold (what the Inference API returns)."""
        scores = self.scores(texts)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
        return [[CodeScore(self.labels[j], round(float(scores[r, j]), 4)) for j in order[r]] for r in range(len(texts))]


def _roll(codes: list[CodeScore], prefix: int) -> list[CodeScore]:
    best: dict[str, float] = {}
    for c in codes:
        key = c.code[:prefix]
        best[key] = max(best.get(key, 0.0), c.score)
    return [CodeScore(k, v) for k, v in sorted(best.items(), key=lambda kv: -kv[1])]
