"""The default recipe as the corpus grows: 22k real training documents, then synthetic 300k and 3M.

Per size, in child processes (so each peak RSS is its own): train the default recipe (one TF-IDF fit with the
default options shared by ``tfidf-svm`` and ``tfidf-knn``, default configs, then the ensemble with the default
model's weights 0.6 / 0.4, members copied: one shared vectorizer), then load it and predict the real test
abstracts. Prints train time (and per step), training peak RSS (main process and largest per-label fit worker),
model size on disk, load time, batch throughput, one-abstract p50, the prediction peak RSS, the throughput
relative to the first size and the load average while the size ran; prepends the table to ``--out``. Synthetic corpora come from ``benchmarks/synthetic.py`` (not committed).
Not part of the test run.

Run: ``.venv/bin/python benchmarks/scale.py [--sizes 22k 300k 3M] [--work /tmp/cpc-scale]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.timing import folder_mb, peak_rss_mb, speed  # noqa: E402

SIZES = {"22k": None, "300k": 300_000, "3M": 3_000_000}


def train(dataset: str, out: str) -> dict:
    from cpc_models.data import load_split
    from cpc_models.kinds import ensemble, tfidf_knn, tfidf_svm
    from cpc_models.kinds.tfidf import fit_vectorizer

    out = Path(out)
    svm = tfidf_svm.Config(dataset_dir=dataset, output_dir=str(out / "linear"))
    knn = tfidf_knn.Config(dataset_dir=dataset, output_dir=str(out / "knn"))
    seconds = {}
    t0 = time.perf_counter()
    texts = load_split(dataset, "train").texts
    features = fit_vectorizer(svm, texts)  # one fit for both members (same TF-IDF options)
    del texts
    seconds["fit"] = time.perf_counter() - t0
    t = time.perf_counter()
    tfidf_svm.train(svm, features=features, neighbour_index=False)  # the ensemble's evidence: the knn member's bank
    seconds["svm"] = time.perf_counter() - t
    t = time.perf_counter()
    tfidf_knn.train(knn, features=features)
    seconds["knn"] = time.perf_counter() - t
    del features
    members = [str(out / "linear"), str(out / "knn")]
    config = ensemble.Config(
        dataset_dir=dataset, output_dir=str(out / "model"), members=members, weights=[0.6, 0.4], copy_members=True
    )
    t = time.perf_counter()
    ensemble.train(config)
    seconds["combine"] = time.perf_counter() - t
    return {
        "train_s": round(time.perf_counter() - t0, 1),
        "steps_s": {k: round(v, 1) for k, v in seconds.items()},
        "train_peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def predict(model: str, n: int, n_single: int) -> dict:

    t0 = time.perf_counter()
    from cpc_models.predict.predictor import CpcPredictor

    predictor = CpcPredictor.from_pretrained(model)
    load_s = time.perf_counter() - t0
    from cpc_models.data import load_split

    texts = load_split(REPO / "hub/datasets/patent-cpc-ai", "test").texts[:n]
    predictor.predict(texts[:5])
    per_s, p50 = speed(predictor, texts, n_single)
    return {
        "load_s": round(load_s, 2),
        "abstracts_per_s": round(per_s, 1),
        "p50_ms": round(p50, 2),
        "predict_peak_rss_mb": peak_rss_mb(),
    }


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a thread while a size runs."""

    def __init__(self, every: float = 15.0):
        import threading

        self.every, self.samples, self.stop = every, [os.getloadavg()[0]], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        return f"{min(self.samples):.1f}-{max(self.samples):.1f} (mean {sum(self.samples) / len(self.samples):.1f})"


def child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


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
        with LoadSampler() as load:
            try:
                row = {"size": size, **child("train", str(dataset), str(models))}
                row["model_mb"] = folder_mb(models / "model")
                row.update(child("predict", str(models / "model"), str(args.n), str(args.n_single)))
            except RuntimeError as exc:
                print(f"{size}: failed\n{exc}", file=sys.stderr, flush=True)
                row = {"size": size, "failed": str(exc).strip().splitlines()[-1][:200]}
        row["load"] = load.summary()
        rows.append(row)
        print(json.dumps(row), flush=True)
    text = report(rows, args)
    print(text)
    out = Path(args.out)
    out.write_text(text + ("\n" + out.read_text() if out.exists() else ""))  # newest run first


def report(rows: list[dict], args) -> str:
    from cpc_models.scoring.report import markdown_table

    base = next((r for r in rows if "abstracts_per_s" in r), None)
    header = [
        "training documents",
        "train s",
        "fit / svm / knn / ensemble s",
        "train peak RSS MB (main / fit worker)",
        "model MB",
        "load s",
        "abstracts/s",
        "× first size",
        "p50 ms",
        "predict peak RSS MB",
        "load average",
    ]
    table = []
    for r in rows:
        if "failed" in r:
            table.append([r["size"], f"failed: {r['failed']}"] + [""] * (len(header) - 3) + [r["load"]])
            continue
        ratio = f"{r['abstracts_per_s'] / base['abstracts_per_s']:.2f}" if base else ""
        steps = " / ".join(str(r["steps_s"][k]) for k in ("fit", "svm", "knn", "combine"))
        rss = f"{r['train_peak_rss_mb']} / {r['worker_peak_rss_mb']}"
        values = (r["size"], r["train_s"], steps, rss, r["model_mb"], r["load_s"])
        values += (r["abstracts_per_s"], ratio, r["p50_ms"], r["predict_peak_rss_mb"], r["load"])
        table.append([str(x) for x in values])
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"## {when}, `benchmarks/scale.py --sizes {' '.join(args.sizes)}`, {os.cpu_count()} cores\n\n"
        + markdown_table(header, table)
        + "\n\nDefault recipe per size (one vectorizer fit shared by tfidf-svm and tfidf-knn, default configs; the "
        f"ensemble at 0.6 / 0.4, members copied); {args.n} real test abstracts for throughput, {args.n_single} for "
        "p50. Per-label fits run in forked workers: their peak RSS counts the pages they share with the main process. "
        "Load average: the 1-minute figure sampled every 15 s while the size ran (min-max, mean).\n"
    )


if __name__ == "__main__":
    main()
