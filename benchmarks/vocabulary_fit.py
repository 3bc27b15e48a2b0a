"""The word TF-IDF block's fit as the corpus grows: scikit-learn's ``TfidfVectorizer`` against the bounded count
(``cpc_models.kinds.vocabulary.StreamedTfidf``), side by side in one run.

Per corpus (the real train split, then synthetic ones from ``benchmarks/synthetic.py``, not committed) and per
fitter, in a child process (so each peak RSS is its own): load the training texts, fit the default word block
(word 1-2 grams, ``min_df`` 2, ``max_df`` 0.5, ``max_features`` 400k) and report fit seconds, peak RSS, the
vocabulary size, the non-zeros and whether the n-gram table was pruned. Also checks that below the table bound
both give the same matrix. Not part of the test run.

Run: ``.venv/bin/python benchmarks/vocabulary_fit.py [--sizes 22k 300k] [--work /tmp/cpc-scale]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.timing import peak_rss_mb  # noqa: E402

SIZES = {"22k": None, "60k": 60_000, "300k": 300_000, "3M": 3_000_000}
FITTERS = ("scikit-learn", "streamed")


def fit(fitter: str, dataset: str, table: str = "0") -> dict:
    import hashlib

    import numpy as np

    from cpc_models.data import load_split
    from cpc_models.kinds.tfidf import TfidfConfig, make_blocks

    texts = load_split(dataset, "train").texts
    rss0 = peak_rss_mb()
    bound = {"max_candidates": int(table)} if int(table) else {}
    block = make_blocks(TfidfConfig(title_weight=0, **bound))[0]
    if fitter == "scikit-learn":
        from sklearn.feature_extraction.text import TfidfVectorizer

        block.vectorizer = TfidfVectorizer(**block.vectorizer.get_params())
    t0 = time.perf_counter()
    x = block.vectorizer.fit_transform(texts)
    seconds = time.perf_counter() - t0
    digest = hashlib.sha256()
    for a in (x.indptr, x.indices, x.data, np.asarray(block.vectorizer.idf_)):
        digest.update(np.ascontiguousarray(a).tobytes())
    return {
        "fit_s": round(seconds, 1),
        "peak_rss_mb": peak_rss_mb(),
        "texts_rss_mb": rss0,
        "vocabulary": len(block.vectorizer.vocabulary_),
        "nonzeros": int(x.nnz),
        "pruned": getattr(block.vectorizer, "pruned", ""),
        "digest": digest.hexdigest()[:12],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["22k", "300k"], choices=list(SIZES))
    parser.add_argument("--work", default="/tmp/cpc-scale", help="Where synthetic corpora are written (or found).")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/vocabulary_fit.md"))
    parser.add_argument(
        "--tables", nargs="*", type=int, default=[], help="Also the bounded count with these n-gram table bounds."
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit(*args.child)))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import make_corpus

    from cpc_models.scoring.report import markdown_table

    rows = []
    for size in args.sizes:
        dataset = REPO / "hub/datasets/patent-cpc-ai"
        if SIZES[size] is not None:
            dataset = Path(args.work) / f"corpus-{size}"
            if not (dataset / "labels.json").exists():
                make_corpus(SIZES[size], dataset)
        results = {}
        for fitter, table in [(f, 0) for f in FITTERS] + [("streamed", t) for t in args.tables]:
            load = os.getloadavg()[0]
            done = subprocess.run(
                [sys.executable, __file__, "--child", fitter, str(dataset), str(table)], capture_output=True, text=True
            )
            fitter = f"{fitter}, table {table:,}" if table else fitter
            if done.returncode:
                print(done.stderr[-2000:], file=sys.stderr)
                results[fitter] = {"failed": done.stderr.strip().splitlines()[-1][:120]}
            else:
                results[fitter] = json.loads(done.stdout.strip().splitlines()[-1])
            results[fitter]["load"] = f"{load:.1f}-{os.getloadavg()[0]:.1f}"
            print(size, fitter, json.dumps(results[fitter]), flush=True)
        reference = results["scikit-learn"].get("digest")
        for fitter, r in results.items():
            same = r.get("digest") == reference
            if "failed" in r:
                rows.append([size, fitter, f"failed: {r['failed']}", "", "", "", "", "", r["load"]])
                continue
            values = (r["fit_s"], r["peak_rss_mb"], r["peak_rss_mb"] - r["texts_rss_mb"], r["vocabulary"])
            values += (r["nonzeros"], r["pruned"], "yes" if same else "no", r["load"])
            rows.append([size, fitter, *map(str, values)])
    header = ["corpus", "fitter", "fit s", "peak RSS MB", "over the texts MB", "vocabulary", "non-zeros"]
    header += ["table pruned", "same matrix", "load average"]
    tables = f" --tables {' '.join(map(str, args.tables))}" if args.tables else ""
    text = (
        f"## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `benchmarks/vocabulary_fit.py --sizes "
        f"{' '.join(args.sizes)}{tables}`, {os.cpu_count()} cores\n\n"
        + markdown_table(header, rows)
        + "\n\nThe default word block (1-2 grams, min_df 2, max_df 0.5, max_features 400k) fitted on the training "
        "texts, each fitter in its own process. 'over the texts': peak RSS less the RSS with the texts loaded. "
        "'same matrix': vocabulary, idf and matrix bit for bit scikit-learn's; 'table': "
        "``--max-candidates`` (default 4,000,000). Load average: 1-minute figure before-after.\n"
    )
    print(text)
    out = Path(args.out)
    out.write_text(text + ("\n" + out.read_text() if out.exists() else ""))


if __name__ == "__main__":
    main()
