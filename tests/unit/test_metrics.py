from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, label_ranking_average_precision_score, precision_score, recall_score

from cpc_dataset.codes import code_level
from cpc_models.scoring.metrics import (
    ROLLUP_LEVELS,
    TOP_K,
    compute_metrics,
    level_metrics,
    per_label_f1,
    precision_at_k,
    rollup,
)

pytest.importorskip("sklearn")

LABELS = ["G06N3/08", "G06N3/045", "G06N20/00", "G06F40/30", "G06F16/35", "G06V10/82", "H04L9/40", "A61B5/7267"]


def random_case(seed: int, n: int = 40, n_labels: int = len(LABELS)):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.3).astype(np.uint8)
    scores = rng.random((n, n_labels)).astype(np.float32)  # continuous: no ties
    y_pred = (scores >= 0.5).astype(np.uint8)
    return y, scores, y_pred


def brute_precision_at_k(y: np.ndarray, scores: np.ndarray, k: int) -> float:
    total = 0.0
    for row_y, row_s in zip(y, scores):
        order = sorted(range(len(row_s)), key=lambda j: -row_s[j])[:k]
        total += sum(row_y[j] for j in order) / min(k, len(row_s))
    return total / len(y)


@pytest.mark.parametrize("seed", range(5))
def test_label_level_metrics_match_sklearn(seed):
    y, scores, y_pred = random_case(seed)
    m = level_metrics(y, scores, y_pred)
    kw = {"zero_division": 0}
    assert m["micro_f1"] == pytest.approx(f1_score(y, y_pred, average="micro", **kw))
    assert m["macro_f1"] == pytest.approx(f1_score(y, y_pred, average="macro", **kw))
    assert m["samples_f1"] == pytest.approx(f1_score(y, y_pred, average="samples", **kw))
    assert m["micro_precision"] == pytest.approx(precision_score(y, y_pred, average="micro", **kw))
    assert m["micro_recall"] == pytest.approx(recall_score(y, y_pred, average="micro", **kw))
    labelled = y.sum(axis=1) > 0
    assert m["lrap"] == pytest.approx(label_ranking_average_precision_score(y[labelled], scores[labelled]))
    assert per_label_f1(y, y_pred) == pytest.approx(f1_score(y, y_pred, average=None, **kw))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 3, 5, 8, 20])
def test_precision_at_k_matches_a_loop(seed, k):
    y, scores, _ = random_case(seed)
    assert precision_at_k(y, scores, k) == pytest.approx(brute_precision_at_k(y, scores, k))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 10), st.integers(1, 12), st.integers(0, 2**31))
def test_precision_at_k_properties(n, n_labels, k, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < 0.4).astype(np.uint8)
    scores = rng.random((n, n_labels))
    p = precision_at_k(y, scores, k)
    assert p == pytest.approx(brute_precision_at_k(y, scores, k))
    # scores that rank every true label first reach the best possible value
    perfect = y + 0.01 * rng.random((n, n_labels))
    best = np.mean(np.minimum(y.sum(axis=1), min(k, n_labels)) / min(k, n_labels))
    assert precision_at_k(y, perfect, k) == pytest.approx(best)


def test_precision_at_k_of_no_documents_is_nan():
    assert np.isnan(precision_at_k(np.zeros((0, 3)), np.zeros((0, 3)), 1))


def test_rollup_on_hand_made_codes():
    labels = ["G06N3/08", "G06N3/045", "G06N20/00", "G06F40/30", "H04L9/40"]
    y = np.array([[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=np.float32)
    main_group, names = rollup(y, labels, "main_group")
    assert names == ["G06F40/00", "G06N20/00", "G06N3/00", "H04L9/00"]
    assert main_group.tolist() == [[0, 0, 1, 0], [0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0]]
    subclass, names = rollup(y, labels, "subclass")
    assert names == ["G06F", "G06N", "H04L"]
    assert subclass.tolist() == [[0, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]]
    cls, names = rollup(y, labels, "class")
    assert names == ["G06", "H04"] and cls.tolist() == [[1, 0], [1, 0], [1, 1], [0, 0]]
    section, names = rollup(y, labels, "section")
    assert names == ["G", "H"] and section.tolist() == [[1, 0], [1, 0], [1, 1], [0, 0]]
    # scores roll up as the maximum over the children
    scores = np.array([[0.1, 0.7, 0.3, 0.2, 0.9]], dtype=np.float32)
    s, _ = rollup(scores, labels, "subclass")
    assert s[0].tolist() == pytest.approx([0.2, 0.7, 0.9])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(LABELS), min_size=1, max_size=len(LABELS), unique=True),
    st.integers(0, 2**31),
    st.sampled_from(ROLLUP_LEVELS),
)
def test_rollup_is_any_child_true(labels, seed, level):
    rng = np.random.default_rng(seed)
    y = (rng.random((6, len(labels))) < 0.3).astype(np.float32)
    rolled, names = rollup(y, labels, level)
    assert names == sorted({code_level(c, level) for c in labels})
    for i in range(len(y)):
        for j, parent in enumerate(names):
            expected = any(y[i, c] for c, code in enumerate(labels) if code_level(code, level) == parent)
            assert rolled[i, j] == float(expected)


def test_wrong_subgroup_in_the_right_subclass_counts_at_subclass_level():
    labels = ["G06N3/08", "G06N3/045", "H04L9/40"]
    y = np.array([[1, 0, 0], [0, 0, 1]], dtype=np.uint8)
    y_pred = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.uint8)
    m = compute_metrics(y, y_pred.astype(np.float32), y_pred, labels)
    assert m["micro_f1"] == pytest.approx(0.5)
    assert m["main_group_micro_f1"] == m["subclass_micro_f1"] == m["section_micro_f1"] == pytest.approx(1.0)
    assert m["n_docs"] == 2 and m["n_labels"] == 3


def test_compute_metrics_has_every_level_and_agrees_with_level_metrics():
    y, scores, y_pred = random_case(7)
    m = compute_metrics(y, scores, y_pred, LABELS)
    base = level_metrics(y, scores, y_pred)
    assert all(m[k] == pytest.approx(v) for k, v in base.items())
    for level in ROLLUP_LEVELS:
        t, _ = rollup(y.astype(np.float32), LABELS, level)
        p, _ = rollup(y_pred.astype(np.float32), LABELS, level)
        assert m[f"{level}_micro_f1"] == pytest.approx(f1_score(t, p, average="micro", zero_division=0))
        for k in TOP_K:
            assert f"{level}_precision_at_{k}" in m
