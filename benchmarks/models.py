"""Every trained model folder side by side, beside the original project's published figures.

Run: ``.venv/bin/python benchmarks/models.py`` (not part of the test run). Reads each
``hub/models/*/`` with ``metrics.json`` and ``train_config.json``, measures ``predict_proba``
throughput on the same test abstracts in this one run, prints one table and writes it to
``benchmarks/results/models.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.files import ONNX_DIR, TORCH_WEIGHTS_FILES  # noqa: E402
from cpc_models.registry import folder_kind  # noqa: E402
from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402
from cpc_models.settings import DATASET_DIR, MODELS_DIR  # noqa: E402

log = logging.getLogger("benchmarks.models")

# The original project's published figures (fastai + blurr; roberta-base, bert-base-uncased, distilroberta-base).
ORIGINAL = (
    ("original best (fastai transformers)", 0.28, 0.14),
    ("original deployed (int8 ONNX)", 0.22, 0.065),
)
ORIGINAL_BEST_MICRO, ORIGINAL_BEST_MACRO = ORIGINAL[0][1], ORIGINAL[0][2]
PROTOCOL_NOTE = (
    "The original project fine-tuned roberta-base, bert-base-uncased and distilroberta-base with fastai; its best "
    "reached micro-F1 0.28 / macro-F1 0.14, its deployed int8 ONNX model 0.22 / 0.065. Those figures were measured on a random split with the same patents in train and validation "
    "(leaky) and a fixed 0.5 threshold; ours on a test split deduplicated by publication number and abstract, "
    "with thresholds tuned on validation only. The protocols differ, so the ratios are indicative, not a "
    "like-for-like comparison."
)
HEADER = [
    "model", "type", "test micro-F1", "macro-F1", "P@1", "subclass micro-F1", "training time", "abstracts/s",
    "micro-F1 / original best", "macro-F1 / original best",
]  # fmt: skip


def _f(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _duration(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    return (
        f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.1f} min"
        if seconds >= 60
        else f"{seconds:.0f} s"
    )


def model_folders(models_dir: Path) -> list[Path]:
    return sorted(
        p for p in models_dir.glob("*/") if (p / "metrics.json").exists() and (p / "train_config.json").exists()
    )


def throughput(model_dir: Path, texts: list[str]) -> float:
    """Abstracts per second of one ``predict_proba`` call over ``texts``, after a small warm-up."""
    from cpc_models.registry import load_scorer

    scorer = load_scorer(model_dir)
    scorer.predict_proba(texts[:8])
    t0 = time.perf_counter()
    scorer.predict_proba(texts)
    return len(texts) / (time.perf_counter() - t0)


def model_row(model_dir: Path, texts: list[str]) -> list[str]:
    metrics = json.loads((model_dir / "metrics.json").read_text())
    test = metrics.get("test", metrics)
    train_config = json.loads((model_dir / "train_config.json").read_text())
    config_path = model_dir / "config.json"
    kind = folder_kind(model_dir) if config_path.exists() else None
    model_type = kind.name if kind else "?"
    weightless = (
        kind is not None
        and kind.stock_pipeline
        and not any((model_dir / f).exists() for f in (*TORCH_WEIGHTS_FILES, ONNX_DIR))
    )
    try:
        speed = "no weights here" if weightless else _f(throughput(model_dir, texts), 1) if texts else "–"
    except Exception as exc:  # a benchmark reports a broken model and goes on
        log.warning("%s: could not measure throughput: %s", model_dir.name, exc)
        speed = "error"
    micro, macro = test.get("micro_f1"), test.get("macro_f1")
    return [
        model_dir.name,
        model_type,
        _f(micro),
        _f(macro),
        _f(test.get("precision_at_1")),
        _f(test.get("subclass_micro_f1")),
        _duration(train_config.get("train_seconds")),
        speed,
        _f(None if micro is None else micro / ORIGINAL_BEST_MICRO, 2) + ("×" if micro is not None else ""),
        _f(None if macro is None else macro / ORIGINAL_BEST_MACRO, 2) + ("×" if macro is not None else ""),
    ]


def original_rows() -> list[list[str]]:
    return [
        [
            name,
            "fastai (published)",
            _f(micro),
            _f(macro),
            "–",
            "–",
            "–",
            "–",
            _f(micro / ORIGINAL_BEST_MICRO, 2) + "×",
            _f(macro / ORIGINAL_BEST_MACRO, 2) + "×",
        ]
        for name, micro, macro in ORIGINAL
    ]


def machine() -> str:
    threads = ""
    if "torch" in sys.modules:
        threads = f", torch threads {sys.modules['torch'].get_num_threads()}"
    return (
        f"{platform.machine()} {platform.processor() or ''}".strip()
        + f", {os.cpu_count()} CPU cores{threads}, Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    from cpc_models.data import load_split

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=REPO / MODELS_DIR, help="folder of model folders")
    parser.add_argument(
        "--dataset", type=Path, default=REPO / DATASET_DIR, help="dataset whose test abstracts are timed"
    )
    parser.add_argument("--n", type=int, default=500, help="test abstracts to time")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "models.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    folders = model_folders(args.models)
    texts = load_split(args.dataset, "test").texts[: args.n] if folders else []
    rows = []
    for folder in folders:
        log.info("%s ...", folder.name)
        rows.append(model_row(folder, texts))
    if not folders:
        log.warning("no model folder with metrics.json and train_config.json under %s", args.models)
    rows += original_rows()

    setting = (
        f"; throughput: one `predict_proba` call over {len(texts)} test abstracts of `{args.dataset.name}`, every "
        f"model in the same run on {machine()}.\n"
        "Metrics are the test metrics in each model's `metrics.json` (documents with at least one code in the "
        "label vocabulary; thresholds tuned on validation). Ratios are against the original best (micro-F1 "
        f"{ORIGINAL_BEST_MICRO}, macro-F1 {ORIGINAL_BEST_MACRO})."
    )
    print(
        write_benchmark_report(
            args.out,
            "Models side by side",
            "benchmarks/models.py",
            setting,
            f"{markdown_table(HEADER, rows)}\n\n{PROTOCOL_NOTE}",
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
