"""int8 against fp32, side by side: how often each quantization decides the same code sets as the fp32 model.

Run: ``.venv/bin/python benchmarks/int8.py [--model hub/models/minilm-l6-ft]`` (not part of the test run; about
11 minutes on 2 cores). It needs a transformer folder with ``onnx/model.onnx`` (``cpc export`` writes it). In one
run it quantizes that fp32 file with each method of ``cpc export --quantize`` (round-to-nearest, GPTQ, onnxruntime
dynamic), scores the whole validation split and the labelled test abstracts with fp32 and with each int8 file,
and prints per method: size against fp32, max and mean |Δp| against fp32, the share of documents whose decided
code set (validation-tuned thresholds) equals fp32's, and test micro/macro-F1 against fp32's.
Writes ``benchmarks/results/int8.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.data import load_split  # noqa: E402
from cpc_models.onnx.export import FP32_FILE, ONNX_DIR, calibration_sample, code_set_agreement, quantize_int8  # noqa: E402
from cpc_models.onnx.runtime import OnnxScorer  # noqa: E402
from cpc_models.scoring.metrics import compute_metrics  # noqa: E402
from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402
from cpc_models.scoring.thresholds import Thresholds  # noqa: E402
from cpc_models.settings import DATASET_DIR  # noqa: E402

METHODS = ("int8-rtn", "int8-gptq", "int8-dynamic")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "hub" / "models" / "minilm-l6-ft")
    parser.add_argument("--dataset", type=Path, default=REPO / DATASET_DIR)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "int8.md")
    args = parser.parse_args(argv)
    fp32 = args.model / ONNX_DIR / FP32_FILE
    if not fp32.exists():
        raise SystemExit(f"{fp32} not found: run `cpc export --model {args.model}` first")

    valid = load_split(args.dataset, "validation")
    test = load_split(args.dataset, "test")
    keep = test.y.sum(axis=1) > 0
    texts, y = [t for t, k in zip(test.texts, keep) if k], test.y[keep]
    thresholds = Thresholds.load(args.model)
    calibration = calibration_sample(args.dataset)

    def score(path: Path) -> dict:
        scorer = OnnxScorer.from_folder(args.model, path)
        scores = scorer.predict_proba(texts)
        decided = thresholds.apply(scores, scorer.labels)
        return {
            "scores": scores,
            "decided": decided,
            "metrics": compute_metrics(y, scores, decided, scorer.labels),
            "valid": thresholds.apply(scorer.predict_proba(valid.texts), scorer.labels),
        }

    ref = score(fp32)
    fp32_mb = fp32.stat().st_size / 2**20
    rows = [
        [
            "fp32 (reference)",
            f"{fp32_mb:.1f} MB",
            "1.00×",
            "–",
            "0",
            "0",
            "100.0 %",
            "100.0 %",
            f"{ref['metrics']['micro_f1']:.4f}",
            f"{ref['metrics']['macro_f1']:.4f}",
        ]
    ]
    work = Path(tempfile.mkdtemp(prefix="cpc-int8-"))
    for method in METHODS:
        t0 = time.perf_counter()
        path, _ = quantize_int8(fp32, method, calibration, out=work / f"{method}.onnx")
        seconds = time.perf_counter() - t0
        got = score(path)
        mb = path.stat().st_size / 2**20
        diff = np.abs(got["scores"] - ref["scores"])
        m, r = got["metrics"], ref["metrics"]
        rows.append(
            [
                method,
                f"{mb:.1f} MB",
                f"{mb / fp32_mb:.2f}×",
                f"{seconds:.0f} s",
                f"{diff.max():.4f}",
                f"{diff.mean():.5f}",
                f"{100 * code_set_agreement(got['valid'], ref['valid']):.1f} %",
                f"{100 * code_set_agreement(got['decided'], ref['decided']):.1f} %",
                f"{m['micro_f1']:.4f} ({m['micro_f1'] - r['micro_f1']:+.4f})",
                f"{m['macro_f1']:.4f} ({m['macro_f1'] - r['macro_f1']:+.4f})",
            ]
        )
        print(rows[-1], flush=True)

    table = markdown_table(
        [
            "file",
            "size",
            "size / fp32",
            "quantize time",
            "max |Δp| vs fp32 (test)",
            "mean |Δp|",
            f"code sets = fp32's: validation ({len(valid):,})",
            f"test ({len(texts):,})",
            "test micro-F1 (Δ)",
            "test macro-F1 (Δ)",
        ],
        rows,
    )
    setting = (
        f": `{args.model.name}`, all {len(valid):,} validation abstracts and the {len(texts):,} labelled test abstracts "
        f"of `{args.dataset.name}`, thresholds tuned on validation (fp32), GPTQ calibrated on {len(calibration):,} "
        "training abstracts; one run, one machine."
    )
    print(
        write_benchmark_report(
            args.out,
            "int8 against fp32",
            "benchmarks/int8.py",
            setting,
            (
                f"{table}\n\n"
                "`int8-rtn` and `int8` store the same thing (8-bit feed-forward weights in blocks of 16, attention in fp32, "
                "embeddings in fp16) and run the same kernel; `int8` chooses the codes with GPTQ so that each layer's outputs on "
                "the calibration text stay closest to fp32's. A document counts as agreeing when its whole decided code set "
                "(validation-tuned thresholds, at least one code) is the same as fp32's."
            ),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
