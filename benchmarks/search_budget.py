"""Could the neighbour search skip the frequent terms' postings? The budgeted search against the exact one.

Per test text, a model's kNN member keeps its terms with the shortest posting lists while their postings add up
to at most a budget, searches the bank with those terms only for ``--candidates`` rows, then ranks the candidates
by their exact dot product with the whole text and votes with the best ``k``: the search that ``search_budget``
turns on (``cpc_models.kinds.budget``, rescoring included). Reported per budget, on the whole test split: the
share of postings read, the time of the budgeted search (candidates and rescoring) against the exact search (in
the same run), recall@k (of the exact search's ``k`` rows, the share the budgeted search's ``k`` rows include),
and the model's test micro-F1 with the budgeted vote against the exact one. Not part of the test run.

Run: ``.venv/bin/python benchmarks/search_budget.py [--model hub/models/cpc-default] [--budgets 10000 20000 40000]
[--candidates 100]``
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


def budgeted_hits(bank, x, budget: int):
    """The budgeted search's hits (``NeighbourBank.search`` with a budget), its time and (postings read, all)."""
    from cpc_models.kinds.budget import keep_rarest

    lengths = np.diff(np.asarray(bank.postings.indptr)).astype(np.int64)
    kept, _ = keep_rarest(x, lengths, budget)
    bank.budget = budget
    start = time.perf_counter()
    hits = bank.search(x, bank.k)
    seconds = time.perf_counter() - start
    bank.budget = 0
    return hits, seconds, (lengths[kept.indices].sum(), lengths[x.indices].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[10_000, 20_000, 40_000, 80_000])
    parser.add_argument("--candidates", type=int, default=100, help="Rows rescored per text.")
    parser.add_argument("--model", default=MODEL, help="Model folder (its first kNN member's bank).")
    parser.add_argument("--n", type=int, help="First N test texts only. [all]")
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/search_budget.md"))
    args = parser.parse_args()

    import cpc_models.kinds.budget as budget_module
    from cpc_models.data import load_split
    from cpc_models.predict.predictor import CpcPredictor

    if os.environ.get("CPC_SEARCH_BUDGET"):
        sys.exit("unset CPC_SEARCH_BUDGET: this benchmark sets the budget itself")
    budget_module.DEFAULT_CANDIDATES = args.candidates

    os.chdir(REPO)
    test = load_split(DATASET, "test")
    texts = test.texts[: args.n]
    predictor = CpcPredictor.from_pretrained(args.model)
    members, weights = predictor.scorer.members, predictor.scorer.weights
    knn = next(m for m in members if hasattr(m, "bank"))
    bank = knn.bank
    bank.row_major()  # made once, outside the timings
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
        exact = bank.search(x, bank.k)
        exact_s += time.perf_counter() - t0
        exact_votes.append(bank.vote(exact))
        truth = exact.rows[:, : bank.k]
        for b in args.budgets:
            hits, s, (read, total) = budgeted_hits(bank, x, b)
            seconds[b] += s
            postings[b][0] += read
            postings[b][1] += total
            votes[b].append(bank.vote(hits))
            for t, h in zip(truth, hits.rows[:, : bank.k]):
                wanted = t[t >= 0]
                recall[b].append(len(np.intersect1d(wanted, h)) / max(len(wanted), 1))
    exact_f1 = f1(np.vstack(exact_votes))
    lines = [
        "| postings budget per text | postings read | budgeted search time / exact search time | "
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
        f"## Budgeted search against the exact search ({len(texts)} test texts, {args.candidates} "
        f"candidates rescored, {bank.n_rows:,}-row bank)\n\n"
        + "\n".join(lines)
        + f"\n\nOne run, load average {load:.1f} (times: the ratio of the two searches in the same run).\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
