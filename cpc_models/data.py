"""Read a dataset folder (as written by ``cpc data build``) into texts and a label matrix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError

LOAD_BATCH_ROWS = 65_536


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
    """One split of a dataset folder (or a Hub dataset repo id). ``vocabulary`` defaults to the dataset's own label list.

    Its memory is what it returns: the texts are made from the title and abstract columns in Arrow (``model_input``
    on batches of ``LOAD_BATCH_ROWS`` rows: an Arrow string column holds at most 2 GiB), so only the texts become
    Python strings; each distinct CPC code is one string shared by every document that carries it; the pages Arrow
    used to read the files go back to the system (the training peaks: ``benchmarks/results/scale.md``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cpc_dataset.hub import is_repo_id, resolve_dataset

    dataset_dir = resolve_dataset(dataset_dir) if is_repo_id(dataset_dir) else Path(dataset_dir)
    files = sorted((dataset_dir / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise InputError(f"{dataset_dir} has no {split} split (expected data/{split}-*.parquet)")
    numbers, texts, codes, shared = [], [], [], {}
    columns = ["publication_number", "title", "abstract", "cpc_codes"]
    for f in files:
        with pq.ParquetFile(f) as parquet:
            for batch in parquet.iter_batches(batch_size=LOAD_BATCH_ROWS, columns=columns):
                numbers.extend(batch.column("publication_number").to_pylist())
                texts.extend(model_inputs(batch.column("title"), batch.column("abstract")).to_pylist())
                codes.extend(shared_codes(batch.column("cpc_codes"), shared))
                del batch
    pa.default_memory_pool().release_unused()
    return Split(split, numbers, texts, codes, vocabulary or load_vocabulary(dataset_dir))


def model_inputs(titles, abstracts):
    """``model_input`` of each (title, abstract) pair of two Arrow string columns, as an Arrow string array."""
    import pyarrow.compute as pc

    from cpc_dataset.arrow_text import clean_texts

    titles, abstracts = clean_texts(titles), clean_texts(abstracts)
    return pc.if_else(pc.equal(titles, ""), abstracts, pc.binary_join_element_wise(titles, abstracts, ". "))


def shared_codes(column, shared: dict[str, str]) -> list[list[str]]:
    """Each row's list of codes (an Arrow list<string> column; a null list: none; a null code: None), every
    distinct code one string object (``shared`` maps a code to it, across calls)."""
    import pyarrow.compute as pc

    column = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    flat = pc.dictionary_encode(pc.list_flatten(column))
    names = [shared.setdefault(c, c) for c in flat.dictionary.to_pylist()] + [None]  # a null code: None, as before
    index = pc.fill_null(flat.indices, len(names) - 1).to_numpy(zero_copy_only=False).tolist()
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False).tolist()
    out, at = [], 0
    for n in lengths:
        out.append([names[i] for i in index[at : at + n]])
        at += n
    return out
