"""The vectorised paths of the imports and the build give what the row-by-row rules give."""

from __future__ import annotations

import datetime as dt
import hashlib
import random

import pytest

pa = pytest.importorskip("pyarrow")
pytest.importorskip("duckdb")

import pyarrow.parquet as pq  # noqa: E402

from cpc_dataset.arrow_text import abstract_digests, clean_texts  # noqa: E402
from cpc_dataset.build import BuildConfig, build_dataset  # noqa: E402
from cpc_dataset.imports.writer import ImportFilters, RawWriter  # noqa: E402
from cpc_dataset.raw import raw_schema  # noqa: E402
from cpc_dataset.text import abstract_key, clean_text  # noqa: E402
from tests.conftest import make_rows, write_raw_csv  # noqa: E402

TRICKY = [
    "A plain abstract.",
    "  leading and trailing  ",
    "tabs\tand\nnewlines\r\nand \x0b\x0c feeds",
    "controls\x00\x08\x1f\x7f inside",
    "Punctuation, (brackets) [x] {y} @home `tick` a_b C-D 10/20",
    "",
    " ",
    None,
    "x",
    "Ünïcode ﬁ ligature\u00a0nbsp\u2003em space",
    "MiXeD CaSe 123 ABC",
]


def test_arrow_text_gives_what_clean_text_and_abstract_key_give():
    array = pa.array(TRICKY * 3, pa.string())
    for values in (array, array.slice(4, 20)):  # a slice starts inside the buffers
        texts = values.to_pylist()
        assert clean_texts(values).to_pylist() == [clean_text(t) for t in texts]
        keys = [hashlib.sha256(abstract_key(t or "").encode("utf-8")).digest() for t in texts]
        assert abstract_digests(values) == keys


def test_batch_dates_refuse_what_to_date_refuses():
    from cpc_dataset.imports.batch import dates
    from cpc_dataset.imports.writer import to_date

    # days past a month's end and unpadded parts: to_date refuses them; a parser that rolls them over would not
    texts = ["2021-02-29", "2020-06-31", "20210229", "20200631", "2020-1-5", "1-01-01", "2020-02-29", "20200229",
             "0001-01-01", " 2020-06-30T10:00 ", "2020-00-10", "0", "", None]  # fmt: skip
    assert dates(pa.array(texts, pa.string())).to_pylist() == [to_date(t) for t in texts]


def _rows(rng: random.Random, n: int) -> list[dict]:
    codes = ["G06N3/08", "g06n 3/08", "H04L9/40", "A01B1/00", "NOT-A-CODE", "", "G06N0003080000"]
    dates = ["2020-01-05", "20190101", "0", "", None, "2021-13-01", "2018-06-30T10:00:00"]
    return [
        {
            "publication_number": rng.choice(["US1B2", "us-2-b1", "", None, " EP 3 A1 ", "Ü5"]),
            "title": rng.choice(TRICKY),
            "abstract": rng.choice(TRICKY),
            "codes": None if rng.random() < 0.1 else [rng.choice(codes) for _ in range(rng.randint(0, 4))],
            "family_id": rng.choice([None, "123", " 45 ", ""]),
            "country_code": rng.choice([None, "us", "", "Ép"]),
            "publication_date": rng.choice(dates),
            "filing_date": rng.choice(dates),
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize(
    "filters",
    [
        ImportFilters(),
        ImportFilters(cpc_prefixes=("h04l", "A01"), since=dt.date(2019, 1, 1), until=dt.date(2020, 6, 1)),
        ImportFilters(limit=7),
    ],
)
def test_add_batch_writes_and_counts_what_add_does(tmp_path, filters):
    rows = _rows(random.Random(7), 150)
    skips = ["withdrawn" if i % 9 == 4 else None for i in range(len(rows))]
    with RawWriter(tmp_path / "rows", "x", "test", filters) as one:
        for row, skip in zip(rows, skips):
            one.skip(skip) if skip else one.add(**row)
            if one.full:
                break
    schema = pa.schema([(k, pa.list_(pa.string()) if k == "codes" else pa.string()) for k in rows[0]])
    batches = [(pa.Table.from_pylist(rows[i : i + 50], schema), pa.array(skips[i : i + 50])) for i in (0, 50, 100)]
    with RawWriter(tmp_path / "batches", "x", "test", filters) as many:
        many.add_batches(batches)
    assert pq.read_table(tmp_path / "batches" / "x.parquet").to_pylist() == (
        pq.read_table(tmp_path / "rows" / "x.parquet").to_pylist()
    )
    counts = ("patents_read", "rows_written", "skipped", "filtered", "codes_dropped")
    assert {k: many.report.summary()[k] for k in counts} == {k: one.report.summary()[k] for k in counts}
    assert one.report.written  # the rows compared are not all filtered out


def _write_parquet(path, rows: list[dict]):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, raw_schema()), path)


def _imported(number: str, abstract: str | None, codes: list[str] | None, family: str | None = None) -> dict:
    return {"publication_number": number, "title": "T", "abstract": abstract, "cpc_codes": codes, "family_id": family}


def test_repeated_numbers_across_sources_still_merge_while_lone_rows_skip_the_merge(tmp_path):
    write_raw_csv(tmp_path / "scrape" / "a.csv", [*make_rows(40), {**make_rows(1, start=900)[0], "publication_number": "US1B2", "cpc_codes": "['G06N3/08', 'H04L9/40']"}])  # fmt: skip
    _write_parquet(
        tmp_path / "import" / "bulk.parquet",
        [
            _imported("US1B2", "Another text of the same patent.", ["A01B1/00", "G06N3/08"]),  # in the scrape too
            _imported("US2B2", "Codes listed twice by the source.", ["B25J9/16", "B25J9/16", "G06N3/08"]),
            _imported("US3B2", "A patent of its own.", ["H04L9/40", "A01B1/00"]),
        ],
    )
    report = build_dataset(
        BuildConfig(
            raw=[str(tmp_path / "scrape"), str(tmp_path / "import")],
            out=str(tmp_path / "ds"),
            min_label_freq=1,
            progress=False,
        )  # fmt: skip
    )
    docs = {d.publication_number: d for split in report.documents.values() for d in split}
    assert docs["US1B2"].cpc_codes == ["G06N3/08", "H04L9/40", "A01B1/00"]  # united, the scrape's first
    assert docs["US2B2"].cpc_codes == ["B25J9/16", "G06N3/08"]  # a repeated code is one code
    assert docs["US3B2"].cpc_codes == ["H04L9/40", "A01B1/00"]  # alone: as the source lists them
    assert report.summary()["duplicate_publication_numbers_merged"] == 1 and len(docs) == 43


def test_unusable_imported_rows_are_counted_with_their_reason(tmp_path):
    write_raw_csv(tmp_path / "raw" / "a.csv", make_rows(30))
    _write_parquet(
        tmp_path / "raw" / "bulk.parquet",
        [
            _imported("US7B2", "Kept.", ["G06N3/08"]),
            _imported("", "No number.", ["G06N3/08"]),
            _imported("US8B2", "", ["G06N3/08"]),
            _imported("US9B2", None, None),  # no abstract and no codes: counted once, under the first
            _imported("US10B2", "No codes.", []),
            _imported("US11B2", "Null codes.", None),
        ],
    )
    report = build_dataset(BuildConfig(raw=str(tmp_path / "raw"), out=str(tmp_path / "ds"), min_label_freq=1, progress=False))  # fmt: skip
    summary = report.summary()
    assert summary["rows_dropped"] == {"no publication number": 1, "no abstract": 2, "no codes": 2}
    assert report.read.rows_per_file == {"a.csv": 30, "bulk.parquet": 1}
    assert summary["rows"] == 36 and summary["documents"] == 31
