"""Scores that mean probabilities: Platt scaling fitted on the validation split only, saved as JSON.

Each code's score ``s`` becomes ``sigmoid(a * logit(s) + b)``. One (a, b) is fitted on every (document, code)
pair of validation; codes with at least ``min_positives`` validation positives get their own (a, b), shrunk
towards the shared one by ``positives / (positives + shrink)`` so rare codes do not chase noise. Monotone per
code, so a code's ranking of documents never changes; the thresholds are re-tuned on the calibrated scores.

``calibration.json`` sits beside ``thresholds.json``; ``CpcPredictor`` and ``cpc evaluate`` apply it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpc_models.files import CALIBRATION_FILE
from cpc_models.kinds.common import fit_platt, sigmoid

EPS = 1e-6
N_BINS = 15


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def platt(scores: np.ndarray, a, b) -> np.ndarray:
    """sigmoid(a * logit(scores) + b), in float64, as float32 (``a``, ``b``: scalars, or one per last-axis column)."""
    return sigmoid(a * logit(scores) + b, dtype=np.float64).astype(np.float32)


@dataclass
class Calibration:
    a: float = 1.0
    b: float = 0.0
    per_label: dict[str, tuple[float, float]] = field(default_factory=dict)
    method: str = "platt"
    tuned_on: str = "validation"

    def params(self, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        ab = np.array([self.per_label.get(code, (self.a, self.b)) for code in labels], dtype=np.float64).reshape(
            len(labels), 2
        )
        return ab[:, 0], ab[:, 1]

    def apply(self, scores: np.ndarray, labels: list[str], params: tuple | None = None) -> np.ndarray:
        """``params``: ``params(labels)``, where the caller keeps it."""
        a, b = self.params(labels) if params is None else params
        return platt(scores, a, b)

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "tuned_on": self.tuned_on,
            "global": [self.a, self.b],
            "per_label": {k: list(v) for k, v in self.per_label.items()},
            "formula": "sigmoid(a * logit(score) + b), (a, b) per label where listed, else global",
        }

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        a, b = data.get("global", [1.0, 0.0])
        per_label = {k: (float(v[0]), float(v[1])) for k, v in (data.get("per_label") or {}).items()}
        return cls(float(a), float(b), per_label, data.get("method", "platt"), data.get("tuned_on", "validation"))

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / CALIBRATION_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> Calibration | None:
        path = Path(model_dir) / CALIBRATION_FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else None


def calibrated_scores(calibration: Calibration | None, scores: np.ndarray, labels: list[str]) -> np.ndarray:
    """The scores a model folder's thresholds apply to: calibrated where it has ``calibration.json``, else as given."""
    return calibration.apply(scores, labels) if calibration is not None and len(scores) else scores


def fit_calibration(
    y_val: np.ndarray, scores: np.ndarray, labels: list[str], min_positives: int = 20, shrink: float = 20.0
) -> Calibration:
    """Platt scaling of the logits, shared, then per code where validation has ``min_positives`` positives."""
    y = np.asarray(y_val) > 0
    x = logit(scores)
    a, b = fit_platt(x.ravel(), y.ravel())
    per_label = {}
    for j, code in enumerate(labels):
        positives = int(y[:, j].sum())
        if positives < min_positives or positives == len(y):
            continue
        aj, bj = fit_platt(x[:, j], y[:, j])
        w = positives / (positives + shrink)
        per_label[code] = (round(w * aj + (1 - w) * a, 6), round(w * bj + (1 - w) * b, 6))
    return Calibration(round(a, 6), round(b, 6), per_label)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE over every (document, code) pair: sum over equal-width bins of |mean score - share true| x bin share."""
    y = (np.asarray(y) > 0).ravel().astype(np.float64)
    p = np.asarray(p, dtype=np.float64).ravel()
    if len(p) == 0:
        return float("nan")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    conf = np.bincount(bins, weights=p, minlength=n_bins)
    hits = np.bincount(bins, weights=y, minlength=n_bins)
    return float(np.abs(conf - hits).sum() / len(p))


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = N_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-empty bin: mean score, share true, number of pairs."""
    y = (np.asarray(y) > 0).ravel().astype(np.float64)
    p = np.asarray(p, dtype=np.float64).ravel()
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = np.bincount(bins, minlength=n_bins)
    keep = total > 0
    conf = np.bincount(bins, weights=p, minlength=n_bins)[keep] / total[keep]
    hits = np.bincount(bins, weights=y, minlength=n_bins)[keep] / total[keep]
    return conf, hits, total[keep]


def plot_reliability(path: str | Path, y: np.ndarray, curves: dict[str, np.ndarray]) -> Path:
    """Reliability diagram: one line per named score matrix (e.g. uncalibrated, calibrated), ECE in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    for name, p in curves.items():
        conf, hits, _ = reliability_curve(y, p)
        ax.plot(conf, hits, marker="o", label=f"{name} (ECE {expected_calibration_error(y, p):.4f})")
    ax.set_xlabel("mean score in bin")
    ax.set_ylabel("share of (document, code) pairs that are true")
    ax.set_title("Reliability")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
