"""Multi-label metrics (scikit-learn) at the label level and rolled up the CPC hierarchy."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

ROLLUP_LEVELS = ("main_group", "subclass", "class", "section")
TOP_K = (1, 3, 5)


def precision_at_k(y_true: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of the k highest-scored labels that are true, averaged over documents."""
    if len(y_true) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return float(np.take_along_axis(y_true, top, axis=1).sum(axis=1).mean() / k)


@lru_cache(maxsize=32)
def _rollup_matrix(labels: tuple[str, ...], level: str) -> tuple[np.ndarray, tuple[str, ...]]:
    from cpc_dataset.codes import code_level

    parents = [code_level(code, level) for code in labels]
    values = tuple(sorted(set(parents)))
    index = {v: i for i, v in enumerate(values)}
    m = np.zeros((len(labels), len(values)), dtype=np.float32)
    for i, p in enumerate(parents):
        m[i, index[p]] = 1.0
    return m, values


def rollup(matrix: np.ndarray, labels: list[str], level: str) -> tuple[np.ndarray, list[str]]:
    """A label matrix (0/1 or scores) at a coarser CPC level: each parent takes the max over its labels."""
    m, values = _rollup_matrix(tuple(labels), level)
    out = np.zeros((matrix.shape[0], len(values)), dtype=np.float32)
    for j in range(len(values)):
        children = np.flatnonzero(m[:, j])
        out[:, j] = matrix[:, children].max(axis=1)
    return out, list(values)


def _two_columns(*matrices: np.ndarray) -> list[np.ndarray]:
    """scikit-learn refuses samples averaging on one column; an all-zero column changes no per-document F1."""
    if matrices[0].shape[1] > 1:
        return list(matrices)
    return [np.hstack([m, np.zeros_like(m)]) for m in matrices]


def level_metrics(y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import f1_score, label_ranking_average_precision_score, precision_score, recall_score

    y_true = (y_true > 0).astype(np.uint8)
    y_pred = (y_pred > 0).astype(np.uint8)
    kw = {"zero_division": 0}
    out = {
        "micro_f1": f1_score(y_true, y_pred, average="micro", **kw),
        "macro_f1": f1_score(y_true, y_pred, average="macro", **kw),
        "samples_f1": f1_score(*_two_columns(y_true, y_pred), average="samples", **kw),
        "micro_precision": precision_score(y_true, y_pred, average="micro", **kw),
        "micro_recall": recall_score(y_true, y_pred, average="micro", **kw),
    }
    for k in TOP_K:
        out[f"precision_at_{k}"] = precision_at_k(y_true, scores, k)
    has_label = y_true.sum(axis=1) > 0
    out["lrap"] = (
        label_ranking_average_precision_score(y_true[has_label], scores[has_label]) if has_label.any() else float("nan")
    )
    return {k: float(v) for k, v in out.items()}


def compute_metrics(y_true: np.ndarray, scores: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, float]:
    """All metrics, flat: label level (``micro_f1``...) and per level (``subclass_micro_f1``...).

    Roll-ups take the CPC ancestors of the true labels and of the predicted labels (scores: max over
    the children), so a wrong subgroup in the right subclass still counts at the subclass level.
    """
    result: dict[str, float] = {"n_docs": int(len(y_true)), "n_labels": int(len(labels))}
    result.update(level_metrics(y_true, scores, y_pred))
    for level in ROLLUP_LEVELS:
        t, _ = rollup(y_true.astype(np.float32), labels, level)
        s, _ = rollup(scores.astype(np.float32), labels, level)
        p, _ = rollup(y_pred.astype(np.float32), labels, level)
        for key, value in level_metrics(t, s, p).items():
            result[f"{level}_{key}"] = value
    return result


def per_label_f1(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    from sklearn.metrics import f1_score

    return f1_score((y_true > 0).astype(np.uint8), (y_pred > 0).astype(np.uint8), average=None, zero_division=0)
