"""A synthetic corpus of any size for scale benchmarks: the real training split resampled and perturbed.

Each synthetic document is a real training document (drawn with replacement) with its codes and title kept and
its abstract perturbed: about ``drop`` of its words removed and ``swap`` of them replaced by words of another
random document, so no two documents are identical and the vocabulary grows with the corpus as real text does.
Validation and test are the real ones (so thresholds and metrics are comparable). Written as a dataset folder
(``data/*.parquet`` + ``labels.json``); never committed.

Run: ``.venv/bin/python benchmarks/synthetic.py --n 300000 --out /tmp/patent-cpc-300k``
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "hub/datasets/patent-cpc-ai"


def make_corpus(
    n: int,
    out: str | Path,
    dataset: str | Path = DATASET,
    seed: int = 0,
    drop: float = 0.1,
    swap: float = 0.1,
    shard_rows: int = 200_000,
) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dataset, final = Path(dataset), Path(out)
    out = final.with_name(final.name + ".partial")  # renamed when complete: an interrupted run leaves no dataset
    shutil.rmtree(out, ignore_errors=True)
    (out / "data").mkdir(parents=True)
    shutil.copy(dataset / "labels.json", out / "labels.json")
    for split in ("validation", "test"):
        for f in (dataset / "data").glob(f"{split}-*.parquet"):
            shutil.copy(f, out / "data" / f.name)
    real = pq.read_table(
        sorted((dataset / "data").glob("train-*.parquet"))[0],
        columns=["publication_number", "title", "abstract", "cpc_codes"],
    ).to_pydict()
    words = [a.split() for a in real["abstract"]]
    rng = np.random.default_rng(seed)
    shards = max(1, -(-n // shard_rows))
    for s in range(shards):
        rows = range(s * shard_rows, min(n, (s + 1) * shard_rows))
        picks = rng.integers(0, len(words), len(rows))
        donors = rng.integers(0, len(words), len(rows))
        abstracts = []
        for i, d in zip(picks, donors):
            w, other = words[i], words[d] or ["."]
            u = rng.random(len(w))
            fill = rng.integers(0, len(other), len(w))
            # u < drop: the word is dropped; drop <= u < drop + swap: replaced by a donor's word; else kept
            kept = (t if x >= drop + swap else other[f] for t, x, f in zip(w, u, fill) if x >= drop)
            abstracts.append(" ".join(kept))
        table = pa.table(
            {
                "publication_number": [f"SYN{r}" for r in rows],
                "title": [real["title"][i] for i in picks],
                "abstract": abstracts,
                "cpc_codes": [real["cpc_codes"][i] for i in picks],
            }
        )
        pq.write_table(table, out / "data" / f"train-{s:05d}-of-{shards:05d}.parquet")
    out.rename(final)
    return final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True, help="Training documents.")
    parser.add_argument("--out", required=True, help="Dataset folder to write.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_corpus(args.n, args.out, seed=args.seed))


if __name__ == "__main__":
    main()
