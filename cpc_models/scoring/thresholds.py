"""Decision thresholds, tuned on the validation split only and saved beside the model."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpc_models.files import THRESHOLDS_FILE

GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)


@dataclass
class Thresholds:
    """``global_threshold`` for every label, or ``per_label`` where tuned; at least ``min_codes`` per text."""

    global_threshold: float = 0.5
    per_label: dict[str, float] = field(default_factory=dict)
    min_codes: int = 1
    tuned_on: str = "validation"
    mode: str = "per_label"  # or "global"

    def vector(self, labels: list[str]) -> np.ndarray:
        if self.mode == "global":
            return np.full(len(labels), self.global_threshold, dtype=np.float32)
        return np.array([self.per_label.get(code, self.global_threshold) for code in labels], dtype=np.float32)

    def apply(
        self, scores: np.ndarray, labels: list[str], min_codes: int | None = None, vector: np.ndarray | None = None
    ) -> np.ndarray:
        """Boolean decisions; each row gets at least ``min_codes`` codes (its top scores). ``vector``: this rule's
        ``vector(labels)``, where the caller keeps it."""
        decided = scores >= (self.vector(labels) if vector is None else vector)[None, :]
        k = self.min_codes if min_codes is None else min_codes
        if k > 0 and scores.shape[1]:
            k = min(k, scores.shape[1])
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            np.put_along_axis(decided, top, True, axis=1)
        return decided

    def to_dict(self) -> dict:
        return {
            "mode": self.mode,
            "global": self.global_threshold,
            "per_label": self.per_label,
            "min_codes": self.min_codes,
            "tuned_on": self.tuned_on,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Thresholds:
        return cls(
            global_threshold=float(data.get("global", 0.5)),
            per_label={k: float(v) for k, v in (data.get("per_label") or {}).items()},
            min_codes=int(data.get("min_codes", 1)),
            tuned_on=data.get("tuned_on", "validation"),
            mode=data.get("mode", "per_label"),
        )

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / THRESHOLDS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> Thresholds:
        path = Path(model_dir) / THRESHOLDS_FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else cls(mode="global")


def _micro_f1(y: np.ndarray, decided: np.ndarray) -> float:
    tp = np.logical_and(y, decided).sum()
    return float(2 * tp / max(y.sum() + decided.sum(), 1))


def global_f1_curve(y: np.ndarray, scores: np.ndarray, min_codes: int = 1, grid: np.ndarray = GRID) -> np.ndarray:
    """Micro-F1 at each threshold of ``grid`` (every label the same), each text keeping at least its top ``min_codes``
    codes: the decisions of ``Thresholds(t, mode="global", min_codes=min_codes).apply``, counted from sorted arrays."""
    y = y > 0
    forced = np.zeros_like(y)
    if min_codes > 0 and scores.shape[1]:
        k = min(min_codes, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        np.put_along_axis(forced, top, True, axis=1)
    rest = scores[~forced]
    rest_pos = rest[y[~forced]]
    grid = np.asarray(grid).astype(scores.dtype)  # compared as Thresholds.apply compares them
    n_rest = len(rest) - np.searchsorted(np.sort(rest), grid, side="left")
    tp_rest = len(rest_pos) - np.searchsorted(np.sort(rest_pos), grid, side="left")
    tp = np.logical_and(forced, y).sum() + tp_rest
    return 2 * tp / np.maximum(y.sum() + forced.sum() + n_rest, 1)


def best_global_micro_f1(y: np.ndarray, scores: np.ndarray, min_codes: int = 1, grid: np.ndarray = GRID) -> float:
    """Micro-F1 at the best single threshold of ``grid``."""
    return float(global_f1_curve(y, scores, min_codes, grid).max())


def tune_global(y_val: np.ndarray, scores: np.ndarray, min_codes: int = 1) -> float:
    """The single threshold with the best validation micro-F1 (the lowest, on ties)."""
    return float(GRID[int(np.argmax(global_f1_curve(y_val, scores, min_codes)))])


def tune_thresholds(
    y_val: np.ndarray,
    scores: np.ndarray,
    labels: list[str],
    min_codes: int = 1,
    min_support: int = 10,
    shrink: float = 10.0,
) -> Thresholds:
    """Global threshold, then per label where validation has ``min_support`` positives.

    Each label's threshold maximises its own validation F1 and is shrunk towards the global one by
    ``support / (support + shrink)``, so rare labels do not chase noise.
    """
    y = y_val > 0
    global_t = tune_global(y_val, scores, min_codes)
    per_label: dict[str, float] = {}
    for j, code in enumerate(labels):
        support = int(y[:, j].sum())
        if support < min_support:
            continue
        col = scores[:, j][:, None] >= GRID[None, :]
        tp = np.logical_and(col, y[:, j][:, None]).sum(axis=0)
        f1 = 2 * tp / np.maximum(col.sum(axis=0) + support, 1)
        best = float(GRID[int(np.argmax(f1))])
        weight = support / (support + shrink)
        per_label[code] = round(weight * best + (1 - weight) * global_t, 4)
    tuned = Thresholds(global_t, per_label, min_codes, mode="per_label")
    # keep per-label thresholds only if they beat the global one on validation micro-F1
    if _micro_f1(y, tuned.apply(scores, labels)) < _micro_f1(
        y, Thresholds(global_t, {}, min_codes, mode="global").apply(scores, labels)
    ):
        tuned.mode = "global"
    return tuned
