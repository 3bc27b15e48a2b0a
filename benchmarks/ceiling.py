"""How far can text take us? Label agreement between a test patent and its nearest training patent.

Run: ``.venv/bin/python benchmarks/ceiling.py`` (not part of the test run). For every labelled test
document it finds the most similar training document (TF-IDF cosine on title + abstract, fitted on the
training split only), then, per similarity band, prints

* the micro-F1 of simply copying the nearest training document's codes, and
* the micro-F1 of the default model on the same documents (its saved test predictions, thresholds tuned on
  validation),

side by side, with the ratio. Near-duplicates (continuations, re-filings with a new abstract) show how
consistently examiners assign the 131 vocabulary codes to nearly the same text: that agreement is a soft
ceiling for any model reading the text alone. Writes ``benchmarks/results/ceiling.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.data import load_split  # noqa: E402
from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402
from cpc_models.scoring.thresholds import Thresholds  # noqa: E402
from cpc_models.settings import DATASET_DIR, DEFAULT_MODEL_NAME, MODELS_DIR  # noqa: E402

BANDS = ((0.0, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.7), (0.7, 1.01))


def nearest_training_doc(train_texts: list[str], texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Index and cosine of the most similar training text for each of ``texts``."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=300_000)
    train = vectorizer.fit_transform(train_texts)
    sims = (vectorizer.transform(texts) @ train.T).tocsr()
    best = np.asarray(sims.argmax(axis=1)).ravel()
    cos = np.asarray(sims.max(axis=1).todense()).ravel()
    return best, cos


def model_decisions(model_dir: Path, vocabulary: list[str]) -> np.ndarray:
    """The model's decided code sets on the test split, from its saved scores and validation-tuned thresholds."""
    index = json.loads((model_dir / "predictions" / "index.json").read_text())
    if index["labels"] != vocabulary:
        raise SystemExit(f"{model_dir}: its labels differ from the dataset's vocabulary")
    scores = np.load(model_dir / "predictions" / "test.npy")
    return Thresholds.load(model_dir).apply(scores, vocabulary)


def main(argv: list[str] | None = None) -> int:
    from sklearn.metrics import f1_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO / DATASET_DIR)
    parser.add_argument("--model", type=Path, default=REPO / MODELS_DIR / DEFAULT_MODEL_NAME)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ceiling.md")
    args = parser.parse_args(argv)

    train, test = load_split(args.dataset, "train"), load_split(args.dataset, "test")
    keep = test.y.sum(axis=1) > 0
    best, cos = nearest_training_doc(train.texts, test.texts)
    copied = train.y[best]
    decided = model_decisions(args.model, test.vocabulary)

    rows = []
    for lo, hi in BANDS + ((0.0, 1.01),):
        band = keep & (cos >= lo) & (cos < hi)
        if band.sum() == 0:
            continue
        copy_f1 = f1_score(test.y[band], copied[band], average="micro", zero_division=0)
        model_f1 = f1_score(test.y[band], decided[band], average="micro", zero_division=0)
        name = "all labelled test docs" if (lo, hi) == (0.0, 1.01) else f"{lo:.1f} ≤ cos < {min(hi, 1.0):.1f}"
        rows.append(
            [name, str(int(band.sum())), f"{copy_f1:.3f}", f"{model_f1:.3f}", f"{model_f1 / max(copy_f1, 1e-9):.2f}×"]
        )

    table = markdown_table(
        [
            "nearest training doc",
            "test docs",
            "micro-F1 copying its codes",
            f"micro-F1 {args.model.name}",
            "model / copy",
        ],
        rows,
    )
    setting = (
        f" from `{args.dataset.name}` (test split, documents with at least one vocabulary code; TF-IDF fitted "
        "on train only)."
    )
    print(
        write_benchmark_report(
            args.out,
            "Label agreement ceiling",
            "benchmarks/ceiling.py",
            setting,
            (
                f"{table}\n\n"
                "Copying the codes of a near-identical training patent (cos ≥ 0.7: continuations and re-filings) is the "
                "closest thing this corpus has to a second examiner; where that agreement stays well below 1, no model "
                "reading the text alone can be expected to do much better."
            ),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
