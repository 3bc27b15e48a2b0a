"""How much does a bigger corpus buy? The default model's recipe trained on 1/8, 1/4, 1/2 and all of the train split.

Run: ``.venv/bin/python benchmarks/learning_curve.py`` (not part of the test run; several minutes of CPU).

For each fraction it writes a copy of the dataset folder whose train split is a nested subset (the first
documents in SHA-256 order of their publication number, so 1/8 is inside 1/4 is inside 1/2), with the same
validation and test splits and the same label vocabulary, then trains the default model's recipe on it exactly
as ``hub/models/cpc-default`` was trained (its members' ``train_config.json``: ``tfidf-svm`` and ``tfidf-knn``,
then the ``ensemble`` with weights tuned on validation) and records its test micro-F1, macro-F1 and P@1.
A least-squares line of each metric against log2(train size) gives the gain per doubling of the corpus.
Writes ``benchmarks/results/learning_curve.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cpc_models.scoring.report import markdown_table, write_benchmark_report  # noqa: E402
from cpc_models.settings import DATASET_DIR, DEFAULT_MODEL_NAME, MODELS_DIR  # noqa: E402

FRACTIONS = (8, 4, 2, 1)  # 1/8, 1/4, 1/2, all
METRICS = (("micro-F1", "micro_f1"), ("macro-F1", "macro_f1"), ("P@1", "precision_at_1"))


def subset_dataset(dataset: Path, out: Path, denominator: int) -> int:
    """A copy of ``dataset`` whose train split keeps the first 1/denominator of its documents in hash order."""
    import pyarrow.parquet as pq

    (out / "data").mkdir(parents=True, exist_ok=True)
    for name in ("labels.json", "build_config.json"):
        shutil.copy(dataset / name, out / name)
    for path in (dataset / "data").glob("*.parquet"):
        if not path.name.startswith("train-"):
            shutil.copy(path, out / "data" / path.name)
    table = pq.read_table(sorted((dataset / "data").glob("train-*.parquet")))
    order = sorted(
        range(table.num_rows),
        key=lambda i: hashlib.sha256(table["publication_number"][i].as_py().encode()).digest(),
    )
    keep = sorted(order[: table.num_rows // denominator])
    pq.write_table(table.take(keep), out / "data" / "train-00000-of-00001.parquet")
    return len(keep)


def member_configs(model: Path) -> list[tuple[str, dict]]:
    """(kind, recorded config) of each member of the default model, from its saved train_config.json."""
    from cpc_models.registry import kind_of

    spec = json.loads((model / "ensemble.json").read_text())
    members = []
    for entry in spec["members"]:
        folder = model / entry["path"]
        config = json.loads((folder / "train_config.json").read_text())
        members.append((kind_of(folder), config))
    return members


def train_recipe(dataset: Path, work: Path, top: str, members: list[tuple[str, dict]], grid_step: float) -> dict:
    """The members trained on ``dataset``, then the model of kind ``top`` (the default model's own) over them."""
    from cpc_models.registry import get_kind

    folders = []
    for kind_name, recorded in members:
        kind = get_kind(kind_name)
        config_class = kind.config_class()
        fields = {f.name for f in dataclasses.fields(config_class)}
        data = {k: v for k, v in config_class.renamed(recorded).items() if k in fields}  # recorded extras dropped
        folder = work / kind_name
        data.update(dataset_dir=str(dataset), output_dir=str(folder))
        if "progress" in config_class.field_types():
            data["progress"] = False
        kind.train(config_class.from_dict(data))
        folders.append(str(folder))
    ensemble = get_kind(top)
    config_class = ensemble.config_class()
    return ensemble.train(
        config_class.from_dict(
            {
                "dataset_dir": str(dataset),
                "output_dir": str(work / top),
                "members": folders,
                "grid_step": grid_step,
                "copy_members": False,
            }
        )
    )


def gain_per_doubling(sizes: list[int], values: list[float]) -> float:
    """Slope of the least-squares line of ``values`` against log2(``sizes``)."""
    return float(np.polyfit(np.log2(sizes), values, 1)[0])


def main(argv: list[str] | None = None) -> int:
    import logging

    from cpc_models.registry import kind_of

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=REPO / DATASET_DIR)
    parser.add_argument("--model", type=Path, default=REPO / MODELS_DIR / DEFAULT_MODEL_NAME)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "learning_curve.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    members = member_configs(args.model)
    top = kind_of(args.model)  # the kind that combines the members (the default model's own)
    grid_step = json.loads((args.model / "train_config.json").read_text()).get("grid_step", 0.1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="learning-curve-") as tmp:
        for denominator in FRACTIONS:
            dataset = Path(tmp) / f"dataset-{denominator}"
            n_train = subset_dataset(args.dataset, dataset, denominator)
            t0 = time.perf_counter()
            test = train_recipe(dataset, Path(tmp) / f"models-{denominator}", top, members, grid_step)
            row = {
                "fraction": "all" if denominator == 1 else f"1/{denominator}",
                "train_documents": n_train,
                **{key: round(float(test[key]), 4) for _, key in METRICS},
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
            shutil.rmtree(dataset)
    sizes = [r["train_documents"] for r in rows]
    gains = {key: round(gain_per_doubling(sizes, [r[key] for r in rows]), 4) for _, key in METRICS}
    result = {
        "dataset": args.dataset.name,
        "model": args.model.name,
        "recipe": [kind for kind, _ in members] + [top],
        "rows": rows,
        "gain_per_doubling": gains,
    }
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown_table(
        ["train split", "training documents"] + [f"test {name}" for name, _ in METRICS] + ["training seconds"],
        [
            [r["fraction"], str(r["train_documents"])] + [f"{r[key]:.3f}" for _, key in METRICS] + [str(r["seconds"])]
            for r in rows
        ]
        + [["**per doubling**", "×2"] + [f"**{gains[key]:+.3f}**" for _, key in METRICS] + [""]],
    )
    setting = (
        f" on `{args.dataset.name}`: the recipe of `{args.model.name}` ({' + '.join(result['recipe'][:-1])}, "
        "ensembled with weights tuned on validation) trained on nested subsets of the train split; validation, test "
        "and label vocabulary unchanged. Per doubling: the slope of a least-squares line against log2(training documents)."
    )
    print(
        write_benchmark_report(
            args.out,
            "Learning curve: test scores against corpus size",
            "benchmarks/learning_curve.py",
            setting,
            f"{table}\n\nThe gain per doubling is what a corpus twice the size buys if the trend holds; "
            "the bulk imports (`cpc data import patentsview|bigquery`) are the way to get there.",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
