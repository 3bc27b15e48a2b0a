"""The last step of every trainer: thresholds on validation, one score on test, config and card."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from cpc_models.data import load_split
from cpc_models.scoring.metrics import compute_metrics
from cpc_models.scoring.thresholds import tune_thresholds

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
PREDICTIONS_DIR = "predictions"
INDEX_FILE = "index.json"
TRAIN_CONFIG_FILE = "train_config.json"
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
) -> dict:
    """Tune and save thresholds on validation, score the test split once, write metrics, config and card.

    Pass ``scorer`` (anything with ``labels`` and ``predict_proba``) or precomputed ``val_scores`` and
    ``test_scores`` over the dataset's label vocabulary. Returns the test metrics.
    """
    from cpc_models.card import write_model_card

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
    thresholds = tune_thresholds(val.y, val_scores, labels, min_codes=min_codes)
    thresholds.save(model_dir)

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
    if scorer is not None and seconds > 0:
        metrics["test_abstracts_per_second"] = round(len(test) / seconds, 1)
    if save_scores:
        save_predictions(model_dir, labels, {"validation": (val, val_scores), "test": (test, test_scores)}, predictions_dtype)
    (model_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    (model_dir / TRAIN_CONFIG_FILE).write_text(json.dumps(train_config, indent=2, default=str) + "\n")
    write_model_card(model_dir, train_config, metrics, description)
    t = metrics["test"]
    log.info("%s: test micro-F1 %.3f, macro-F1 %.3f, P@1 %.3f", model_dir, t["micro_f1"], t["macro_f1"], t["precision_at_1"])
    return metrics["test"]
