"""Are the default model's predictions unchanged by a code or storage change? Two revisions, side by side.

Runs ``CpcPredictor`` of a reference revision (its code and its own ``hub/models/cpc-default``, checked out in a
temporary git worktree) and of the working tree on the whole test split, in two processes, and compares per
text: the decided codes (sets equal), their scores (within ``--tol``), the CPC levels, the similar patents
(same publication numbers in the same order, similarities within ``--tol``) and the out-of-scope flag.
Default reference: the revision before the TF-IDF storage format 2 (the parent of the commit that removed
``knn_bank.npz`` from the default model). Not part of the test run.

Run: ``.venv/bin/python benchmarks/parity.py [--before REV] [--n N]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "hub/models/cpc-default"
DATASET = "hub/datasets/patent-cpc-ai"


def dump(model: str, n: int | None, out: str) -> None:
    """In a child process: predict the test split, write what is compared."""
    sys.path.insert(0, os.getcwd())
    from cpc_models.data import load_split
    from cpc_models.predict.predictor import CpcPredictor

    texts = load_split(DATASET, "test").texts[:n]
    predictor = CpcPredictor.from_pretrained(model)
    rows = []
    for p in predictor.predict(texts):
        rows.append(
            {
                "codes": {c.code: c.score for c in p.codes},
                "levels": {k: {c.code: c.score for c in v} for k, v in p.levels.items()},
                "neighbours": [[n["publication_number"], n["similarity"]] for n in p.neighbours],
                "out_of_scope": p.out_of_scope,
                "reason": p.reason,
            }
        )
    Path(out).write_text(json.dumps(rows))


def default_before() -> str:
    path = f"{MODEL}/members/tfidf-knn/knn_bank.npz"
    removed = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--diff-filter=D", "--", path], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    if not removed:
        sys.exit("no commit removed the format-1 bank; give --before")
    return f"{removed}^"


def compare(a: list[dict], b: list[dict], tol: float) -> dict:
    out = {"texts": len(a), "code_sets_differ": 0, "max_score_diff": 0.0, "levels_differ": 0}
    out.update(neighbours_differ=0, max_similarity_diff=0.0, scope_differs=0, reason_differs=0)
    for x, y in zip(a, b):
        out["code_sets_differ"] += set(x["codes"]) != set(y["codes"])
        for c in set(x["codes"]) & set(y["codes"]):
            out["max_score_diff"] = max(out["max_score_diff"], abs(x["codes"][c] - y["codes"][c]))
        out["levels_differ"] += {k: set(v) for k, v in x["levels"].items()} != {
            k: set(v) for k, v in y["levels"].items()
        }
        out["neighbours_differ"] += [n for n, _ in x["neighbours"]] != [n for n, _ in y["neighbours"]]
        for (n1, s1), (n2, s2) in zip(x["neighbours"], y["neighbours"]):
            out["max_similarity_diff"] = max(out["max_similarity_diff"], abs(s1 - s2))
        out["scope_differs"] += x["out_of_scope"] != y["out_of_scope"]
        out["reason_differs"] += x["reason"] != y["reason"]
    counts = ("code_sets_differ", "levels_differ", "neighbours_differ", "scope_differs", "reason_differs")
    out["identical"] = (
        all(out[k] == 0 for k in counts)
        and out["max_score_diff"] <= tol + 1e-9
        and out["max_similarity_diff"] <= tol + 1e-9
    )
    out["max_score_diff"], out["max_similarity_diff"] = (
        round(out["max_score_diff"], 6),
        round(out["max_similarity_diff"], 6),
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="Reference revision. [the one before storage format 2]")
    parser.add_argument("--n", type=int, help="First N test texts only. [all]")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/parity.md"))
    parser.add_argument("--dump", nargs=2, metavar=("MODEL", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        return dump(args.dump[0], args.n, args.dump[1])
    before = args.before or default_before()
    work = Path(tempfile.mkdtemp(prefix="cpc-parity-"))
    tree = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), before], cwd=REPO, check=True, capture_output=True)
    try:
        results = []
        for name, root in (("before", tree), ("now", REPO)):
            out = work / f"{name}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--dump", MODEL, str(out)]
            cmd += ["--n", str(args.n)] if args.n else []
            env = {**os.environ, "PYTHONPATH": str(root)}
            subprocess.run(cmd, cwd=root, env=env, check=True)
            results.append(json.loads(out.read_text()))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    rev = subprocess.run(["git", "rev-parse", "--short", before], cwd=REPO, capture_output=True, text=True).stdout
    report = compare(*results, args.tol)
    print(json.dumps(report, indent=2))
    lines = [f"| {k} | {v} |" for k, v in report.items()]
    text = (
        f"## Default model predictions: revision {rev.strip()} (storage format 1) against the working tree\n\n"
        f"Whole test split unless stated; tolerance {args.tol}.\n\n| measure | value |\n|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
