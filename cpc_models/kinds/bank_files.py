"""The neighbour bank's folder (``BANK_DIR``): ``save_bank`` writes it, ``load_bank`` maps it, ``append_rows`` adds
labelled rows (what ``cpc learn`` builds on); format 1 (``knn_bank.npz`` + ``knn_docs.json``) still loads
(``load_bank_v1``). The files are described in ``cpc_models.kinds.bank``, the search that reads them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cpc_dataset.errors import MisconfiguredError
from cpc_models.files import BANK_ARRAY_FILE, BANK_DOCS_FILE, BANK_FILE, KNN_BANK_FILE, KNN_DOCS_FILE
from cpc_models.kinds.bank import FORMAT, ROW_COPY_ROWS, NeighbourBank, default_budget, find_short_rows, row_norms
from cpc_models.kinds.doc_readers import DOC_KEYS, DocReader, ListDocs
from cpc_models.kinds.sparse import Csr, as_csr


def _names(folder: Path) -> dict[str, Path]:
    keys = ("postings_data", "postings_indices", "postings_indptr", "norms", "labels_indices", "labels_indptr")
    short = ("short_rows", "short_data", "short_indices", "short_indptr")  # short_rows: format 2 since issue 22
    copy = ("rows_data", "rows_indices", "rows_indptr")  # row-major copy (large or budgeted banks)
    return {k: folder / BANK_ARRAY_FILE.format(name=k) for k in (*keys, *short, *copy, "docs_offsets")}


def save_bank(
    folder: str | Path,
    rows,
    labels: np.ndarray,
    k: int,
    temperature: float,
    docs: list[dict] | None = None,
    n_labels: int | None = None,
    search_budget: int | None = None,
) -> Path:
    """Write a bank: ``rows`` (bank rows x features, CSR; values rounded to float16 precision here), ``labels``
    (rows x labels, 0/1, dense or sparse), ``docs`` one dict per row (``DOC_KEYS``) or None, ``search_budget``
    postings per text of the budgeted search (0: exact; None: not written, ``bank.default_budget`` of the bank's
    rows when it loads; ``cpc_models.kinds.budget``).

    The files are written into a sibling folder that then takes ``folder``'s place: a process that has the
    previous bank memory-mapped keeps reading it whole (its files are unlinked, not rewritten)."""
    import shutil

    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    folder = final.with_name(f".{final.name}.new-{os.getpid()}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    _write_bank(folder, rows, labels, k, temperature, docs, n_labels, search_budget)
    if final.exists():
        previous = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(previous, ignore_errors=True)
        os.rename(final, previous)
        os.rename(folder, final)
        shutil.rmtree(previous)
    else:
        os.rename(folder, final)
    return final


def _write_bank(folder: Path, rows, labels, k, temperature, docs, n_labels, search_budget=None) -> None:
    from scipy.sparse import csr_matrix

    rows = csr_matrix(rows, dtype=np.float32)
    rows.data = rows.data.astype(np.float16).astype(np.float32)
    postings = rows.T.tocsr()
    postings.sort_indices()
    lab = csr_matrix(labels).astype(np.uint8)
    lab.eliminate_zeros()
    lab.sort_indices()
    files = _names(folder)
    index = np.int64 if postings.nnz >= 2**31 else np.int32
    np.save(files["postings_data"], postings.data.astype(np.float32))
    np.save(files["postings_indices"], postings.indices.astype(index))
    np.save(files["postings_indptr"], postings.indptr.astype(index))
    norms = row_norms(rows)
    np.save(files["norms"], norms)
    short, floor = find_short_rows(norms)
    short_postings = rows[short].T.tocsr()
    short_postings.sort_indices()
    np.save(files["short_rows"], short.astype(np.int64))
    np.save(files["short_data"], short_postings.data.astype(np.float32))
    np.save(files["short_indices"], short_postings.indices.astype(np.int32))
    np.save(files["short_indptr"], short_postings.indptr.astype(index))
    if (search_budget or 0) > 0 or rows.shape[0] >= ROW_COPY_ROWS:
        rows.sort_indices()
        np.save(files["rows_data"], rows.data)
        np.save(files["rows_indices"], rows.indices.astype(np.int32))
        np.save(files["rows_indptr"], rows.indptr.astype(index))
    np.save(files["labels_indices"], lab.indices.astype(np.int32))
    np.save(files["labels_indptr"], lab.indptr.astype(np.int64))
    if docs is not None:
        if len(docs) != rows.shape[0]:
            raise ValueError(f"{len(docs)} docs for {rows.shape[0]} bank rows")
        lines = [(json.dumps({k: d.get(k) for k in DOC_KEYS}, ensure_ascii=False) + "\n").encode() for d in docs]
        (folder / BANK_DOCS_FILE).write_bytes(b"".join(lines))
        np.save(files["docs_offsets"], np.r_[0, np.cumsum([len(b) for b in lines])].astype(np.int64))
    spec = {
        "format": FORMAT,
        "rows": int(rows.shape[0]),
        "features": int(rows.shape[1]),
        "labels": int(n_labels if n_labels is not None else lab.shape[1]),
        "k": int(k),
        "temperature": float(temperature),
        "docs": docs is not None,
        "short_floor": floor,  # smallest norm outside short_rows (NeighbourBank.short_rows)
    }
    if search_budget is not None:
        spec["search_budget"] = int(search_budget)
    (folder / BANK_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def load_bank(folder: str | Path) -> NeighbourBank:
    folder = Path(folder)
    spec = json.loads((folder / BANK_FILE).read_text())
    if spec.get("format") != FORMAT:
        raise MisconfiguredError(f"{folder}: bank format {spec.get('format')!r}, this version reads {FORMAT}")
    # copy-on-write maps: shared pages, never written (the search kernel refuses read-only arrays); as plain arrays
    # (views of the maps): indexing a np.memmap makes a memmap each time, a cost on every small look-up
    f = {k: np.asarray(np.load(p, mmap_mode="c")) for k, p in _names(folder).items() if p.exists()}
    postings = Csr(f["postings_data"], f["postings_indices"], f["postings_indptr"], (spec["features"], spec["rows"]))
    labels = Csr(
        np.ones(len(f["labels_indices"]), dtype=np.float32),
        f["labels_indices"],
        f["labels_indptr"],
        (spec["rows"], spec["labels"]),
    )
    docs = DocReader(folder / BANK_DOCS_FILE, f["docs_offsets"]) if spec.get("docs") else None
    bank = NeighbourBank(postings, np.asarray(f["norms"]), labels, spec["k"], spec["temperature"], docs)
    bank.budget = int(spec["search_budget"]) if "search_budget" in spec else default_budget(spec["rows"])
    if {"rows_data", "rows_indices", "rows_indptr"} <= set(f):
        bank._rows = Csr(f["rows_data"], f["rows_indices"], f["rows_indptr"], (spec["rows"], spec["features"]))
    if {"short_rows", "short_data", "short_indices", "short_indptr"} <= set(f) and "short_floor" in spec:
        short = f["short_rows"]
        bank.set_short_rows(
            short,
            spec["short_floor"],
            Csr(f["short_data"], f["short_indices"], f["short_indptr"], (spec["features"], len(short))),
        )
    return bank


def read_bank_rows(folder: str | Path):
    """(rows x features CSR, labels CSR, docs list or None, spec) of a saved bank, in memory."""
    from scipy.sparse import csr_matrix

    bank = load_bank(folder)
    spec = json.loads((Path(folder) / BANK_FILE).read_text())
    rows = csr_matrix(bank.postings.to_scipy().T, dtype=np.float32).tocsr()
    docs = [bank.docs[i] for i in range(bank.n_rows)] if bank.docs is not None else None
    return rows, csr_matrix(bank.labels.to_scipy(), dtype=np.uint8), docs, spec


def append_rows(folder: str | Path, rows, labels: np.ndarray, docs: list[dict] | None = None) -> int:
    """Append labelled rows to the bank saved in ``folder`` (rewritten whole, see ``save_bank``). ``rows``: their
    TF-IDF rows (from the member's own vectorizer, ``Vectorizer.transform``); ``labels``: (rows, the bank's
    labels) 0/1; ``docs``: one dict per row (``DOC_KEYS``), required when the bank has docs. Returns the new
    number of rows."""
    from scipy.sparse import csr_matrix, vstack

    old, old_labels, old_docs, spec = read_bank_rows(folder)
    rows = rows.to_scipy() if isinstance(rows, Csr) else rows  # Vectorizer.transform gives a Csr
    rows, labels = csr_matrix(rows, dtype=np.float32), csr_matrix(labels, dtype=np.uint8)
    if rows.shape[1] != old.shape[1] or labels.shape[1] != old_labels.shape[1] or rows.shape[0] != labels.shape[0]:
        raise ValueError(
            f"rows {rows.shape} / labels {labels.shape} do not fit the bank ({old.shape[1]} features, "
            f"{old_labels.shape[1]} labels)"
        )
    if old_docs is not None and (docs is None or len(docs) != rows.shape[0]):
        raise ValueError("the bank keeps a doc per row: give one per appended row")
    save_bank(
        folder,
        vstack([old, rows], format="csr"),
        vstack([old_labels, labels], format="csr"),
        spec["k"],
        spec["temperature"],
        None if old_docs is None else old_docs + list(docs),
        search_budget=spec.get("search_budget"),
    )
    return old.shape[0] + rows.shape[0]


def load_bank_v1(model_dir: str | Path) -> NeighbourBank:
    """A format-1 member folder (``knn_bank.npz``, ``knn_docs.json``), converted in memory."""
    from scipy.sparse import csr_matrix

    model_dir = Path(model_dir)
    b = np.load(model_dir / KNN_BANK_FILE)
    rows = csr_matrix((b["data"].astype(np.float32), b["indices"], b["indptr"]), shape=tuple(b["shape"]))
    labels = as_csr(csr_matrix(b["labels"].astype(np.float32)))
    docs = ListDocs(model_dir / KNN_DOCS_FILE) if (model_dir / KNN_DOCS_FILE).exists() else None
    bank = NeighbourBank(as_csr(rows.T), row_norms(rows), labels, int(b["knn"][0]), float(b["knn"][1]), docs)
    bank.budget = default_budget(rows.shape[0])  # as a format-2 bank that names none
    return bank


def docs_v1(model_dir: str | Path, n_rows: int) -> list[dict] | None:
    path = Path(model_dir) / KNN_DOCS_FILE
    if not path.exists():
        return None
    cols = json.loads(path.read_text())
    return [{k: cols[k][i] for k in DOC_KEYS if k in cols} for i in range(n_rows)]


def bank_docs(dataset_dir: str | Path, split) -> list[dict]:
    """Publication number, title and codes of each document of a dataset split, in the split's row order."""
    import pyarrow.parquet as pq

    from cpc_models.kinds.vectorizer import title_of

    titles = []
    for f in sorted((Path(dataset_dir) / "data").glob(f"{split.name}-*.parquet")):
        titles.extend(pq.read_table(f, columns=["title"]).column("title").to_pylist())
    if len(titles) != len(split):
        titles = [title_of(t) for t in split.texts]
    return [
        {"publication_number": p, "title": t, "codes": list(c)}
        for p, t, c in zip(split.publication_numbers, titles, split.codes)
    ]
