"""The last step of every trainer: thresholds on validation, one score on test, config and card."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np

from cpc_models.data import load_split
from cpc_models.files import METRICS_FILE, NEIGHBOUR_INDEX_DIR, PREDICTIONS_DIR, SCOPE_FILE, TRAIN_CONFIG_FILE
from cpc_models.files import PREDICTIONS_INDEX_FILE as INDEX_FILE
from cpc_models.scoring.metrics import compute_metrics
from cpc_models.scoring.thresholds import tune_thresholds

log = logging.getLogger(__name__)

PROTOCOL = "test split, documents with at least one code in the label vocabulary; thresholds tuned on validation only"


def score_texts(scorer, texts: list[str]) -> np.ndarray:
    return np.asarray(scorer.predict_proba(texts), dtype=np.float32)


def save_predictions(model_dir: str | Path, labels: list[str], splits: dict, dtype=np.float32) -> None:
    """``predictions/{split}.npy`` (rows in dataset order) and ``index.json`` (labels, publication numbers).

    ``splits``: split name -> (Split, scores). Any folder with these can be an ensemble member.
    """
    folder = Path(model_dir) / PREDICTIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    index = {"labels": list(labels)}
    for name, (split, scores) in splits.items():
        np.save(folder / f"{name}.npy", np.asarray(scores, dtype=dtype))
        index[name] = list(split.publication_numbers)
    (folder / INDEX_FILE).write_text(json.dumps(index) + "\n")


def calibrate(model_dir: Path, val, labels: list[str], val_scores: np.ndarray, test_scores: np.ndarray, min_codes: int):
    """Fit the calibration on validation, re-tune the thresholds on calibrated scores, keep it only if validation
    micro-F1 does not drop; save both. Returns (calibration or None, thresholds, val scores, test scores) as used."""
    from cpc_models.scoring.calibration import CALIBRATION_FILE, fit_calibration

    raw = tune_thresholds(val.y, val_scores, labels, min_codes=min_codes)
    keep = val.y.sum(axis=1) > 0  # the documents the protocol scores: calibrated for them
    calibration = fit_calibration(val.y[keep], val_scores[keep], labels)
    cal_val = calibration.apply(val_scores, labels)
    tuned = tune_thresholds(val.y, cal_val, labels, min_codes=min_codes)
    f1_raw = compute_metrics(val.y[keep], val_scores[keep], raw.apply(val_scores[keep], labels), labels)["micro_f1"]
    f1_cal = compute_metrics(val.y[keep], cal_val[keep], tuned.apply(cal_val[keep], labels), labels)["micro_f1"]
    if f1_cal + 1e-9 < f1_raw:
        log.info("calibration would lower validation micro-F1 (%.4f < %.4f): not used", f1_cal, f1_raw)
        (model_dir / CALIBRATION_FILE).unlink(missing_ok=True)
        raw.save(model_dir)
        return None, raw, val_scores, test_scores
    calibration.save(model_dir)
    tuned.save(model_dir)
    return calibration, tuned, cal_val, calibration.apply(test_scores, labels)


def evidence_metrics(model_dir: Path, val, test, labels, thresholds, val_pair, test_pair) -> dict:
    """ECE before/after calibration, the CPC levels (fitted on validation, scored on test), the out-of-scope bar."""
    from cpc_models.predict.levels import fit_levels, level_metrics
    from cpc_models.scoring.calibration import expected_calibration_error

    out = {}
    for name, split, (raw, cal) in (("test", test, test_pair), ("validation", val, val_pair)):
        keep = split.y.sum(axis=1) > 0
        out[f"{name}_ece"] = {
            "uncalibrated": round(expected_calibration_error(split.y[keep], raw[keep]), 5),
            "calibrated": round(expected_calibration_error(split.y[keep], cal[keep]), 5),
        }
    rule = fit_levels(
        [c for c, k in zip(val.codes, val.y.sum(axis=1) > 0) if k], val_pair[1][val.y.sum(axis=1) > 0], labels
    )
    rule.save(model_dir)
    keep = test.y.sum(axis=1) > 0
    out["levels_test"] = level_metrics(
        rule, [c for c, k in zip(test.codes, keep) if k], test_pair[1][keep], labels, thresholds.vector(labels)
    )
    return out


def write_scope(
    model_dir: Path, scorer, val, val_scores: np.ndarray, dataset_dir: str | Path | None = None
) -> dict | None:
    """The out-of-scope thresholds (``scope.json``). A model without a neighbour index of its own (no TF-IDF kNN
    member) gets one shipped in its folder first (``neighbour_index/``), when ``dataset_dir`` is given."""
    from dataclasses import asdict

    from cpc_models.kinds.neighbour_index import build_neighbour_index
    from cpc_models.predict.evidence import find_index
    from cpc_models.registry import folder_kind, load_scorer
    from cpc_models.scoring.scope import fit_scope

    if scorer is None and folder_kind(model_dir).neighbour_bank:
        scorer = load_scorer(model_dir)  # its members may hold a neighbour index; other kinds only a shipped one
    index = find_index(scorer, model_dir)
    if index is None and dataset_dir is not None:
        build_neighbour_index(model_dir, dataset_dir)
        index = find_index(scorer, model_dir)
    if index is None:
        return None
    return asdict(fit_scope(index, val.texts, ~(val.y > 0).any(axis=1), model_dir))


def finalize_model_folder(
    model_dir: str | Path,
    dataset_dir: str | Path,
    train_config: dict,
    scorer=None,
    val_scores: np.ndarray | None = None,
    test_scores: np.ndarray | None = None,
    description: str = "",
    min_codes: int = 1,
    predictions_dtype=np.float32,
    save_scores: bool = True,
    neighbour_index: bool = True,
) -> dict:
    """Tune and save thresholds on validation, score the test split once, write metrics, config, card and the
    Inference Endpoints files.

    Pass ``scorer`` (anything with ``labels`` and ``predict_proba``) or precomputed ``val_scores`` and
    ``test_scores`` over the dataset's label vocabulary. ``neighbour_index=False``: a model without a neighbour index of
    its own gets none (no similar patents, no scope flag; for a member whose ensemble takes them from a kNN member).
    Returns the test metrics.
    """
    from cpc_models.card import write_model_card
    from cpc_models.endpoint import write_endpoint_files

    model_dir = Path(model_dir)
    val = load_split(dataset_dir, "validation")
    test = load_split(dataset_dir, "test", val.vocabulary)
    labels = list(scorer.labels) if scorer is not None else val.vocabulary
    if labels != val.vocabulary:
        raise ValueError("the model's labels differ from the dataset's vocabulary")
    if val_scores is None:
        val_scores = score_texts(scorer, val.texts)
    t0 = time.perf_counter()
    if test_scores is None:
        test_scores = score_texts(scorer, test.texts)
    seconds = time.perf_counter() - t0
    raw_val_scores, raw_test_scores = val_scores, test_scores
    calibration, thresholds, val_scores, test_scores = calibrate(
        model_dir, val, labels, val_scores, test_scores, min_codes
    )

    def scored(split, scores):
        keep = split.y.sum(axis=1) > 0
        y, s = split.y[keep], scores[keep]
        return compute_metrics(y, s, thresholds.apply(s, labels), labels)

    metrics = {
        "protocol": PROTOCOL,
        "test": scored(test, test_scores),
        "validation": scored(val, val_scores),
        "thresholds_mode": thresholds.mode,
    }
    metrics.update(
        evidence_metrics(
            model_dir, val, test, labels, thresholds, (raw_val_scores, val_scores), (raw_test_scores, test_scores)
        )
    )
    if not neighbour_index:  # nor one an earlier training left in this folder (its documents, its scope)
        shutil.rmtree(model_dir / NEIGHBOUR_INDEX_DIR, ignore_errors=True)
        (model_dir / SCOPE_FILE).unlink(missing_ok=True)
    metrics["scope"] = write_scope(model_dir, scorer, val, val_scores, dataset_dir if neighbour_index else None)
    if scorer is not None and seconds > 0:
        metrics["test_abstracts_per_second"] = round(len(test) / seconds, 1)
    if save_scores:
        # raw (uncalibrated) scores: what ensembles combine; calibration.json maps them
        save_predictions(
            model_dir, labels, {"validation": (val, raw_val_scores), "test": (test, raw_test_scores)}, predictions_dtype
        )
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (model_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(train_config, indent=2, default=str) + "\n")
    write_model_card(model_dir, train_config, metrics, description)
    write_endpoint_files(model_dir)  # handler.py + requirements.txt: the folder deploys as an Inference Endpoint
    t = metrics["test"]
    log.info(
        "%s: test micro-F1 %.3f, macro-F1 %.3f, P@1 %.3f", model_dir, t["micro_f1"], t["macro_f1"], t["precision_at_1"]
    )
    return metrics["test"]
