"""The feedback dataset folder: written by the Space's correction control, read by ``load_dataset`` and ``cpc learn``."""

from __future__ import annotations

import pytest

from cpc_dataset.errors import InputError
from cpc_dataset.feedback import FeedbackRow, parse_codes, read_feedback, write_feedback
from tests.unit.test_serving import TEXT, predictor, settings  # noqa: F401 - fixtures


def test_codes_are_parsed_and_a_wrong_one_is_named():
    assert parse_codes("G06N3/08, g06n 20/00;G06N3/08  H04L9/40") == ["G06N3/08", "G06N20/00", "H04L9/40"]
    with pytest.raises(InputError, match="'nonsense' is not a CPC code"):
        parse_codes("G06N3/08, nonsense")


def test_rows_are_read_back_by_load_dataset_and_by_cpc_learn(tmp_path):
    import datasets

    from cpc_models.learn.sources import read_labelled

    folder = tmp_path / "feedback"
    write_feedback(folder, FeedbackRow("A robot learns to grasp.", ["G06N3/08"], ["B25J9/16"], "cpc-default"))
    write_feedback(folder, FeedbackRow("A robot learns to grasp!", ["G06N3/08"], ["B25J9/163"], "cpc-default"))
    write_feedback(folder, FeedbackRow("A parser reads claims.", [], ["G06F40/205"], "m", "US123B2"))
    rows = datasets.load_dataset(str(folder), split="train").to_list()
    assert sorted(r["text"] for r in rows) == [
        "A parser reads claims.",
        "A robot learns to grasp!",
        "A robot learns to grasp.",
    ]
    assert {r["publication_number"] for r in rows} == {"", "US123B2"}
    learned = read_labelled(folder)
    assert learned.source_kind == "feedback folder" and learned.duplicates == 1  # the later correction of the text wins
    assert sorted(learned.codes) == [["B25J9/163"], ["G06F40/205"]]


def test_space_handler_saves_a_correction_only_when_a_folder_is_set(predictor, settings, tmp_path):  # noqa: F811
    from spaces.app import SpaceHandlers

    handlers = SpaceHandlers(predictor, settings, work_dir=tmp_path / "work")
    with pytest.raises(InputError, match="not saved"):
        handlers.correct(TEXT, 3, 0, "G06N3/08")
    assert not (tmp_path / "feedback").exists()
    settings.feedback_dir = tmp_path / "feedback"
    with pytest.raises(InputError, match="not a CPC code"):
        handlers.correct(TEXT, 3, 0, "G06N3/08 nonsense")
    with pytest.raises(InputError, match="empty"):
        handlers.correct("  ", 3, 0, "G06N3/08")
    note = handlers.correct(TEXT, 3, 0, "G06N3/08, G06N20/00", "us 1234567 b2")
    (row,) = read_feedback(settings.feedback_dir)
    predicted = [c.code for c in predictor.predict([TEXT], top_k=3)[0].codes]
    assert "saved" in note and row.text == TEXT and row.corrected_codes == ["G06N3/08", "G06N20/00"]
    assert row.predicted_codes == predicted and row.model == "model"
    assert (settings.feedback_dir / "README.md").read_text().count("corrected_codes") == 1


def test_cpc_push_dataset_would_send_the_card_and_every_correction(tmp_path):
    from cpc_dataset.hub import DATASET_ALLOW, chosen_files

    folder = tmp_path / "feedback"
    paths = [write_feedback(folder, FeedbackRow(f"Text {i}.", [], ["G06N3/08"])) for i in range(2)]
    assert set(chosen_files(folder, DATASET_ALLOW)) == {"README.md", *(f"data/{p.name}" for p in paths)}


def test_an_unreadable_correction_file_is_one_line_not_a_traceback(tmp_path):
    write_feedback(tmp_path, FeedbackRow("A neural network.", [], ["G06N3/08"]))
    (tmp_path / "data" / "train-0-broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="train-0-broken.parquet: not a readable parquet file"):
        read_feedback(tmp_path)
