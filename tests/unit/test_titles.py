"""Code titles saved by the scraper (``<raw>.csv.codes.json``) reach labels.json, the card and the Space's table."""

from __future__ import annotations

import json

import pytest

from cpc_dataset.build import BuildConfig, build_dataset
from cpc_dataset.errors import InputError
from cpc_dataset.titles import read_code_titles, read_label_titles
from spaces.formatting import code_table
from tests.conftest import make_rows, write_raw_csv


def test_build_puts_saved_titles_in_labels_json_and_the_card(tmp_path):
    raw = tmp_path / "raw"
    write_raw_csv(raw / "scraped.csv", make_rows(120))
    (raw / "scraped.csv.codes.json").write_text(
        json.dumps(
            {
                "G06N3/08": "Learning methods",
                "G06N 3/045": "Combinations | of networks",
                "G06N": "Computing arrangements",
                "H04L9/40": "  Network   security ",
            }
        )
    )
    (raw / "scraped.csv.failures.csv").write_text(
        "url,reason,attempts,time\nhttps://x/patent/US1/en,HTTP 404 not found,1,\n"
    )
    report = build_dataset(BuildConfig(raw=str(raw), out=str(tmp_path / "ds"), progress=False))
    assert report.read.files == 1  # the failures file is not a raw CSV
    labels = json.loads((tmp_path / "ds" / "labels.json").read_text())
    assert "G06N3/08" in labels["labels"] and "G06F40/30" in labels["labels"]
    assert labels["titles"] == {
        "G06N3/045": "Combinations | of networks",
        "G06N3/08": "Learning methods",
        "H04L9/40": "Network security",
    }
    card = (tmp_path / "ds" / "README.md").read_text()
    assert "| code | training documents | share | title |" in card
    assert "Combinations \\| of networks |" in card
    assert read_label_titles(tmp_path / "ds") == labels["titles"]


def test_without_saved_titles_nothing_changes(raw_dir, tmp_path):
    build_dataset(BuildConfig(raw=str(raw_dir), out=str(tmp_path / "ds"), progress=False))
    assert "titles" not in json.loads((tmp_path / "ds" / "labels.json").read_text())
    assert "| code | training documents | share |\n" in (tmp_path / "ds" / "README.md").read_text()
    assert read_label_titles(tmp_path / "ds") == {} and read_label_titles(tmp_path / "missing") == {}


def test_unreadable_titles_file_names_itself(tmp_path):
    (tmp_path / "a.csv.codes.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="a.csv.codes.json"):
        read_code_titles(tmp_path)


def test_space_code_table_adds_titles_when_known():
    class Code:
        def __init__(self, code, score):
            self.code, self.score = code, score

    codes = [Code("G06N3/08", 0.91), Code("H04L9/40", 0.42)]
    assert code_table(codes, {"G06N3/08": "Learning methods"}) == [
        ["G06N3/08", 0.91, "G", "G06", "G06N", "Learning methods"],
        ["H04L9/40", 0.42, "H", "H04", "H04L", ""],
    ]
    assert code_table(codes, {}) == code_table(codes)


def test_space_shows_the_dataset_titles(tmp_path):
    import numpy as np

    from cpc_models.predict.predictor import CpcPredictor
    from cpc_models.scoring.thresholds import Thresholds
    from spaces.app import build_demo
    from spaces.settings import ServingSettings

    LABELS = ["G06N3/08", "G06F40/30", "H04L9/40"]

    class FixedScorer:
        labels = LABELS
        backend = "native"

        def predict_proba(self, texts):
            return np.tile(np.asarray([0.9, 0.7, 0.1], dtype=np.float32), (len(texts), 1))

        def truncated(self, texts):
            return [False] * len(texts)

    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "labels.json").write_text(
        json.dumps({"labels": LABELS, "titles": {code: f"Title of {code}" for code in LABELS}})
    )
    settings = ServingSettings(model_dir=tmp_path / "model", dataset_dir=dataset, max_chars=2000, max_batch=4)
    demo = build_demo(CpcPredictor(FixedScorer(), Thresholds(0.5, mode="global")), settings, examples=[])
    table = next(block for block in demo.blocks.values() if getattr(block, "elem_id", None) == "code-table")
    assert table.headers[-1] == "title"
    fn = next(f for f in demo.fns.values() if f.api_name == "predict_details").fn
    _, rows, _ = fn("A neural network learns.", 3, 0.0)
    assert [row[0] for row in rows] == ["G06N3/08", "G06F40/30"]
    assert [row[-1] for row in rows] == ["Title of G06N3/08", "Title of G06F40/30"]
