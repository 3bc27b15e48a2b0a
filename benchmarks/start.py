"""Start-up of the default model, a reference revision against the working tree, side by side in one run.

Per revision (the reference checked out in a temporary git worktree, with its own default model folder):
``CpcPredictor.from_pretrained`` time (imports done first), and ``cpc predict "<one abstract>"`` run cold from
another directory: wall time and peak RSS of the process. Median of ``--repeat`` runs, the two revisions
alternating. Default reference: the revision before TF-IDF storage format 2 (as ``benchmarks/parity.py``).

Run: ``.venv/bin/python benchmarks/start.py [--before REV] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
TEXT = (
    "Deep neural network training. A convolutional neural network is trained on labelled images using "
    "backpropagation to classify objects in camera frames."
)
LOAD = (
    "import time, sys; from cpc_models.predict.predictor import CpcPredictor; t = time.perf_counter(); "
    "CpcPredictor.from_pretrained(sys.argv[1]); print(time.perf_counter() - t)"
)


def measure(root: Path, cwd: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}
    model = str(root / "hub/models/cpc-default")
    load = float(
        subprocess.run([sys.executable, "-c", LOAD, model], env=env, capture_output=True, text=True, check=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "spaces.cli", "predict", "--model", model, TEXT],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - t
    # ru_maxrss of children is the largest so far: run the heavier revision's measurement in its own process
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "from_pretrained_s": load,
        "cli_wall_s": wall,
        "cli_peak_rss_mb": round(rss / 1024),
    }


def main() -> None:
    from parity import default_before

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="Reference revision. [the one before storage format 2]")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/start.md"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), Path(args.child[1]))))
        return
    before = args.before or default_before()
    work = Path(tempfile.mkdtemp(prefix="cpc-start-"))
    tree = work / "before"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), before], cwd=REPO, check=True, capture_output=True)
    runs: dict[str, list[dict]] = {"before": [], "now": []}
    try:
        for _ in range(args.repeat):
            for name, root in (("before", tree), ("now", REPO)):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(root), str(work)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                runs[name].append(json.loads(out.strip().splitlines()[-1]))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    rev = subprocess.run(["git", "rev-parse", "--short", before], cwd=REPO, capture_output=True, text=True).stdout
    lines = ["| revision | from_pretrained s | `cpc predict` wall s (cold) | peak RSS MB |", "|---|---|---|---|"]
    for name, label in (("before", f"{rev.strip()} (format 1)"), ("now", "working tree")):
        med = {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
        lines.append(
            f"| {label} | {med['from_pretrained_s']:.2f} | {med['cli_wall_s']:.2f} | {med['cli_peak_rss_mb']:.0f} |"
        )
    text = "\n".join(lines) + f"\n\nMedian of {args.repeat} runs each, alternating; one machine.\n"
    print(text)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
