"""Does the budgeted neighbour search keep predict throughput when the bank grows? Exact against budgeted search,
the default model (22k-row bank) and a large one (e.g. a 300k-row model from ``benchmarks/scale.py``), in one run.

Per model and search: ``CpcPredictor.predict`` throughput on ``--n`` real test abstracts (one call, similar
patents and the scope flag included), one-abstract p50 over ``--n-single`` calls, the throughput as a share of the
default model's with the exact search, and recall@k of the budgeted search's ``k`` voters against the exact
search's. The four set-ups are measured round-robin for ``--rounds`` rounds (best of the rounds each), so that a
machine's load weighs on all of them alike. The time to make a bank's row-major copy from its postings (a
bank saved without one) is reported apart. Test F1 of a budget: ``benchmarks/search_budget.py``.
Not part of the test run.

Run: ``.venv/bin/python benchmarks/budget_speed.py --large PATH_TO_300K_MODEL [--budget 20000 40000] [--candidates 100 200]``
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
from benchmarks.timing import speed  # noqa: E402

MODEL = "hub/models/cpc-default"
DATASET = "hub/datasets/patent-cpc-ai"


def banks(predictor) -> list:
    """The distinct neighbour banks a predictor searches (its kNN member's, its neighbour index's)."""
    found = [m.bank for m in predictor.scorer.members if hasattr(m, "bank")]
    index = getattr(predictor.evidence, "index", None)
    if index is not None and hasattr(index, "bank"):
        found.append(index.bank)
    return list({id(b): b for b in found}.values())


def recall(bank, vectorizer, texts: list[str], budget: int, chunk: int = 256) -> float:
    """Mean share of the exact search's ``k`` voters that the budgeted search's ``k`` voters include."""
    shares = []
    for start in range(0, len(texts), chunk):
        x = vectorizer.transform(texts[start : start + chunk])
        bank.budget = 0
        exact = bank.search(x, bank.k).rows[:, : bank.k]
        bank.budget = budget
        approx = bank.search(x, bank.k).rows[:, : bank.k]
        for e, a in zip(exact, approx):
            wanted = e[e >= 0]
            shares.append(len(np.intersect1d(wanted, a)) / max(len(wanted), 1))
    return float(np.mean(shares))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", required=True, help="A model folder with a large bank (benchmarks/scale.py).")
    parser.add_argument("--budget", type=int, nargs="+", default=[20_000, 40_000], help="Postings per text.")
    parser.add_argument("--candidates", type=int, nargs="+", default=[100, 200], help="Rows rescored per text.")
    parser.add_argument("--n", type=int, default=1000, help="Test abstracts for the batch throughput.")
    parser.add_argument("--n-single", type=int, default=200, help="One-abstract calls for the p50.")
    parser.add_argument("--n-recall", type=int, default=1000, help="Test abstracts for recall@k.")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/budget_speed.md"))
    args = parser.parse_args()
    if os.environ.get("CPC_SEARCH_BUDGET"):
        sys.exit("unset CPC_SEARCH_BUDGET: this benchmark sets the budget itself")

    import cpc_models.kinds.budget as budget_module
    from cpc_models.data import load_split
    from cpc_models.predict.predictor import CpcPredictor

    os.chdir(REPO)
    texts = load_split(DATASET, "test").texts
    load_before = os.getloadavg()
    models, copy_s = {}, {}
    for name, folder in (("22k (default model)", MODEL), ("large", args.large)):
        predictor = CpcPredictor.from_pretrained(folder)
        for bank in banks(predictor):
            start = time.perf_counter()
            bank.row_major()  # the row-major copy, made once (a bank saved with one maps it)
            copy_s[name] = copy_s.get(name, 0.0) + time.perf_counter() - start
        rows = max(b.n_rows for b in banks(predictor))
        models[name] = predictor, rows
        for bank in banks(predictor):
            bank.budget = args.budget[0]
        predictor.predict(texts[:20])  # warm: short rows, docs, first calls
        for bank in banks(predictor):
            bank.budget = 0
        predictor.predict(texts[:20])

    setups = [("exact", 0, 0)] + [(f"budget {b:,}, {c} candidates", b, c) for b in args.budget for c in args.candidates]
    best: dict = {}
    for _ in range(args.rounds):
        for name, (predictor, _) in models.items():
            for search, value, candidates in setups:
                budget_module.DEFAULT_CANDIDATES = candidates
                for bank in banks(predictor):
                    bank.budget = value
                per_s, p50 = speed(predictor, texts[: args.n], args.n_single)
                old = best.get((name, search), (0.0, float("inf")))
                best[(name, search)] = max(old[0], per_s), min(old[1], p50)

    base = best[("22k (default model)", "exact")][0]
    lines = [
        "| model | bank rows | search | abstracts/s | p50 ms | throughput / 22k exact | "
        f"recall@k of the voters vs exact ({args.n_recall} texts) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (predictor, rows) in models.items():
        knn = next(m for m in predictor.scorer.members if hasattr(m, "bank"))
        for search, value, candidates in setups:
            per_s, p50 = best[(name, search)]
            budget_module.DEFAULT_CANDIDATES = candidates
            shown = (
                "1.0000" if not candidates else f"{recall(knn.bank, knn.vectorizer, texts[: args.n_recall], value):.4f}"
            )
            lines.append(f"| {name} | {rows:,} | {search} | {per_s:.0f} | {p50:.2f} | {per_s / base:.2f} | {shown} |")
        for bank in banks(predictor):
            bank.budget = 0
    load_after = os.getloadavg()
    text = (
        f"## Budgeted against exact neighbour search, 22k and {models['large'][1]:,}-row banks "
        "(postings read per text, candidates rescored)\n\n"
        + "\n".join(lines)
        + f"\n\n{args.n} test abstracts per batch call, {args.n_single} one-abstract calls for the p50, best of "
        f"{args.rounds} round-robin rounds. Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after. "
        "Row-major copy made from the postings at load: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in copy_s.items())
        + ".\n"
    )
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
