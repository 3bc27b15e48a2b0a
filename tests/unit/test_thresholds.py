from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cpc_models.scoring.thresholds import THRESHOLDS_FILE, Thresholds, _micro_f1, tune_global, tune_thresholds


def calibrated_case(seed: int, n: int = 300, n_labels: int = 6):
    """Scores that rank well but sit at a different level per label, as real models' often do."""
    rng = np.random.default_rng(seed)
    y = (rng.random((n, n_labels)) < rng.uniform(0.05, 0.4, n_labels)).astype(np.uint8)
    offset = rng.uniform(-0.35, 0.35, n_labels)
    scores = np.clip(0.5 + offset + 0.25 * (y - 0.5) + 0.12 * rng.standard_normal((n, n_labels)), 0, 1).astype(
        np.float32
    )
    return y, scores, [f"G06N3/{10 + j}" for j in range(n_labels)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(0, 3))
def test_tuned_thresholds_beat_or_equal_one_half_where_tuned(seed, min_codes):
    y, scores, labels = calibrated_case(seed)
    tuned = tune_thresholds(y, scores, labels, min_codes=min_codes)
    fixed = Thresholds(0.5, mode="global", min_codes=min_codes)
    assert _micro_f1(y > 0, tuned.apply(scores, labels)) >= _micro_f1(y > 0, fixed.apply(scores, labels)) - 1e-12


def test_per_label_thresholds_win_when_labels_are_calibrated_differently():
    rng = np.random.default_rng(0)
    n = 200
    y = (rng.random((n, 2)) < 0.3).astype(np.uint8)
    # label 0 lives around 0.2, label 1 around 0.8: no single threshold separates both
    scores = np.stack([np.where(y[:, 0], 0.25, 0.10), np.where(y[:, 1], 0.85, 0.70)], axis=1).astype(np.float32)
    scores += rng.uniform(-0.02, 0.02, scores.shape).astype(np.float32)
    labels = ["G06N3/08", "H04L9/40"]
    tuned = tune_thresholds(y, scores, labels, min_codes=0)
    assert tuned.mode == "per_label" and set(tuned.per_label) == set(labels)
    assert _micro_f1(y > 0, tuned.apply(scores, labels)) == pytest.approx(1.0)
    glob = Thresholds(tune_global(y, scores, min_codes=0), mode="global", min_codes=0)
    assert _micro_f1(y > 0, glob.apply(scores, labels)) < 1.0


def test_rare_labels_keep_the_global_threshold():
    y, scores, labels = calibrated_case(1)
    y[:, 0] = 0
    y[:5, 0] = 1  # 5 positives < min_support
    tuned = tune_thresholds(y, scores, labels, min_support=10)
    assert labels[0] not in tuned.per_label
    assert tuned.vector(labels)[0] == pytest.approx(tuned.global_threshold)


def test_global_and_per_label_modes():
    labels = ["a", "b", "c"]
    per = Thresholds(0.5, {"a": 0.1, "c": 0.9}, min_codes=0, mode="per_label")
    glob = Thresholds(0.5, {"a": 0.1, "c": 0.9}, min_codes=0, mode="global")
    assert per.vector(labels).tolist() == pytest.approx([0.1, 0.5, 0.9])
    assert glob.vector(labels).tolist() == pytest.approx([0.5, 0.5, 0.5])
    scores = np.array([[0.2, 0.6, 0.95], [0.05, 0.4, 0.6]], dtype=np.float32)
    assert per.apply(scores, labels).tolist() == [[True, True, True], [False, False, False]]
    assert glob.apply(scores, labels).tolist() == [[False, True, True], [False, False, True]]


def test_save_and_load_round_trip(tmp_path):
    t = Thresholds(0.37, {"G06N3/08": 0.21, "H04L9/40": 0.66}, min_codes=2, tuned_on="validation", mode="per_label")
    path = t.save(tmp_path)
    assert path.name == THRESHOLDS_FILE and json.loads(path.read_text())["per_label"]["G06N3/08"] == 0.21
    loaded = Thresholds.load(tmp_path)
    assert loaded == t and loaded.to_dict() == t.to_dict()
    scores = np.random.default_rng(3).random((10, 2)).astype(np.float32)
    labels = ["G06N3/08", "H04L9/40"]
    assert np.array_equal(loaded.apply(scores, labels), t.apply(scores, labels))


def test_tuned_thresholds_survive_a_round_trip(tmp_path):
    y, scores, labels = calibrated_case(2)
    tuned = tune_thresholds(y, scores, labels)
    tuned.save(tmp_path)
    assert np.array_equal(Thresholds.load(tmp_path).apply(scores, labels), tuned.apply(scores, labels))


def test_a_folder_without_thresholds_uses_one_half(tmp_path):
    t = Thresholds.load(tmp_path)
    assert t.mode == "global" and t.global_threshold == 0.5 and t.min_codes == 1


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 15), st.integers(1, 8), st.integers(0, 10), st.integers(0, 2**31))
def test_min_codes_gives_at_least_k_codes_the_top_ones(n, n_labels, k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((n, n_labels)).astype(np.float32)
    labels = [str(j) for j in range(n_labels)]
    strict = Thresholds(0.99, mode="global", min_codes=k)
    decided = strict.apply(scores, labels)
    expected = min(k, n_labels)
    assert (decided.sum(axis=1) >= expected).all()
    for row_scores, row in zip(scores, decided):
        top = np.argsort(-row_scores)[:expected]
        assert row[top].all()
    # the keyword overrides the stored value; 0 means thresholds alone
    assert (strict.apply(scores, labels, min_codes=0) == (scores >= 0.99)).all()
