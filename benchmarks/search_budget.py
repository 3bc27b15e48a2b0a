"""Could the neighbour search skip the frequent terms' postings? A budgeted candidate search against the exact one.

Per test text, the default model's kNN member keeps its terms with the shortest posting lists while their postings
add up to at most a budget, searches the bank with those terms only for ``--candidates`` rows, then ranks the
candidates by their exact dot product with the whole text (rescoring) and votes with the best ``k``. Reported per
budget, on the whole test split: the share of postings read, the time of the candidate search against the exact
search (the same kernel, in the same run), recall@k (of the exact search's ``k`` rows, the share the candidates
rescored give), and the default model's test micro-F1 with the budgeted vote against the exact one. The rescoring
here takes the exact dots from a full product (measuring its cost would need a row-major copy of the bank).
Not part of the test run.

Run: ``.venv/bin/python benchmarks/search_budget.py [--budgets 10000 20000 40000 80000] [--candidates 200]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
MODEL = "hub/models/cpc-default"
DATASET = "hub/datasets/patent-cpc-ai"
CHUNK = 256


def keep_rarest(x, lengths: np.ndarray, budget: int):
    """Each row of ``x`` restricted to its terms with the shortest posting lists, while they add up to at most
    ``budget`` postings (at least its rarest term)."""
    from cpc_models.kinds.sparse import Csr

    counts = np.diff(x.indptr).astype(np.int64)
    row = np.repeat(np.arange(x.shape[0]), counts)
    order = np.lexsort((lengths[x.indices], row))  # per row, shortest list first
    running = np.cumsum(lengths[x.indices][order])
    starts = np.asarray(x.indptr[:-1], dtype=np.int64)
    within = running - np.repeat(np.r_[0, running][starts], counts)
    first = np.zeros(len(order), dtype=bool)
    first[starts[counts > 0]] = True
    keep = np.empty(len(order), dtype=bool)
    keep[order] = (within <= budget) | first
    indptr = np.zeros(x.shape[0] + 1, dtype=x.indptr.dtype)
    np.cumsum(np.bincount(row[keep], minlength=x.shape[0]), out=indptr[1:])
    return Csr(x.data[keep], x.indices[keep], indptr, x.shape)


def budgeted_hits(bank, x, budget: int, candidates: int, exact_dense: np.ndarray):
    """Hits of the budgeted search: candidates from the kept terms, ranked by their exact dot products."""
    from cpc_models.kinds.bank import Hits
    from cpc_models.kinds.sparse import row_norms, top_n

    lengths = np.diff(np.asarray(bank.postings.indptr)).astype(np.int64)
    kept = keep_rarest(x, lengths, budget)
    start = time.perf_counter()
    _, indices, indptr = top_n(kept, bank.postings, candidates, above=0.0)
    seconds = time.perf_counter() - start
    n = x.shape[0]
    rows = np.full((n, candidates), -1, dtype=np.int64)
    counts = np.diff(indptr)
    pos = np.arange(len(indices)) - np.repeat(indptr[:-1], counts)
    rows[np.repeat(np.arange(n), counts), pos] = indices
    dots = np.where(rows >= 0, np.take_along_axis(exact_dense, np.maximum(rows, 0), 1), 0).astype(np.float32)
    order = np.lexsort((np.where(rows < 0, np.iinfo(np.int64).max, rows), -dots), axis=1)
    rows, dots = np.take_along_axis(rows, order, 1), np.take_along_axis(dots, order, 1)
    postings = lengths[kept.indices].sum(), lengths[x.indices].sum()
    return Hits(rows, dots, np.zeros(n, dtype=bool), row_norms(x), x), seconds, postings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[10_000, 20_000, 40_000, 80_000])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--n", type=int, help="First N test texts only. [all]")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/search_budget.md"))
    args = parser.parse_args()

    from cpc_models.data import load_split
    from cpc_models.kinds.sparse import matmul_dense, top_n
    from cpc_models.predict.predictor import CpcPredictor

    os.chdir(REPO)
    test = load_split(DATASET, "test")
    texts = test.texts[: args.n]
    predictor = CpcPredictor.from_pretrained(MODEL)
    members, weights = predictor.scorer.members, predictor.scorer.weights
    knn = next(m for m in members if hasattr(m, "bank"))
    bank = knn.bank
    vocabulary = {c: j for j, c in enumerate(test.vocabulary)}
    y = test.y[: len(texts)][:, [vocabulary[c] for c in predictor.labels]].astype(bool)
    rule = predictor.thresholds.vector(predictor.labels)

    scorer = predictor.scorer
    member_cols = dict(zip(map(id, scorer.members), scorer._cols))  # each member's column of each label
    others = {id(m): np.asarray(m.predict_proba(texts), dtype=np.float32) for m in members if m is not knn}

    def f1(knn_votes: np.ndarray) -> float:
        """Test micro-F1 of the default model (calibrated, its thresholds) with these kNN votes."""
        from cpc_models.kinds.ensemble import combine

        scores = [(knn_votes if m is knn else others[id(m)])[:, member_cols[id(m)]] for m in members]
        calibrated = predictor.calibration.apply(combine(scores, weights), predictor.labels)
        decided = predictor.thresholds.apply(calibrated, predictor.labels, vector=rule)
        tp = np.logical_and(y, decided).sum()
        return float(2 * tp / max(y.sum() + decided.sum(), 1))

    exact_votes, exact_s, recall = [], 0.0, {b: [] for b in args.budgets}
    votes = {b: [] for b in args.budgets}
    seconds = {b: 0.0 for b in args.budgets}
    postings = {b: [0, 0] for b in args.budgets}
    for start in range(0, len(texts), CHUNK):
        x = knn.vectorizer.transform(texts[start : start + CHUNK])
        t0 = time.perf_counter()
        top_n(x, bank.postings, bank.k, above=0.0)
        exact_s += time.perf_counter() - t0
        exact = bank.search(x, max(bank.k, args.candidates))
        exact_votes.append(bank.vote(exact))
        dense = matmul_dense(x, bank.postings)
        truth = exact.rows[:, : bank.k]
        for b in args.budgets:
            hits, s, (read, total) = budgeted_hits(bank, x, b, args.candidates, dense)
            seconds[b] += s
            postings[b][0] += read
            postings[b][1] += total
            votes[b].append(bank.vote(hits))
            for t, h in zip(truth, hits.rows[:, : bank.k]):
                wanted = t[t >= 0]
                recall[b].append(len(np.intersect1d(wanted, h)) / max(len(wanted), 1))
    exact_f1 = f1(np.vstack(exact_votes))
    lines = [
        "| postings budget per text | postings read | candidate search time / exact search time | "
        f"recall@{bank.k} (mean) | texts with recall < 1 | test micro-F1 | F1 − exact F1 |",
        "|---|---|---|---|---|---|---|",
        f"| exact | 100 % | 1.00 | 1.0000 | 0 % | {exact_f1:.4f} | 0 |",
    ]
    for b in args.budgets:
        r = np.asarray(recall[b])
        f = f1(np.vstack(votes[b]))
        lines.append(
            f"| {b:,} | {100 * postings[b][0] / max(postings[b][1], 1):.0f} % | {seconds[b] / exact_s:.2f} | "
            f"{r.mean():.4f} | {100 * (r < 1).mean():.1f} % | {f:.4f} | {f - exact_f1:+.4f} |"
        )
    load = os.getloadavg()[0]
    text = (
        f"## Budgeted candidate search against the exact search ({len(texts)} test texts, {args.candidates} "
        f"candidates, {bank.n_rows:,}-row bank)\n\n"
        + "\n".join(lines)
        + f"\n\nOne run, load average {load:.1f} (times are the ratio of two kernels in the same run).\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
