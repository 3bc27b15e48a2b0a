"""Score a model folder on a dataset's test split or on a raw scrape CSV, as ``finalize_model_folder`` does.

The protocol is the original project's: only documents with at least one code in the model's label
vocabulary are scored (``all_docs=True`` scores every document), with the thresholds saved beside the model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.files import TRAIN_CONFIG_FILE

log = logging.getLogger(__name__)

BATCH_SIZE = 256
RELIABILITY_PLOT = "reliability.png"


@dataclass
class EvalData:
    """Documents to score: model inputs and every CPC code of each, plus how they were read."""

    source: str  # "dataset test split", "raw CSV", "raw CSV folder"
    texts: list[str]
    codes: list[list[str]]
    publication_numbers: list[str]
    rows_skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows (raw CSVs only)
    duplicates_merged: int = 0
    train_counts: dict[str, int] | None = None  # label -> training documents (dataset folders)


def _dataset_train_counts(dataset_dir: Path) -> dict[str, int] | None:
    path = dataset_dir / "labels.json"
    if not path.exists():
        return None
    try:
        counts = json.loads(path.read_text()).get("train_counts")
    except (json.JSONDecodeError, AttributeError):
        return None
    return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else None


def _dataset_superseded(path: Path) -> set[str] | None:
    try:
        data = json.loads((path / "labels.json").read_text()) if path.is_dir() else None
    except (OSError, json.JSONDecodeError):
        return None
    found = data.get("superseded") if isinstance(data, dict) else None
    return set(found) if isinstance(found, dict) else None


def _from_raw(paths: list[Path], source: str) -> EvalData:
    from cpc_dataset.raw import RawReadStats, read_raw_file
    from cpc_dataset.text import model_input

    stats = RawReadStats()
    by_number: dict[str, int] = {}
    data = EvalData(source, [], [], [])
    for path in paths:
        for record in read_raw_file(path, stats):
            seen = by_number.get(record.publication_number)
            if seen is not None:  # the same patent found by two queries: one document, all its codes
                data.codes[seen].extend(c for c in record.cpc_codes if c not in data.codes[seen])
                data.duplicates_merged += 1
                continue
            by_number[record.publication_number] = len(data.texts)
            data.texts.append(model_input(record.title, record.abstract))
            data.codes.append(list(record.cpc_codes))
            data.publication_numbers.append(record.publication_number)
    data.rows_skipped = dict(stats.dropped)
    return data


def load_eval_data(data_path: str | Path) -> EvalData:
    """A dataset folder (its test split), a raw scrape CSV, or a folder of raw CSVs."""
    from cpc_models.data import load_split

    path = Path(data_path)
    if not path.exists():
        raise InputError(f"data path {path} does not exist; give a dataset folder or a raw CSV")
    if path.is_dir():
        if (path / "labels.json").exists():
            split = load_split(path, "test")
            return EvalData(
                "dataset test split",
                split.texts,
                split.codes,
                split.publication_numbers,
                train_counts=_dataset_train_counts(path),
            )
        csvs = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        if not csvs:
            raise InputError(f"{path} is neither a dataset folder (no labels.json) nor a folder of raw CSVs")
        return _from_raw(csvs, "raw CSV folder")
    if path.suffix.lower() != ".csv":
        raise InputError(
            f"{path} is not a CSV; give a dataset folder or a raw CSV (publication_number,title,abstract,cpc_codes)"
        )
    return _from_raw([path], "raw CSV")


def _training_counts(model_dir: Path) -> dict[str, int] | None:
    """The training frequencies of the model's labels, from the dataset its train_config names (if any)."""
    path = model_dir / TRAIN_CONFIG_FILE
    if not path.exists():
        return None
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    for key in ("dataset", "dataset_dir", "data"):
        value = config.get(key)
        if isinstance(value, str) and (Path(value) / "labels.json").exists():
            return _dataset_train_counts(Path(value))
    return None


def score_in_batches(scorer, texts: list[str], batch_size: int = BATCH_SIZE, progress: bool = True) -> np.ndarray:
    from tqdm.auto import tqdm

    parts = []
    for start in tqdm(
        range(0, len(texts), batch_size), desc="scoring", unit="batch", disable=not progress or len(texts) <= batch_size
    ):
        parts.append(np.asarray(scorer.predict_proba(texts[start : start + batch_size]), dtype=np.float32))
    n_labels = len(scorer.labels)
    return np.concatenate(parts) if parts else np.zeros((0, n_labels), dtype=np.float32)


def evaluate(
    model_dir: str | Path,
    data_path: str | Path,
    all_docs: bool = False,
    report_dir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Metrics of ``model_dir`` on ``data_path`` (see ``load_eval_data``), flat as ``compute_metrics`` gives them.

    Adds ``n_docs_read`` (documents read), ``n_docs_without_label`` (documents with no code in the
    model's vocabulary; scored only with ``all_docs``), ``rows_skipped`` (raw CSVs), the thresholds mode
    and the scoring speed. With ``report_dir``, writes plots and ``report.md`` there.
    """
    from cpc_models.data import label_matrix
    from cpc_models.registry import load_scorer, read_model_config
    from cpc_models.scoring.calibration import (
        N_BINS,
        Calibration,
        calibrated_scores,
        expected_calibration_error,
        plot_reliability,
    )
    from cpc_models.scoring.metrics import compute_metrics
    from cpc_models.scoring.thresholds import THRESHOLDS_FILE, Thresholds

    model_dir = Path(model_dir)
    read_model_config(model_dir)  # a missing or broken model folder fails before any data is read
    data = load_eval_data(data_path)
    if not data.texts:
        raise InputError(f"{data_path} holds no usable document")
    scorer = load_scorer(model_dir)
    labels = list(scorer.labels)
    thresholds = Thresholds.load(model_dir)
    if not (model_dir / THRESHOLDS_FILE).exists():
        log.warning("%s has no %s: every label uses 0.5", model_dir, THRESHOLDS_FILE)

    y_all = label_matrix(data.codes, labels)
    has_label = y_all.sum(axis=1) > 0
    keep = np.ones(len(y_all), dtype=bool) if all_docs else has_label
    if not keep.any():
        raise InputError(
            f"no document in {data_path} has a code among the model's {len(labels)} labels; use --all-docs to score them anyway"
        )
    texts = [t for t, k in zip(data.texts, keep) if k]
    t0 = time.perf_counter()
    scores = score_in_batches(scorer, texts, progress=progress)
    seconds = time.perf_counter() - t0
    if scores.shape != (len(texts), len(labels)):
        raise InputError(
            f"{model_dir}: the model gave scores of shape {scores.shape}, expected {(len(texts), len(labels))}"
        )
    y_true = y_all[keep]
    raw_scores = scores
    calibration = Calibration.load(model_dir)
    scores = calibrated_scores(calibration, raw_scores, labels)
    y_pred = thresholds.apply(scores, labels)

    result: dict = {
        "model": str(model_dir),
        "data": str(data_path),
        "source": data.source,
        "all_docs": all_docs,
        "n_docs_read": len(data.texts),
        "n_docs_without_label": int((~has_label).sum()),
        "rows_skipped": int(sum(data.rows_skipped.values())),
        "rows_skipped_reasons": data.rows_skipped,
        "duplicates_merged": data.duplicates_merged,
        "thresholds_mode": thresholds.mode,
        "abstracts_per_second": round(len(texts) / seconds, 1) if seconds > 0 else None,
        "calibrated": calibration is not None,
        "ece": round(expected_calibration_error(y_true, scores), 5),
        "ece_uncalibrated": round(expected_calibration_error(y_true, raw_scores), 5),
    }
    superseded = _dataset_superseded(Path(data_path))
    if superseded is not None:  # labels the dataset found superseded (cpc_dataset.superseded): should be none
        result["superseded_labels"] = sorted(set(labels) & superseded)
    result.update(compute_metrics(y_true, scores, y_pred, labels))
    log.info("%s on %s: %d documents, micro-F1 %.3f", model_dir, data_path, result["n_docs"], result["micro_f1"])
    if report_dir is not None:
        from cpc_models.scoring.report import write_report

        train_counts = data.train_counts or _training_counts(model_dir)
        write_report(report_dir, result, y_true, scores, y_pred, labels, train_counts)
        curves = {"uncalibrated": raw_scores, **({"calibrated": scores} if calibration is not None else {})}
        plot = plot_reliability(Path(report_dir) / RELIABILITY_PLOT, y_true, curves)
        with (Path(report_dir) / "report.md").open("a") as fh:
            fh.write(
                f"\n## Calibration\n\nExpected calibration error over every (document, code) pair, {N_BINS} bins: "
                f"{result['ece_uncalibrated']:.4f} uncalibrated, {result['ece']:.4f} as scored"
                f"{' (calibration.json applied)' if calibration is not None else ' (no calibration.json)'}.\n\n![Reliability]({plot.name})\n"
            )
        result["report"] = str(Path(report_dir) / "report.md")
    return result
