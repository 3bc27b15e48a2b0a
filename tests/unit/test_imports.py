"""Bulk imports (PatentsView, BigQuery, any table) on tiny files in the real formats, and their build."""

from __future__ import annotations

import datetime as dt
import json

import pytest

pytest.importorskip("duckdb")

import pyarrow.parquet as pq  # noqa: E402

from cpc_dataset.build import BuildConfig, build_dataset, split_of  # noqa: E402
from cpc_dataset.errors import InputError, MisconfiguredError  # noqa: E402
from cpc_dataset.imports import writer as writer_module  # noqa: E402
from cpc_dataset.imports.bigquery import import_bigquery  # noqa: E402
from cpc_dataset.imports.patentsview import import_patentsview  # noqa: E402
from cpc_dataset.imports.table import import_table, split_codes  # noqa: E402
from cpc_dataset.imports.writer import ImportFilters  # noqa: E402
from cpc_dataset.text import abstract_key  # noqa: E402
from spaces.cli import main  # noqa: E402
from tests.conftest import make_rows, write_raw_csv  # noqa: E402
from tests.fixtures.bulk import (  # noqa: E402
    FORTY_CODES,
    G_PATENT,
    bigquery_rows,
    write_bigquery_jsonl,
    write_bigquery_parquet,
    write_patentsview,
    write_pregrants,
    write_zipped_tsv,
)


def rows_of(path) -> dict[str, dict]:
    return {r["publication_number"]: r for r in pq.read_table(path).to_pylist()}


def test_patentsview_zipped_tables_are_joined_with_reasons_for_what_is_left_out(tmp_path):
    source = write_patentsview(tmp_path / "pv")
    (report,) = import_patentsview([source], tmp_path / "raw")
    rows = rows_of(tmp_path / "raw" / "patentsview-grants.parquet")
    assert sorted(rows) == ["US10000000B2", "US10000003B1", "US10000005B2", "US10000006B2"]
    assert report.skipped == {"no codes": 1, "withdrawn": 1, "no abstract": 1}  # design patent, withdrawn, no abstract
    tricky = rows["US10000000B2"]
    assert tricky["abstract"] == 'A neural network with "attention" layers learns to rank.'  # tab, newlines, quotes
    assert tricky["cpc_codes"] == ["G06N3/08", "G06F17/00"]  # in cpc_sequence order
    assert tricky["publication_date"] == dt.date(2018, 6, 19) and tricky["country_code"] == "US"
    assert rows["US10000003B1"]["cpc_codes"] == FORTY_CODES
    titles = json.loads((tmp_path / "raw" / "patentsview-grants.codes.json").read_text())
    assert titles["G06N3/08"] == "Learning methods" and titles["G06N"].startswith("Computing arrangements")
    assert "A01B1/00" not in titles  # titles of codes no imported patent carries are left out
    assert not list(source.glob("*.tsv"))  # read from the archives, nothing unzipped beside them


def test_pregrant_tables_mirror_the_grants(tmp_path):
    source = write_pregrants(tmp_path / "pv")
    (report,) = import_patentsview([source], tmp_path / "raw")
    rows = rows_of(tmp_path / "raw" / "patentsview-pregrants.parquet")
    assert list(rows) == ["US20100273145A1"] and rows["US20100273145A1"]["cpc_codes"] == ["G06N3/08"]
    assert rows["US20100273145A1"]["title"] == "Pre-grant learner" and report.written == 1


def test_filters_keep_whole_patents_and_count_the_rest(tmp_path):
    source = write_patentsview(tmp_path / "pv")
    (report,) = import_patentsview([source], tmp_path / "a", ImportFilters(cpc_prefixes=("h04l",)))
    rows = rows_of(tmp_path / "a" / "patentsview-grants.parquet")
    assert list(rows) == ["US10000005B2"] and rows["US10000005B2"]["cpc_codes"] == ["H04L9/40", "G06N3/08"]
    assert report.filtered["outside --cpc-prefix"] == 4  # the one without abstract too: filters come first
    (report,) = import_patentsview(
        [source], tmp_path / "b", ImportFilters(since=dt.date(2019, 1, 1), until=dt.date(2021, 12, 31))
    )
    assert sorted(rows_of(tmp_path / "b" / "patentsview-grants.parquet")) == ["US10000003B1", "US10000005B2"]
    assert report.filtered == {"before --since": 1, "after --until": 1}
    (report,) = import_patentsview([source], tmp_path / "c", ImportFilters(limit=2))
    assert len(rows_of(tmp_path / "c" / "patentsview-grants.parquet")) == 2 and report.written == 2


def test_a_killed_import_rerun_ends_with_the_same_raw_files(tmp_path, monkeypatch):
    source = write_patentsview(tmp_path / "pv")
    out = tmp_path / "raw"
    import_patentsview([source], out)
    first = pq.read_table(out / "patentsview-grants.parquet")
    (out / ".patentsview-grants.parquet.partial").write_bytes(b"left by a killed run")
    real_commit = writer_module.RawWriter._commit

    def dying_commit(self, *args, **kwargs):
        real_commit(self, *args, **kwargs)
        assert self.report.written and self.partial.exists()  # rows in the partial file
        raise KeyboardInterrupt  # killed in the middle

    monkeypatch.setattr(writer_module.RawWriter, "_commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        import_patentsview([source], out)
    assert pq.read_table(out / "patentsview-grants.parquet").equals(first)  # the earlier file untouched
    monkeypatch.setattr(writer_module.RawWriter, "_commit", real_commit)
    import_patentsview([source], out)
    again = pq.read_table(out / "patentsview-grants.parquet")
    assert again.equals(first) and again.num_rows == 4  # no duplicate rows
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".parquet") == ["patentsview-grants.parquet"]
    assert not list(out.glob(".*partial"))


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "parquet"])
def test_bigquery_export_nested_records(tmp_path, kind):
    path = tmp_path / "bq" / f"part-000.{kind}"
    if kind == "parquet":
        write_bigquery_parquet(path)
    else:
        write_bigquery_jsonl(path, gz=kind.endswith("gz"))
    report = import_bigquery([str(tmp_path / "bq" / "part-*")], tmp_path / "raw")
    rows = rows_of(tmp_path / "raw" / "bigquery.parquet")
    assert report.skipped == {"abstract not in 'en'": 1} and "CN108000000A" not in rows
    ep = rows["EP3000000A1"]  # German and English entries: the English ones
    assert ep["abstract"] == "Documents are ranked by an attentive network." and ep["title"] == "Ranking docs"
    assert ep["family_id"] == "54321" and ep["country_code"] == "EP"
    assert ep["publication_date"] == dt.date(2017, 3, 1) and ep["priority_date"] is None  # 0: unknown
    assert rows["US10000000B2"]["cpc_codes"] == ["G06N3/08", "G06F40/30"]
    assert len(rows) == len(bigquery_rows()) - 1


def test_bigquery_language_option_keeps_other_languages(tmp_path):
    write_bigquery_jsonl(tmp_path / "bq.jsonl")
    report = import_bigquery([str(tmp_path / "bq.jsonl")], tmp_path / "raw", language="de")
    rows = rows_of(tmp_path / "raw" / "bigquery.parquet")
    assert rows["EP3000000A1"]["abstract"] == "Dokumente werden bewertet." and report.written == 1


def test_any_table_with_mapped_columns_and_delimited_codes(tmp_path):
    table = tmp_path / "mine.csv"
    table.write_text(
        "pn,text,classes,heading\n"
        'us-9-b1,"First abstract, with a comma.","G06N 3/08; G06F0017000000",One\n'
        "US-10-B1,Second abstract.,\"['H04L9/40']\",Two\n"
        "US-11-B1,,G06N3/08,Three\n",
        encoding="utf-8",
    )
    columns = ["publication_number=pn", "abstract=text", "codes=classes", "title=heading"]
    report = import_table([str(table)], tmp_path / "raw", columns)
    rows = rows_of(tmp_path / "raw" / "table.parquet")
    assert rows["US9B1"]["cpc_codes"] == ["G06N3/08", "G06F17/00"] and rows["US9B1"]["title"] == "One"
    assert rows["US10B1"]["cpc_codes"] == ["H04L9/40"]
    assert report.skipped == {"no abstract": 1}
    assert split_codes("A01B1/00|A01B3/00", "|") == ["A01B1/00", "A01B3/00"]


def test_table_mapping_errors_are_one_line(tmp_path, capsys):
    table = tmp_path / "mine.csv"
    table.write_text("pn,text\nUS1B1,x\n", encoding="utf-8")
    with pytest.raises(MisconfiguredError, match="required field"):
        import_table([str(table)], tmp_path / "raw", ["publication_number=pn", "abstract=text"])
    with pytest.raises(InputError, match="no column classes"):
        import_table([str(table)], tmp_path / "raw", ["publication_number=pn", "abstract=text", "codes=classes"])
    code = main(["data", "import", "table", str(table), "--out", str(tmp_path / "r"), "--column", "nonsense"])
    err = capsys.readouterr().err
    assert code != 0 and "FIELD=COLUMN" in err and "Traceback" not in err


def test_import_cli_errors_name_the_problem(tmp_path, capsys):
    (tmp_path / "pv").mkdir()
    (tmp_path / "pv" / "g_patent.tsv.zip").write_bytes(b"not a zip")
    assert main(["data", "import", "patentsview", str(tmp_path / "pv"), "--out", str(tmp_path / "r")]) != 0
    assert "needs its CPC table g_cpc_current" in capsys.readouterr().err
    assert main(["data", "import", "bigquery", str(tmp_path / "none-*.jsonl"), "--out", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err
    assert "no such file" in err and "Traceback" not in err


def test_patentsview_and_bigquery_and_a_scrape_build_into_one_dataset(tmp_path):
    raw = tmp_path / "raw"
    import_patentsview([write_patentsview(tmp_path / "pv")], raw)
    write_bigquery_jsonl(tmp_path / "bq" / "export.jsonl.gz", gz=True)
    import_bigquery([str(tmp_path / "bq" / "export.jsonl.gz")], raw)
    scrape = tmp_path / "scrape"
    rows = make_rows(30)
    rows[0]["publication_number"] = "US10000005B2"  # scraped too: merged with the import, codes united
    rows[0]["cpc_codes"] = "['A01B1/00']"
    write_raw_csv(scrape / "patent_details_1.csv", rows)
    out = tmp_path / "ds"
    report = build_dataset(BuildConfig(raw=[str(scrape), str(raw)], out=str(out), progress=False, min_label_freq=1))
    docs = {d.publication_number: d for split in report.documents.values() for d in split}
    expected = {"US10000000B2", "US10000003B1", "US10000006B2", "EP3000000A1", "WO2018000000A1"}
    assert expected <= set(docs) and len(docs) == 30 + 4 + 83 - 2  # scrape, grants, BigQuery, two numbers twice
    assert docs["US10000005B2"].cpc_codes == ["A01B1/00", "H04L9/40", "G06N3/08"]
    assert docs["US10000000B2"].cpc_codes == ["G06N3/08", "G06F40/30", "G06F17/00"]  # BigQuery's and PatentsView's
    assert docs["US10000003B1"].cpc_codes == FORTY_CODES
    labels = json.loads((out / "labels.json").read_text())
    assert labels["titles"]["G06N3/08"] == "Learning methods" and labels["titles"]["H04L9/40"]
    # family members: one split each, although their abstracts alone would split some of them apart
    families: dict[str, set[str]] = {}
    abstract_splits: dict[str, set[str]] = {}
    for r in bigquery_rows():
        number = r["publication_number"].replace("-", "")
        if number in docs:
            families.setdefault(r["family_id"], set()).add(docs[number].split)
            abstract_splits.setdefault(r["family_id"], set()).add(split_of(abstract_key(docs[number].abstract)))
    assert any(len(s) > 1 for s in abstract_splits.values())
    assert all(len(s) == 1 for s in families.values())
    assert report.summary()["documents_split_by_family"] == 83


def test_a_family_linked_through_a_shared_abstract_stays_in_one_split(tmp_path):
    """Family A and family B share an abstract (one merged document): all their members share a split."""
    rows = []
    for i in range(30):
        rows.append(
            {
                "publication_number": f"US-{i}-B1",
                "abstract_localized": [{"text": f"Text {i} of family A{i}.", "language": "en"}],
                "cpc": [{"code": "G06N3/08"}],
                "family_id": f"A{i}",
            }
        )
        rows.append(
            {
                "publication_number": f"EP-{i}-A1",
                "abstract_localized": [{"text": f"TEXT {i} of family A{i}!", "language": "en"}],  # same key
                "cpc": [{"code": "G06N3/08"}],
                "family_id": f"B{i}",
            }
        )
        rows.append(
            {
                "publication_number": f"JP-{i}-A",
                "abstract_localized": [{"text": f"Another text {i} in family B{i}.", "language": "en"}],
                "cpc": [{"code": "G06N3/08"}],
                "family_id": f"B{i}",
            }
        )
    write_bigquery_jsonl(tmp_path / "bq.jsonl", rows)
    import_bigquery([str(tmp_path / "bq.jsonl")], tmp_path / "raw")
    report = build_dataset(BuildConfig(raw=str(tmp_path / "raw"), out=str(tmp_path / "ds"), progress=False))
    split = {d.publication_number: d.split for docs in report.documents.values() for d in docs}
    assert len(split) == 60  # US and EP of each pair merged by abstract
    assert "EP0A1" not in split  # merged into US0B1 (the first read of equals)
    assert all(split[f"JP{i}A"] == split[f"US{i}B1"] == split_of(f"A{i}") for i in range(30))  # smallest family id
    assert any(split_of(f"B{i}") != split_of(f"A{i}") for i in range(30))  # B alone would have split some apart


def test_a_broken_tsv_is_one_line_naming_the_file(tmp_path, capsys):
    import zipfile

    source = write_patentsview(tmp_path / "pv")
    rows = [(str(i), "utility", "2020-01-01", f"Title {i}", "B2", 1, 0, "x") for i in range(20_000)]
    path = write_zipped_tsv(source, "g_patent", G_PATENT, rows)  # many good rows, then
    with zipfile.ZipFile(path) as archive:
        text = archive.read("g_patent.tsv")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("g_patent.tsv", text + b'"100"\t"utility\t"2020\n')  # a quote never closed
    code = main(["data", "import", "patentsview", str(source), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code != 0 and "g_patent.tsv.zip" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "patentsview-grants.parquet").exists()
