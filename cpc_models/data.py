"""Read a dataset folder (as written by ``cpc data build``) into texts and a label matrix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_dataset.text import model_input


@dataclass
class Split:
    name: str
    publication_numbers: list[str]
    texts: list[str]  # title + abstract, as the models read them
    codes: list[list[str]]  # every CPC code of each document
    vocabulary: list[str]

    @property
    def y(self) -> np.ndarray:
        """Binary label matrix (n_docs, n_labels) over ``vocabulary``; uint8."""
        return label_matrix(self.codes, self.vocabulary)

    def __len__(self) -> int:
        return len(self.texts)


def label_matrix(codes: list[list[str]], vocabulary: list[str]) -> np.ndarray:
    index = {code: i for i, code in enumerate(vocabulary)}
    y = np.zeros((len(codes), len(vocabulary)), dtype=np.uint8)
    for row, doc_codes in enumerate(codes):
        for code in doc_codes:
            j = index.get(code)
            if j is not None:
                y[row, j] = 1
    return y


def load_vocabulary(dataset_dir: str | Path) -> list[str]:
    path = Path(dataset_dir) / "labels.json"
    if not path.exists():
        raise InputError(f"{dataset_dir} is not a dataset folder (no labels.json); build one with `cpc data build`")
    return list(json.loads(path.read_text())["labels"])


def load_split(dataset_dir: str | Path, split: str, vocabulary: list[str] | None = None) -> Split:
    """One split of a dataset folder (or a Hub dataset repo id). ``vocabulary`` defaults to the dataset's own label list."""
    import pyarrow.parquet as pq

    from cpc_dataset.hub import is_repo_id, resolve_dataset

    dataset_dir = resolve_dataset(dataset_dir) if is_repo_id(dataset_dir) else Path(dataset_dir)
    files = sorted((dataset_dir / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise InputError(f"{dataset_dir} has no {split} split (expected data/{split}-*.parquet)")
    columns = ["publication_number", "title", "abstract", "cpc_codes"]
    rows = {c: [] for c in columns}
    for f in files:
        table = pq.read_table(f, columns=columns).to_pydict()
        for c in columns:
            rows[c].extend(table[c])
    texts = [model_input(t, a) for t, a in zip(rows["title"], rows["abstract"])]
    return Split(
        split,
        rows["publication_number"],
        texts,
        [list(c) for c in rows["cpc_codes"]],
        vocabulary or load_vocabulary(dataset_dir),
    )
