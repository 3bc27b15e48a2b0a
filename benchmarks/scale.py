"""The default recipe as the corpus grows: 22k real training documents, then synthetic 300k and 3M.

Per size, in child processes (so each peak RSS is its own): train the default recipe (``tfidf-svm`` and
``tfidf-knn`` with their default configs, then the ensemble with the default model's weights 0.6 / 0.4, members
copied: one shared vectorizer), then load it and predict the real test abstracts. Prints train time, training
peak RSS, model size on disk, load time, batch throughput, one-abstract p50 and the prediction peak RSS, and the
throughput relative to the first size. Synthetic corpora come from ``benchmarks/synthetic.py`` (not committed).
Not part of the test run.

Run: ``.venv/bin/python benchmarks/scale.py [--sizes 22k 300k 3M] [--work /tmp/cpc-scale]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SIZES = {"22k": None, "300k": 300_000, "3M": 3_000_000}


def peak_rss_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def train(dataset: str, out: str) -> dict:
    from cpc_models.kinds import ensemble, tfidf_knn, tfidf_svm

    out = Path(out)
    t0 = time.perf_counter()
    tfidf_svm.train(tfidf_svm.Config(dataset_dir=dataset, output_dir=str(out / "linear")))
    tfidf_knn.train(tfidf_knn.Config(dataset_dir=dataset, output_dir=str(out / "knn")))
    members = [str(out / "linear"), str(out / "knn")]
    config = ensemble.Config(
        dataset_dir=dataset, output_dir=str(out / "model"), members=members, weights=[0.6, 0.4], copy_members=True
    )
    ensemble.train(config)
    return {"train_s": round(time.perf_counter() - t0, 1), "train_peak_rss_mb": peak_rss_mb()}


def predict(model: str, n: int, n_single: int) -> dict:
    import numpy as np

    t0 = time.perf_counter()
    from cpc_models.predict.predictor import CpcPredictor

    predictor = CpcPredictor.from_pretrained(model)
    load_s = time.perf_counter() - t0
    from cpc_models.data import load_split

    texts = load_split(REPO / "hub/datasets/patent-cpc-ai", "test").texts[:n]
    predictor.predict(texts[:5])
    s = time.perf_counter()
    predictor.predict(texts)
    per_s = len(texts) / (time.perf_counter() - s)
    single = []
    for t in texts[:n_single]:
        s = time.perf_counter()
        predictor.predict([t])
        single.append(1000 * (time.perf_counter() - s))
    return {
        "load_s": round(load_s, 2),
        "abstracts_per_s": round(per_s, 1),
        "p50_ms": round(float(np.percentile(single, 50)), 2),
        "predict_peak_rss_mb": peak_rss_mb(),
    }


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def folder_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--work", default="/tmp/cpc-scale", help="Where corpora and models are written.")
    parser.add_argument("--n", type=int, default=1000, help="Test abstracts for the batch throughput.")
    parser.add_argument("--n-single", type=int, default=200)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/scale.md"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, *rest = args.child
        result = train(*rest) if what == "train" else predict(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import make_corpus

    from cpc_models.scoring.report import markdown_table

    work = Path(args.work)
    rows = []
    for size in args.sizes:
        n = SIZES[size]
        dataset = REPO / "hub/datasets/patent-cpc-ai"
        if n is not None:
            dataset = work / f"corpus-{size}"
            if not (dataset / "labels.json").exists():
                t0 = time.perf_counter()
                make_corpus(n, dataset)
                print(f"{size}: corpus written in {time.perf_counter() - t0:.0f} s", flush=True)
        models = work / f"models-{size}"
        try:
            row = {"size": size, **child("train", str(dataset), str(models))}
            row["model_mb"] = folder_mb(models / "model")
            row.update(child("predict", str(models / "model"), str(args.n), str(args.n_single)))
        except RuntimeError as exc:
            print(f"{size}: failed\n{exc}", file=sys.stderr, flush=True)
            row = {"size": size, "failed": str(exc).strip().splitlines()[-1][:200]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = next((r for r in rows if "abstracts_per_s" in r), None)
    header = [
        "training documents",
        "train s",
        "train peak RSS MB",
        "model MB",
        "load s",
        "abstracts/s",
        "× first size",
        "p50 ms",
        "predict peak RSS MB",
    ]
    table = []
    for r in rows:
        if "failed" in r:
            table.append([r["size"], f"failed: {r['failed']}"] + [""] * (len(header) - 2))
            continue
        ratio = f"{r['abstracts_per_s'] / base['abstracts_per_s']:.2f}" if base else ""
        table.append(
            [
                str(x)
                for x in (
                    r["size"],
                    r["train_s"],
                    r["train_peak_rss_mb"],
                    r["model_mb"],
                    r["load_s"],
                    r["abstracts_per_s"],
                    ratio,
                    r["p50_ms"],
                    r["predict_peak_rss_mb"],
                )
            ]
        )
    text = (
        markdown_table(header, table)
        + f"\n\nDefault recipe per size; {args.n} real test abstracts for throughput, {args.n_single} for p50; "
        "one run, one machine.\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
