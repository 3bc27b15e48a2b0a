"""Every CPC level with its own score and threshold, and back-off to a broader level when no subgroup is sure.

A group's score is the probability that the patent has some code under it. From the (calibrated) code scores
it starts as ``1 - prod(1 - p)`` over the labels under the group, then one Platt sigmoid per level, fitted on
validation against the truth (does the patent have any code under the group, labels or not), makes it a
probability. Each level's threshold is tuned on validation for that level's micro-F1. The subgroup level is
the labels themselves with their own tuned thresholds (no forced top code).

Saved as ``levels.json`` beside ``thresholds.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from cpc_models.files import LEVELS_FILE

LEVELS = ("subgroup", "main_group", "subclass", "section")
GROUP_LEVELS = LEVELS[1:]
LEVEL_NAMES = {"subgroup": "subgroup", "main_group": "main group", "subclass": "subclass", "section": "section"}


def ancestor(code: str, level: str) -> str:
    from cpc_dataset.codes import code_level

    try:
        return code_level(code, level)
    except Exception:  # not a CPC symbol: it is its own group at every level
        return code


def group_matrix(labels: list[str], level: str) -> tuple[list[str], np.ndarray]:
    return _group_matrix(tuple(labels), level)


@lru_cache(maxsize=32)
def _group_matrix(labels: tuple[str, ...], level: str) -> tuple[list[str], np.ndarray]:
    groups = sorted({ancestor(c, level) for c in labels})
    index = {g: i for i, g in enumerate(groups)}
    m = np.zeros((len(labels), len(groups)), dtype=np.float32)
    for j, code in enumerate(labels):
        m[j, index[ancestor(code, level)]] = 1.0
    return groups, m


@lru_cache(maxsize=32)
def _all_groups(labels: tuple[str, ...]) -> tuple[list[tuple[str, str]], np.ndarray, list[int]]:
    """(level, group) of each column, the membership of every group level side by side, the columns per level."""
    parts = [_group_matrix(labels, level) for level in GROUP_LEVELS]
    groups = [(level, g) for level, (names, _) in zip(GROUP_LEVELS, parts) for g in names]
    return groups, np.hstack([m for _, m in parts]), [len(names) for names, _ in parts]


def any_of(p: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """1 - prod over the members of (1 - p), for every group at once."""
    log_none = np.log1p(-np.clip(np.asarray(p, dtype=np.float64), 0.0, 1 - 1e-7)) @ membership
    return 1.0 - np.exp(log_none)


def best_first(scores: np.ndarray, keep: np.ndarray) -> zip:
    """(row, column, score) of the cells of ``scores`` where ``keep``, row by row, best first (ties: lower column
    first), as Python ints and floats."""
    rows, cols = np.nonzero(keep)
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    return zip(rows[order].tolist(), cols[order].tolist(), values[order].tolist())


def truth(codes: list[list[str]], groups: list[str], level: str) -> np.ndarray:
    index = {g: i for i, g in enumerate(groups)}
    y = np.zeros((len(codes), len(groups)), dtype=bool)
    for row, doc in enumerate(codes):
        for code in doc:
            i = index.get(ancestor(code, level))
            if i is not None:
                y[row, i] = True
    return y


@dataclass
class LevelRule:
    thresholds: dict[str, float] = field(default_factory=dict)  # group level -> threshold
    calibration: dict[str, tuple[float, float]] = field(default_factory=dict)  # group level -> (a, b)
    tuned_on: str = "validation"

    def scores(self, p: np.ndarray, labels: list[str], level: str) -> tuple[list[str], np.ndarray]:
        from cpc_models.scoring.calibration import platt

        groups, m = group_matrix(labels, level)
        return groups, platt(any_of(p, m), *self.calibration.get(level, (1.0, 0.0)))

    def decide(
        self, p: np.ndarray, labels: list[str], code_thresholds: np.ndarray
    ) -> list[dict[str, list[tuple[str, float]]]]:
        """Per row of ``p`` (calibrated code scores): level -> [(symbol, score)] over that level's threshold, best first."""
        from cpc_models.scoring.calibration import platt

        out = [{level: [] for level in LEVELS} for _ in range(len(p))]
        for row, col, score in best_first(p, p >= code_thresholds):
            out[row]["subgroup"].append((labels[col], score))
        # every group level in one product (the scores of ``scores``, level by level)
        groups, membership, spans = _all_groups(tuple(labels))
        a, b, t = (np.repeat([v[i] for v in self._parameters()], spans) for i in range(3))
        s = platt(any_of(p, membership), a, b)
        # as ``scores(...) >= threshold`` compares (level_metrics): in float32
        for row, col, score in best_first(s, s >= t.astype(np.float32)):
            level, group = groups[col]
            out[row][level].append((group, score))
        return out

    def _parameters(self) -> list[tuple[float, float, float]]:
        """(a, b, threshold) of each group level."""
        return [(*self.calibration.get(level, (1.0, 0.0)), self.thresholds.get(level, 0.5)) for level in GROUP_LEVELS]

    def to_dict(self) -> dict:
        return {
            "thresholds": self.thresholds,
            "calibration": {k: list(v) for k, v in self.calibration.items()},
            "tuned_on": self.tuned_on,
            "score": "sigmoid(a * logit(1 - prod(1 - p_code)) + b) over the calibrated scores of the labels under the group",
        }

    @classmethod
    def from_dict(cls, data: dict) -> LevelRule:
        return cls(
            {k: float(v) for k, v in data.get("thresholds", {}).items()},
            {k: (float(v[0]), float(v[1])) for k, v in data.get("calibration", {}).items()},
            data.get("tuned_on", "validation"),
        )

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / LEVELS_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> LevelRule | None:
        path = Path(model_dir) / LEVELS_FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else None


def _micro_f1(y: np.ndarray, decided: np.ndarray) -> float:
    tp = np.logical_and(y, decided).sum()
    return float(2 * tp / max(y.sum() + decided.sum(), 1))


def fit_levels(codes: list[list[str]], p: np.ndarray, labels: list[str]) -> LevelRule:
    """Per group level: Platt sigmoid and threshold fitted on these (validation) documents."""
    from cpc_models.kinds.common import fit_platt, sigmoid
    from cpc_models.scoring.calibration import logit
    from cpc_models.scoring.thresholds import GRID, global_f1_curve

    rule = LevelRule()
    for level in GROUP_LEVELS:
        groups, m = group_matrix(labels, level)
        raw = any_of(p, m)
        y = truth(codes, groups, level)
        if y.all() or not y.any():
            a, b = 1.0, 0.0
        else:
            a, b = fit_platt(logit(raw).ravel(), y.ravel())
        s = sigmoid(a * logit(raw) + b, dtype=np.float64)
        f1 = global_f1_curve(y, s, min_codes=0)  # the one threshold search: every group the same threshold
        rule.calibration[level] = (round(a, 6), round(b, 6))
        rule.thresholds[level] = float(GRID[int(np.argmax(f1))])
    return rule


def level_metrics(
    rule: LevelRule, codes: list[list[str]], p: np.ndarray, labels: list[str], code_thresholds: np.ndarray
) -> dict:
    """Micro-F1, precision and recall of each level's own decisions against the truth at that level."""
    out = {}
    y_sub = truth(codes, labels, "subgroup")
    for level in LEVELS:
        if level == "subgroup":
            y, decided = y_sub, p >= code_thresholds[None, :]
        else:
            groups, s = rule.scores(p, labels, level)
            y, decided = truth(codes, groups, level), s >= rule.thresholds[level]
        tp = int(np.logical_and(y, decided).sum())
        out[level] = {
            "micro_f1": round(_micro_f1(y, decided), 4),
            "precision": round(tp / max(int(decided.sum()), 1), 4),
            "recall": round(tp / max(int(y.sum()), 1), 4),
            "threshold": None if level == "subgroup" else rule.thresholds[level],
            "documents_with_no_decision": int((decided.sum(axis=1) == 0).sum()),
        }
    return out
