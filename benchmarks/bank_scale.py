"""The neighbour search as the bank grows, the rest of the model fixed: a model's kNN bank replaced by N synthetic
training documents, against the model as it is and the default model, in one process.

Training the default recipe on 3M documents takes hours and tens of GB (``scale.md`` extrapolates its 300k
per-document costs); the bank is the part of the model whose size drives prediction (its search reads posting lists that grow with the rows).
So: ``--rows`` synthetic documents (``benchmarks/synthetic.py``, made in parts of ``--part`` rows with different
seeds), vectorized with the model's own vectorizer, saved as its kNN member's bank (``save_bank``, no
``search_budget``: the size decides, ``bank.default_budget``) in a copy of the model folder (hard links for the
rest). Then, round-robin for ``--rounds`` rounds (best of each): load time, batch throughput on ``--n`` real test
abstracts, one-abstract p50, and throughput relative to the default model. Build time and peak RSS of the bank
build are printed too. Prepends a table to ``--out``. Not part of the test run.

Run: ``.venv/bin/python benchmarks/bank_scale.py --model PATH_TO_300K_MODEL --rows 3000000 --work /tmp/cpc-bank``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.budget_speed import banks  # noqa: E402
from benchmarks.timing import folder_mb, peak_rss_mb, speed  # noqa: E402

DEFAULT = "hub/models/cpc-default"
DATASET = "hub/datasets/patent-cpc-ai"


def knn_member(model: Path) -> Path:
    """The folder of the model's kNN member (the one with a ``bank/``)."""
    found = sorted(p.parent for p in (model / "members").glob("*/bank"))
    if not found:
        raise SystemExit(f"{model}: no kNN member with a bank")
    return found[0]


def build(model: Path, rows: int, part: int, work: Path) -> tuple[Path, dict]:
    """A copy of ``model`` whose kNN bank holds ``rows`` synthetic documents; (folder, build figures)."""
    import numpy as np
    from scipy.sparse import csr_matrix, vstack

    from benchmarks.synthetic import make_corpus
    from cpc_models.data import load_split
    from cpc_models.kinds.bank_files import bank_docs, save_bank
    from cpc_models.kinds.tfidf_knn import load as load_knn

    out = work / f"model-{rows}"
    done = json.loads((out / "done").read_text()) if (out / "done").exists() else {}
    if done.get("model") == str(model.resolve()):  # built from this model before
        return out, done
    shutil.rmtree(out, ignore_errors=True)
    member = knn_member(model)
    bank_dir = member.relative_to(model) / "bank"
    shutil.copytree(model, out, copy_function=os.link, ignore=lambda d, names: ["bank"] if Path(d) == member else [])
    knn = load_knn(member)
    spec = json.loads((member / "bank" / "bank.json").read_text())
    t0 = time.perf_counter()
    parts, labels, docs = [], [], []
    for i, start in enumerate(range(0, rows, part)):
        n = min(part, rows - start)
        corpus = make_corpus(n, work / f"corpus-{i}", seed=100 + i)
        split = load_split(corpus, "train", vocabulary=list(knn.labels))
        texts = split.texts
        chunks = [knn.vectorizer.transform(texts[s : s + 20_000]).to_scipy() for s in range(0, len(texts), 20_000)]
        parts.append(vstack(chunks, format="csr"))
        del chunks
        labels.append(csr_matrix(split.y.astype(np.uint8)))
        docs.extend(bank_docs(corpus, split))
        shutil.rmtree(corpus)
        print(f"part {i}: {start + n} rows, {time.perf_counter() - t0:.0f} s, peak RSS {peak_rss_mb()} MB", flush=True)
    x, y = vstack(parts, format="csr"), vstack(labels, format="csr")
    del parts, labels
    vectorized = time.perf_counter() - t0
    save_bank(out / bank_dir, x, y, spec["k"], spec["temperature"], docs, spec["labels"])
    figures = {
        "model": str(model.resolve()),
        "vectorize_s": round(vectorized, 1),
        "save_s": round(time.perf_counter() - t0 - vectorized, 1),
        "nonzeros": int(x.nnz),
        "build_peak_rss_mb": peak_rss_mb(),
    }
    (out / "done").write_text(json.dumps(figures))
    return out, figures


def measure(models: dict[str, Path], n: int, n_single: int, rounds: int) -> list[dict]:
    from cpc_models.data import load_split
    from cpc_models.predict.predictor import CpcPredictor

    texts = load_split(REPO / DATASET, "test").texts[:n]
    loaded, rows = {}, {}
    for name, path in models.items():
        t = time.perf_counter()
        loaded[name] = CpcPredictor.from_pretrained(path)
        rows[name] = {"model": name, "load_s": round(time.perf_counter() - t, 2), "per_s": 0.0, "p50_ms": 1e9}
        t = time.perf_counter()
        for bank in banks(loaded[name]):
            bank.short_rows()  # a bank saved before they were saved with it makes them on first use
            if bank.budget:
                bank.row_major()  # likewise its row-major copy
        rows[name]["made_s"] = round(time.perf_counter() - t, 1)
        loaded[name].predict(texts[:20])
    for _ in range(rounds):
        for name, predictor in loaded.items():
            per_s, p50 = speed(predictor, texts, n_single)
            rows[name]["per_s"] = max(rows[name]["per_s"], per_s)
            rows[name]["p50_ms"] = min(rows[name]["p50_ms"], p50)
    for name, predictor in loaded.items():
        bank = banks(predictor)[0]
        rows[name].update(bank_rows=bank.n_rows, budget=bank.budget, size_mb=folder_mb(models[name]))
    return list(rows.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="A model folder (e.g. the 300k one of benchmarks/scale.py).")
    parser.add_argument("--rows", type=int, default=3_000_000, help="Synthetic documents in the big bank.")
    parser.add_argument("--part", type=int, default=500_000, help="Documents generated and vectorized at a time.")
    parser.add_argument("--work", default="/tmp/cpc-bank-scale")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-single", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/scale.md"))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    big, figures = build(Path(args.model), args.rows, args.part, work)
    print(json.dumps(figures), flush=True)
    models = {"22k (default model)": REPO / DEFAULT, "model as trained": Path(args.model), "big bank": big}
    load_before = os.getloadavg()[0]
    rows = measure(models, args.n, args.n_single, args.rounds)
    base = rows[0]["per_s"]
    lines = [
        f"## {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, `benchmarks/bank_scale.py --rows "
        f"{args.rows}`: the bank alone at {args.rows:,} rows",
        "",
        "| model | bank rows | search budget (postings per text) | load s | abstracts/s | × 22k | p50 ms | model MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['bank_rows']:,} | {r['budget'] or 'exact'} | {r['load_s']} | {r['per_s']:.0f} | "
            f"{r['per_s'] / base:.2f} | {r['p50_ms']:.2f} | {r['size_mb']} |"
        )
    lines += [
        "",
        f"Big bank: {figures['nonzeros']:,} non-zeros, vectorized in {figures['vectorize_s']} s, saved in "
        f"{figures['save_s']} s, build peak RSS {figures['build_peak_rss_mb']} MB. {args.n} real test abstracts per "
        f"batch call, {args.n_single} one-abstract calls for the p50, best of {args.rounds} round-robin rounds in one "
        f"process. Load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. Short rows and row-major "
        "copies a folder lacked (saved before they were), made after loading and before timing: "
        + ", ".join(f"{r['model']} {r['made_s']} s" for r in rows)
        + ".",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.write_text(table + "\n" + (out.read_text() if out.exists() else ""))


if __name__ == "__main__":
    main()
