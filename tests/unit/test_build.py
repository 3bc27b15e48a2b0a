from __future__ import annotations

import json
from pathlib import Path

import pytest

from cpc_dataset.build import BuildConfig, build_dataset, split_of
from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_dataset.raw import parse_code_list
from cpc_dataset.text import abstract_key
from spaces.cli import main
from tests.conftest import make_rows, write_raw_csv


def build(raw_dir: Path, out: Path, **kw):
    return build_dataset(BuildConfig(raw=str(raw_dir), out=str(out), progress=False, **kw))


def test_build_dedupes_splits_and_writes_a_loadable_hub_folder(raw_dir, tmp_path):
    import datasets

    out = tmp_path / "ds"
    report = build(raw_dir, out, min_label_freq=0.05)
    s = report.summary()
    assert s["rows"] == 200 and s["duplicate_publication_numbers_merged"] == 20
    assert s["documents"] == 180 == sum(s["split_sizes"].values())
    ds = datasets.load_dataset(str(out))
    assert set(ds) == {"train", "validation", "test"}
    names = ds["train"].features["labels"].feature.names
    assert names == json.loads((out / "labels.json").read_text())["labels"]
    row = ds["train"][0]
    assert [names[i] for i in row["labels"]] == [c for c in row["cpc_codes"] if c in names]
    for f in ("README.md", "label_frequency.png", "codes_per_patent.png", "build_config.json"):
        assert (out / f).exists()
    card = (out / "README.md").read_text()
    assert "multi-label-classification" in card and "label_frequency.png" in card


def test_vocabulary_follows_min_label_freq(raw_dir, tmp_path):
    loose = build(raw_dir, tmp_path / "a", min_label_freq=1)
    strict = build(raw_dir, tmp_path / "b", min_label_freq=0.15)
    n_train = len(loose.documents["train"])
    assert set(strict.vocabulary) < set(loose.vocabulary)
    assert all(n >= 0.15 * n_train for n in strict.label_counts.values())
    # documents whose codes all fall outside the vocabulary stay, with empty labels
    unlabeled = [d for docs in strict.documents.values() for d in docs if not d.labels]
    assert unlabeled and all(d.cpc_codes for d in unlabeled)


def test_same_abstract_in_two_countries_becomes_one_document(tmp_path):
    rows = make_rows(30)
    twin = dict(
        rows[0],
        publication_number="EP9999999A1",
        abstract=rows[0]["abstract"].upper() + "  ",
        cpc_codes="['H04L9/40', 'G06N3/08']",
    )
    write_raw_csv(tmp_path / "raw" / "a.csv", rows + [twin])
    report = build(tmp_path / "raw", tmp_path / "ds", min_label_freq=1)
    docs = [d for split in report.documents.values() for d in split]
    merged = [d for d in docs if "EP9999999A1" in d.other_publication_numbers or d.publication_number == "EP9999999A1"]
    assert len(docs) == 30 and len(merged) == 1
    assert "H04L9/40" in merged[0].cpc_codes


def test_split_is_a_pure_function_of_the_abstract():
    keys = [abstract_key(f"abstract number {i}") for i in range(2000)]
    splits = [split_of(k) for k in keys]
    assert splits == [split_of(k) for k in keys]
    share = {s: splits.count(s) / len(splits) for s in ("train", "validation", "test")}
    assert 0.75 < share["train"] < 0.85 and 0.07 < share["test"] < 0.13


def test_growing_the_corpus_never_moves_a_document(raw_dir, tmp_path):
    small = build(raw_dir, tmp_path / "a")
    write_raw_csv(raw_dir / "patent_details_3.csv", make_rows(100, start=500))
    big = build(raw_dir, tmp_path / "b")
    before = {d.publication_number: s for s, docs in small.documents.items() for d in docs}
    after = {d.publication_number: s for s, docs in big.documents.items() for d in docs}
    assert all(after[n] == s for n, s in before.items())


def test_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["data", "build", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_wrong_columns_name_the_file(tmp_path, capsys):
    write_raw_csv(tmp_path / "raw" / "bad.csv", [{"id": 1, "text": "x"}], header=("id", "text"))
    assert main(["data", "build", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "bad.csv" in err and "missing column" in err


def test_non_utf8_file_names_file_and_line(tmp_path):
    path = write_raw_csv(tmp_path / "raw" / "latin.csv", make_rows(3))
    path.write_bytes(path.read_bytes() + "US1B2,T,caf\xe9 abstract,['G06N3/08']\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.csv.*not UTF-8.*line 5"):
        build(tmp_path / "raw", tmp_path / "o")


def test_malformed_list_and_bad_codes_are_skipped_and_counted(tmp_path, caplog):
    rows = make_rows(40)
    rows[3]["cpc_codes"] = "['G06N3/08', "  # malformed literal
    rows[4]["cpc_codes"] = "__import__('os').system('echo pwned')"  # never executed
    rows[5]["cpc_codes"] = "['NOT-A-CODE', 'G06N3/08']"
    rows[6]["cpc_codes"] = "['NOT-A-CODE']"
    rows[7]["abstract"] = "   "
    write_raw_csv(tmp_path / "raw" / "mixed.csv", rows)
    report = build(tmp_path / "raw", tmp_path / "ds", min_label_freq=1)
    s = report.summary()
    assert s["rows_dropped"] == {"malformed code list": 2, "no valid codes": 1, "no abstract": 1}
    assert s["codes_dropped"] == {"not a CPC code": 2}
    assert s["documents"] == 36
    assert "mixed.csv row 5" in caplog.text and "NOT-A-CODE" in caplog.text


def test_parse_code_list_never_executes_and_rejects_non_lists():
    assert parse_code_list("['G06N3/08', 'G06F40/30']") == ["G06N3/08", "G06F40/30"]
    assert parse_code_list("") == [] and parse_code_list("[]") == []
    for bad in ["{'a': 1}", "open('x')", "[1, 2"]:
        with pytest.raises(ValueError):
            parse_code_list(bad)


def test_bad_options_are_refused(raw_dir, tmp_path):
    with pytest.raises(MisconfiguredError):
        build(raw_dir, tmp_path / "o", min_label_freq=0)
    with pytest.raises(MisconfiguredError, match="no code reaches"):
        build(raw_dir, tmp_path / "o", min_label_freq=10_000)


def test_cli_build_prints_summary_json(raw_dir, tmp_path, capsys):
    assert main(["-q", "data", "build", "--raw", str(raw_dir), "--out", str(tmp_path / "ds"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["documents"] == 180


def test_merged_codes_keep_the_heads_order_then_the_others_across_files(tmp_path):
    rows = make_rows(30)
    first = dict(
        rows[0],
        publication_number="EP1A1",
        abstract="One invention, three countries.",
        cpc_codes="['A01B1/00', 'G06N3/08']",
    )
    third = dict(first, publication_number="JP1A", cpc_codes="['B25J9/16']")
    head = dict(first, publication_number="US1B1", cpc_codes="['H04L9/40', 'G06F40/30', 'G06N3/08']")
    write_raw_csv(tmp_path / "raw" / "a.csv", rows + [first])
    write_raw_csv(tmp_path / "raw" / "b.csv", [head, third])
    report = build(tmp_path / "raw", tmp_path / "ds", min_label_freq=1)
    (doc,) = [d for docs in report.documents.values() for d in docs if d.publication_number == "US1B1"]
    assert doc.cpc_codes == ["H04L9/40", "G06F40/30", "G06N3/08", "A01B1/00", "B25J9/16"]
    assert doc.other_publication_numbers == ["EP1A1", "JP1A"]  # in reading order
