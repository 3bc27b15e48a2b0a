"""What ``cpc learn`` buys, and what it costs: side by side in one run.

Run: ``.venv/bin/python benchmarks/learn.py`` (not part of the test run; a few minutes on 2 cores). Writes
``benchmarks/results/learn.md`` and ``learn.json``.

(a) The test split is cut in two halves by a hash of the publication number. Half A is learned into the default
    model (``cpc learn``, a new folder); half B, never learned, is scored before and after (micro-F1, macro-F1,
    P@1 with the model's own calibration and thresholds). Half A itself is scored too (the patents learned).
(b) Learning against retraining, for the TF-IDF kNN member alone, scored on the whole test split with the full
    member's thresholds: the full member (vectorizer and bank fitted on all of train); a member fitted on half of
    train only; that half member after learning the other half; and the full member's vectorizer with a bank of
    half of train, after learning the other half (same vocabulary: should equal the full member).
(c) Time and peak memory of each ``cpc learn`` run (a child process: loading, copying the folder, features,
    writing), per 10,000 patents, and whether the base folder is byte-identical afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.data import load_split  # noqa: E402
from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402
from cpc_models.settings import DATASET_DIR, DEFAULT_MODEL_NAME, MODELS_DIR  # noqa: E402

NEW_LABEL_THRESHOLDS = (0.3, 0.5, 0.7, 0.9, 0.95, 0.99)
CHILD = """
import json, resource, sys, time
from spaces.cli import main
t = time.perf_counter()
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def half_a(numbers: list[str]) -> np.ndarray:
    """True for the patents of half A: an even first byte of sha256(publication number)."""
    return np.array([hashlib.sha256(n.encode()).digest()[0] % 2 == 0 for n in numbers], dtype=bool)


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def write_source(dataset: Path, split: str, mask: np.ndarray, path: Path) -> Path:
    """The split's rows where ``mask``, as a parquet file with the dataset's columns (what ``cpc learn`` reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted((dataset / "data").glob(f"{split}-*.parquet"))
    table = pa.concat_tables(
        [pq.read_table(f, columns=["publication_number", "title", "abstract", "cpc_codes"]) for f in files]
    )
    pq.write_table(table.filter(pa.array(mask)), path)
    return path


def cpc_learn(model: Path, source: Path, out: Path, *options: str) -> dict:
    """``cpc learn`` in a child process: its seconds (inside the process) and peak resident memory."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            "learn",
            "--model",
            str(model),
            "--data",
            str(source),
            "--out",
            str(out),
            *options,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"cpc learn failed: {done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    if result["rc"] != 0:
        raise SystemExit(done.stderr)
    result["count"] = json.loads((out / "learned.json").read_text())["learned"][-1]["count"]
    return result


def scores_and_metrics(model_dir: Path, texts: list[str], y: np.ndarray, labels: list[str], thresholds_dir: Path):
    from cpc_models.registry import load_scorer
    from cpc_models.scoring.calibration import Calibration, calibrated_scores
    from cpc_models.scoring.evaluate import score_in_batches
    from cpc_models.scoring.metrics import compute_metrics
    from cpc_models.scoring.thresholds import Thresholds

    scorer = load_scorer(model_dir)
    cols = {c: j for j, c in enumerate(scorer.labels)}
    raw = score_in_batches(scorer, texts, progress=False)[:, [cols[c] for c in labels]]
    scores = calibrated_scores(Calibration.load(thresholds_dir), raw, labels)
    keep = y.sum(axis=1) > 0
    decided = Thresholds.load(thresholds_dir).apply(scores[keep], labels)
    m = compute_metrics(y[keep], scores[keep], decided, labels)
    return raw, {k: m[k] for k in ("micro_f1", "macro_f1", "precision_at_1", "n_docs")}


def fit_half_member(full_member: Path, train, mask: np.ndarray, out: Path) -> Path:
    """A TF-IDF kNN member like ``full_member`` but fitted (vectorizer and bank) on the train rows of ``mask``."""
    from cpc_models.data import Split
    from cpc_models.kinds import tfidf_knn

    saved = json.loads((full_member / "train_config.json").read_text())
    config = tfidf_knn.Config(**{f.name: saved[f.name] for f in fields(tfidf_knn.Config) if f.name in saved})
    keep = np.flatnonzero(mask)
    half = Split(
        "train",
        [train.publication_numbers[i] for i in keep],
        [train.texts[i] for i in keep],
        [train.codes[i] for i in keep],
        train.vocabulary,
    )
    if hasattr(tfidf_knn, "write_knn_folder"):  # storage format 2
        from cpc_models.kinds.tfidf import fit_vectorizer

        vectorizer, x = fit_vectorizer(config, half.texts)
        tfidf_knn.write_knn_folder(out, vectorizer, x, half, Path("missing"), config.k, config.temperature)
    else:
        from cpc_models.kinds.tfidf import fit_blocks

        blocks, x = fit_blocks(config, half.texts)
        x.data = x.data.astype(np.float16).astype(np.float32)
        scorer = tfidf_knn.TfidfKnnScorer(half.vocabulary, blocks, x, half.y, config.k, config.temperature)
        scorer.docs = tfidf_knn.bank_docs(Path("missing"), half)
        scorer.save(out)
    shutil.copy(full_member / "config.json", out / "config.json")  # the same kind and labels
    return out


def half_bank_of(full_member: Path, mask: np.ndarray, out: Path) -> Path:
    """``full_member`` (its vectorizer) with only the bank rows of ``mask``: written with ``cpc learn``'s bank writer."""
    from scipy.sparse import csr_matrix

    from cpc_models.learn.banks import BankRows, find_banks, write_rows
    from cpc_models.learn.learn import copy_model

    copy_model(full_member, out)
    bank = BankRows(find_banks(out)[0])
    empty = csr_matrix((0, bank.matrix.shape[1]), dtype=np.float32)
    write_rows(bank, mask, empty, np.zeros((0, len(bank.labels)), np.uint8), [])
    return out


def new_label_rows(
    model_dir: Path, base_labels: list[str], texts: list[str], codes: list[list[str]]
) -> list[list[str]]:
    """Per threshold: precision, recall and F1 (micro) of the labels ``--new-labels`` added, on patents not learned."""
    from cpc_models.data import label_matrix
    from cpc_models.registry import load_scorer
    from cpc_models.scoring.calibration import Calibration, calibrated_scores
    from cpc_models.scoring.evaluate import score_in_batches

    scorer = load_scorer(model_dir)
    new = [c for c in scorer.labels if c not in set(base_labels)]
    scores = calibrated_scores(
        Calibration.load(model_dir), score_in_batches(scorer, texts, progress=False), scorer.labels
    )
    scores = scores[:, [scorer.labels.index(c) for c in new]]
    y = label_matrix(codes, new).astype(bool)
    rows = []
    for t in NEW_LABEL_THRESHOLDS:
        decided = scores >= t
        tp = int((decided & y).sum())
        p, r = tp / max(int(decided.sum()), 1), tp / max(int(y.sum()), 1)
        f = 2 * p * r / max(p + r, 1e-12)
        rows.append(
            [f"{t:.2f}", str(len(new)), str(int(y.sum())), str(int(decided.sum())), f"{p:.3f}", f"{r:.3f}", f"{f:.3f}"]
        )
    return rows


def fmt(m: dict) -> list[str]:
    return [f"{m['micro_f1']:.4f}", f"{m['macro_f1']:.4f}", f"{m['precision_at_1']:.4f}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO / DATASET_DIR)
    parser.add_argument("--model", type=Path, default=REPO / MODELS_DIR / DEFAULT_MODEL_NAME)
    parser.add_argument("--member", default="members/tfidf-knn", help="The model's TF-IDF kNN member, for (b).")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "learn.md")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="cpc-learn-bench-"))
    runs, results = [], {}
    try:
        test, train = load_split(args.dataset, "test"), load_split(args.dataset, "train")
        labels = test.vocabulary
        digest = folder_digest(args.model)

        # (c) first: 1,000 patents into the default model
        a = half_a(test.publication_numbers)
        first = np.zeros(len(test), bool)
        first[np.flatnonzero(a)[:1000]] = True
        r = cpc_learn(args.model, write_source(args.dataset, "test", first, work / "a1000.parquet"), work / "m-1000")
        runs.append(("1,000 test patents (half A) into " + args.model.name, r))

        # (a) half A learned, half B scored
        r = cpc_learn(args.model, write_source(args.dataset, "test", a, work / "half-a.parquet"), work / "m-a")
        runs.append((f"test half A ({r['count']}) into {args.model.name}", r))
        rows_a = []
        for name, mask in (("half B (not learned)", ~a), ("half A (learned)", a)):
            texts = [t for t, m in zip(test.texts, mask) if m]
            _, before = scores_and_metrics(args.model, texts, test.y[mask], labels, args.model)
            _, after = scores_and_metrics(work / "m-a", texts, test.y[mask], labels, work / "m-a")
            rows_a.append([name, str(before["n_docs"]), *fmt(before), *fmt(after)])
            results[f"a_{name.split(' (')[0].replace(' ', '_')}"] = {"before": before, "after": after}

        # (a) with --new-labels: codes outside the base labels become labels the kNN vote predicts
        r = cpc_learn(args.model, work / "half-a.parquet", work / "m-a-new", "--new-labels")
        runs.append((f"test half A ({r['count']}) into {args.model.name}, --new-labels", r))
        texts_b = [t for t, m in zip(test.texts, a) if not m]
        _, old_labels = scores_and_metrics(work / "m-a-new", texts_b, test.y[~a], labels, work / "m-a-new")
        results["a_new_labels_half_B_old_labels"] = old_labels
        rows_new = new_label_rows(work / "m-a-new", labels, texts_b, [c for c, m in zip(test.codes, a) if not m])
        results["a_new_labels_half_B"] = rows_new

        # (b) learning against retraining, the kNN member alone
        full = args.model / args.member
        t = half_a(train.publication_numbers)
        half = fit_half_member(full, train, t, work / "half-fitted")
        shutil.copy(full / "thresholds.json", half / "thresholds.json")
        other = write_source(args.dataset, "train", ~t, work / "train-other-half.parquet")
        r = cpc_learn(half, other, work / "half-fitted-learned")
        runs.append((f"other train half ({r['count']}) into a half-train kNN member", r))
        same_vocab = half_bank_of(full, t, work / "half-bank")
        r = cpc_learn(same_vocab, other, work / "half-bank-learned")
        runs.append((f"other train half ({r['count']}) into the full vocabulary, half bank", r))
        from cpc_models.learn.banks import BankRows, find_banks

        rows_b, raw = [], {}
        for name, folder in (
            ("full member (retrained on all of train)", full),
            ("half of train only", half),
            ("half of train + learn the other half", work / "half-fitted-learned"),
            ("full vocabulary, half bank + learn the other half", work / "half-bank-learned"),
        ):
            raw[name], m = scores_and_metrics(folder, test.texts, test.y, labels, full)
            rows_b.append([name, str(len(BankRows(find_banks(folder)[0]))), *fmt(m)])
            results[f"b_{name}"] = m
        same = raw["full vocabulary, half bank + learn the other half"]
        diff = float(np.abs(same - raw["full member (retrained on all of train)"]).max())
        results["b_max_abs_score_difference_same_vocabulary"] = diff
        unchanged = folder_digest(args.model) == digest
        results["base_unchanged"] = unchanged
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows_c = [
        [
            name,
            str(r["count"]),
            f"{r['seconds']:.1f}",
            f"{r['seconds'] / r['count'] * 10_000:.1f}",
            f"{r['max_rss_mb']:.0f}",
        ]
        for name, r in runs
    ]
    results["runs"] = [{"run": name, **r} for name, r in runs]
    metric_header = ["micro-F1", "macro-F1", "P@1"]
    body = (
        "## (a) Learn half of the test split, score the other half\n\n"
        + markdown_table(
            ["test patents", "scored", *[f"{h} before" for h in metric_header], *[f"{h} after" for h in metric_header]],
            rows_a,
        )
        + "\n\nHalf B's gain comes from its near-duplicates in half A (the same family, re-filings): the learned patent "
        "is their nearest neighbour and passes its codes on. Half A's row shows what learning the patents themselves "
        "does (their own codes come back through the kNN member; the linear member is unchanged).\n\n"
        "### With `--new-labels`\n\n"
        f"Learning half A with `--new-labels` leaves the base labels' scores as they were (half B, base labels: "
        f"micro-F1 {old_labels['micro_f1']:.4f}, P@1 {old_labels['precision_at_1']:.4f}) and adds every code of half A "
        "outside them as a label only the kNN vote predicts (its score: the kNN member's vote share, through the model's "
        "global calibration). On half B, those new labels against the codes half B really has, per threshold:\n\n"
        + markdown_table(
            ["threshold", "new labels", "true (doc, new code) pairs", "decided", "precision", "recall", "F1"], rows_new
        )
        + "\n\nFew half-B codes outside the base labels occur in half A, so recall stays small; precision is about "
        "0.55 to 0.65 from 0.3 to 0.7 and falls above 0.9 (a single very near neighbour's own codes). The default "
        "`--new-label-threshold` is 0.7, the most precise of these.\n\n"
        "## (b) Learning against retraining (TF-IDF kNN member alone, whole test split, the full member's thresholds)\n\n"
        + markdown_table(["member", "bank rows", *metric_header], rows_b)
        + f"\n\nWith the same vocabulary, learning the other half gives the full member's bank (in another row order): "
        f"largest score difference on the test split {diff:.2g}. A member fitted on half of train keeps its own "
        "vocabulary and IDF when it learns (words only the other half uses do not count), which is the whole of the "
        "gap between its learned row and the full member's.\n\n"
        "## (c) Time and memory of `cpc learn`\n\n"
        + markdown_table(["run", "patents", "seconds", "seconds per 10k", "peak RSS (MB)"], rows_c)
        + f"\n\nEach run is one `cpc learn` process: loading the model, copying the folder, TF-IDF features of the "
        f"patents, the duplicate check against every bank row, writing the bank. Base folder byte-identical after all "
        f"runs: {'yes' if unchanged else 'NO'}.\n"
    )
    storage = "format 2, memory-mapped `bank/`" if (args.model / args.member / "bank").is_dir() else "format 1, `.npz`"
    setting = (
        f" on `{args.dataset.name}` with `{args.model.name}` (kNN bank storage {storage}; 2 shared CPU cores, "
        "timings of one run)."
    )
    print(write_benchmark_report(args.out, "What cpc learn buys", "benchmarks/learn.py", setting, body))
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
