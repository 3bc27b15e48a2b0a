from __future__ import annotations

import json
from pathlib import Path

from cpc_dataset.build import BuildConfig, build_dataset
from cpc_dataset.superseded import find_superseded, is_indexing_code
from tests.conftest import DATASET, REPO, write_raw_csv


def _rows(n: int) -> list[dict]:
    """An old symbol (G06N3/0454) always beside its replacement (G06N3/045) on 30 of n documents; G06N3/08 on 40
    of them, half the time with G06N3/045: a related but current code."""
    rows = []
    for i in range(n):
        codes = ["G06F40/30"]
        if i < 60:
            codes.append("G06N3/045")
        if i < 30:
            codes.append("G06N3/0454")
        if 40 <= i < 80:
            codes.append("G06N3/08")
        if i % 2 == 0:
            codes.append("G10L2015/223")  # an indexing code, always beside G10L15/22
            codes.append("G10L15/22")
        rows.append(
            {
                "publication_number": f"US{2000000 + i}B2",
                "title": f"Title {i}",
                "abstract": f"A distinct abstract number {i} about model {i * 3}.",
                "cpc_codes": repr(codes),
            }
        )
    return rows


def test_an_old_symbol_beside_its_replacement_is_found_and_a_current_one_is_not():
    codes = [eval_free(r["cpc_codes"]) for r in _rows(120)]
    found = find_superseded(codes, min_documents=10)
    assert set(found) == {"G06N3/0454"}
    s = found["G06N3/0454"]
    assert (s.replaced_by, s.documents, s.shared, s.known) == ("G06N3/045", 30, 30, True)
    assert "G06N3/045" in s.reason
    assert is_indexing_code("G10L2015/223") and not is_indexing_code("G10L15/22")


def eval_free(text: str) -> list[str]:
    import ast

    return list(ast.literal_eval(text))


def test_build_keeps_superseded_symbols_in_cpc_codes_but_not_in_labels(tmp_path):
    raw = tmp_path / "raw"
    write_raw_csv(raw / "patent_details_1.csv", _rows(400))
    out = tmp_path / "ds"
    report = build_dataset(BuildConfig(raw=str(raw), out=str(out), progress=False, min_label_freq=0.05))
    labels = json.loads((out / "labels.json").read_text())
    assert "G06N3/0454" in labels["superseded"] and "G06N3/0454" not in labels["labels"]
    assert "G06N3/045" in labels["labels"]
    assert any("G06N3/0454" in d.cpc_codes for d in report.documents["train"])
    card = (out / "README.md").read_text()
    assert "| `G06N3/0454` | `G06N3/045` |" in card


def test_no_superseded_symbol_is_a_label_of_the_committed_dataset_or_default_model():
    labels = json.loads((DATASET / "labels.json").read_text())
    superseded = set(labels["superseded"])
    assert {"G06N3/0454", "G06N3/0445", "G06N7/005", "G06K9/6256"} <= superseded
    assert not superseded & set(labels["labels"])
    config = json.loads((Path(REPO) / "hub/models/cpc-default/config.json").read_text())
    assert not superseded & set(config["label2id"])
