"""``cpc_models.data.load_split``: what the models read from a dataset folder, made in Arrow."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from cpc_dataset.text import model_input
from cpc_models.data import load_split

ROWS = [
    ("US1", "Neural  network", "A method\tfor training.", ["G06N3/08", "G06N3/04"]),
    ("US2", None, "Abstract with no title.", ["G06N3/08"]),
    ("US3", "", "Empty title\x07 and a bell.", []),
    ("US4", "Ｆｕｌｌｗｉｄｔｈ title", "Ｎｏｎ-ASCII abstract\u200b with ﬁ ligature.", ["G06F40/30", "G06N3/08"]),
    ("US5", "Title only", None, ["G06F40/30"]),
]


def write_dataset(folder, files: int = 2):
    (folder / "data").mkdir(parents=True)
    (folder / "labels.json").write_text(json.dumps({"labels": ["G06F40/30", "G06N3/04", "G06N3/08"]}))
    schema = pa.schema(
        [
            ("publication_number", pa.string()),
            ("title", pa.string()),
            ("abstract", pa.string()),
            ("cpc_codes", pa.list_(pa.string())),
        ]
    )
    size = -(-len(ROWS) // files)
    for i in range(files):
        part = ROWS[i * size : (i + 1) * size]
        table = pa.table([list(column) for column in zip(*part)], schema=schema)
        pq.write_table(table, folder / "data" / f"train-{i:05d}-of-{files:05d}.parquet")


def test_a_split_reads_as_model_input_does_and_shares_each_code(tmp_path):
    write_dataset(tmp_path)
    split = load_split(tmp_path, "train")
    assert split.publication_numbers == [r[0] for r in ROWS]  # files in order, rows in order
    assert split.texts == [model_input(r[1], r[2]) for r in ROWS]
    assert split.codes == [r[3] for r in ROWS]
    assert split.y.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0], [1, 0, 1], [1, 0, 0]]
    # one string object per distinct code, across the files (not one per document that carries it)
    codes = [c for doc in split.codes for c in doc]
    assert len({id(c) for c in codes}) == len(set(codes)) == 3


def test_a_null_code_in_a_list_reads_as_none_as_before(tmp_path):
    """A list that holds a null (a hand-made or Hub dataset) reads as it did with ``to_pylist``: None in its place,
    no label for it."""
    (tmp_path / "data").mkdir()
    (tmp_path / "labels.json").write_text(json.dumps({"labels": ["G06N3/08"]}))
    codes = [["G06N3/08", None], None, [None], ["G06N3/08"]]
    table = pa.table({"publication_number": ["a", "b", "c", "d"], "title": ["t"] * 4, "abstract": ["x"] * 4})
    pq.write_table(
        table.append_column("cpc_codes", pa.array(codes, pa.large_list(pa.string()))),
        tmp_path / "data" / "train-0.parquet",
    )
    split = load_split(tmp_path, "train")
    assert split.codes == [["G06N3/08", None], [], [None], ["G06N3/08"]]
    assert split.y.tolist() == [[1], [0], [0], [1]]


def test_a_split_file_is_read_a_batch_at_a_time(tmp_path, monkeypatch):
    """Arrow's string columns hold at most 2 GiB: a split file with more text (one file per split, past about 2.5M
    abstracts) is made into texts a batch of rows at a time, each batch as it would be whole."""
    import cpc_models.data as data

    write_dataset(tmp_path, files=1)
    seen, original = [], data.model_inputs
    monkeypatch.setattr(data, "LOAD_BATCH_ROWS", 2)
    monkeypatch.setattr(data, "model_inputs", lambda t, a: seen.append(len(t)) or original(t, a))
    split = load_split(tmp_path, "train")
    assert seen == [2, 2, 1]
    assert split.texts == [model_input(r[1], r[2]) for r in ROWS] and split.codes == [r[3] for r in ROWS]
    assert split.publication_numbers == [r[0] for r in ROWS]
