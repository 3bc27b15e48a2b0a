"""The default model before and after issue 14 (superseded symbols dropped, retrained, calibrated), side by side.

Before: the previous `hub/models/cpc-default` (131 labels, 4 of them superseded CPC symbols), as committed in
2300129: ``mkdir -p before && git archive 2300129 hub/models/cpc-default | tar -x -C before``. After: the committed folder (127 labels).
Both are scored on the committed dataset's test split (documents with at least one label), from their saved
test scores; the latency is ``CpcPredictor.predict`` on one abstract (median of ``--n`` calls each, same texts,
one process, alternating), with and without the evidence. Not part of the test run.

Run: ``python benchmarks/trust.py --before before/hub/models/cpc-default [--n 300]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def scored(model_dir: Path, split, vocabulary: list[str], calibrated: bool) -> dict:
    """Test metrics over ``vocabulary`` from the folder's saved scores and thresholds (columns outside it dropped)."""
    from cpc_models.kinds.ensemble import saved_predictions
    from cpc_models.scoring.calibration import Calibration, expected_calibration_error
    from cpc_models.scoring.metrics import compute_metrics
    from cpc_models.scoring.thresholds import Thresholds

    split.vocabulary = vocabulary
    scores = saved_predictions(model_dir, split)
    calibration = Calibration.load(model_dir) if calibrated else None
    if calibration is not None:
        scores = calibration.apply(scores, vocabulary)
    thresholds = Thresholds.load(model_dir)
    if not calibrated and Calibration.load(model_dir) is not None:  # thresholds.json is tuned on calibrated scores
        from cpc_models.data import load_split
        from cpc_models.scoring.thresholds import tune_thresholds

        val = load_split(REPO / "hub/datasets/patent-cpc-ai", "validation", vocabulary)
        thresholds = tune_thresholds(val.y, saved_predictions(model_dir, val), vocabulary)
    y = split.y
    keep = y.sum(axis=1) > 0
    m = compute_metrics(y[keep], scores[keep], thresholds.apply(scores[keep], vocabulary), vocabulary)
    return {
        "labels": len(vocabulary),
        "docs": int(keep.sum()),
        "micro_f1": m["micro_f1"],
        "macro_f1": m["macro_f1"],
        "p_at_1": m["precision_at_1"],
        "ece": expected_calibration_error(y[keep], scores[keep]),
    }


def latency(predictors: dict, texts: list[str], n: int) -> dict[str, float]:
    times = {name: [] for name in predictors}
    for i in range(n):
        text = texts[i % len(texts)]
        for name, (p, kwargs) in predictors.items():
            t0 = time.perf_counter()
            p.predict([text], **kwargs)
            times[name].append(time.perf_counter() - t0)
    return {name: 1000 * float(np.median(t)) for name, t in times.items()}


def main() -> None:
    from cpc_models.data import load_split, load_vocabulary
    from cpc_models.predict.predictor import CpcPredictor
    from cpc_models.registry import labels_from_config, read_model_config
    from cpc_models.scoring.report import markdown_table, write_benchmark_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path)
    parser.add_argument("--after", default=REPO / "hub/models/cpc-default", type=Path)
    parser.add_argument("--dataset", default=REPO / "hub/datasets/patent-cpc-ai", type=Path)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()

    vocabulary = load_vocabulary(args.dataset)
    old_labels = labels_from_config(read_model_config(args.before))
    test = load_split(args.dataset, "test")
    rows = [
        ("before, its 131 labels", scored(args.before, test, old_labels, False)),
        ("before, the 4 superseded columns dropped", scored(args.before, test, vocabulary, False)),
        ("after (retrained), raw scores", scored(args.after, test, vocabulary, False)),
        ("after, calibrated (as served)", scored(args.after, test, vocabulary, True)),
    ]
    texts = test.texts[:50]
    before = CpcPredictor.from_pretrained(args.before)
    after = CpcPredictor.from_pretrained(args.after)
    ms = latency(
        {
            "before": (before, {"neighbours": 0}),
            "after, neighbours=0 (levels, scope)": (after, {"neighbours": 0}),
            "after, with neighbours, levels, scope": (after, {}),
            "after, with --explain": (after, {"explain": True}),
        },
        texts,
        args.n,
    )
    header = ["model", "labels", "test docs", "micro-F1", "macro-F1", "P@1", "ECE"]
    table = markdown_table(
        header,
        [
            [
                name,
                str(r["labels"]),
                str(r["docs"]),
                f"{r['micro_f1']:.4f}",
                f"{r['macro_f1']:.4f}",
                f"{r['p_at_1']:.4f}",
                f"{r['ece']:.5f}",
            ]
            for name, r in rows
        ],
    )
    base = ms["before"]
    speed = markdown_table(
        ["predict one abstract", "p50 ms", "ratio to before"],
        [[k, f"{v:.1f}", f"{v / base:.2f}x"] for k, v in ms.items()],
    )
    body = f"""## Accuracy and calibration (test split)

{table}

ECE: expected calibration error over every (document, code) pair, 15 bins. "Before" with the superseded columns
dropped is scored on the 127-label vocabulary, so it compares directly with "after".

## Latency (one abstract, median of alternating calls in one process: compare the ratios)

{speed}
"""
    print(
        write_benchmark_report(
            REPO / "benchmarks/results/trust.md",
            "Default model before/after issue 14",
            "benchmarks/trust.py",
            f" ({args.n} calls per contender, alternating, one process).",
            body,
        )
    )
    print(body)
    (REPO / "benchmarks/results/trust.json").write_text(json.dumps({"rows": dict(rows), "p50_ms": ms}, indent=2) + "\n")


if __name__ == "__main__":
    main()
