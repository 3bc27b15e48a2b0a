"""``cpc learn``: labelled patents added to a model's neighbour banks, the base folder untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from cpc_dataset.errors import InputError
from cpc_models.learn.learn import learn_model, undo_learn
from cpc_models.learn.sources import Labelled, read_labelled
from tests.conftest import REPO, write_raw_csv

BASE = REPO / "hub" / "models" / "cpc-default"
NUMBER = "US9999999B1"
TEXT = (
    "Acoustic beehive monitor with a convolutional network. A microphone array inside a beehive records the "
    "colony's buzzing; a convolutional neural network trained on labelled recordings detects swarming, queen loss "
    "and varroa infestation and sends an alert to the beekeeper's phone."
)
NEAR = TEXT.replace("sends an alert", "transmits a warning").replace("microphone array", "set of microphones")
CODES = ["G05D1/0088", "G06F16/35", "A01K47/06"]  # two of the model's labels the base never gives this text, one not


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def one_patent(number: str = NUMBER, text: str = TEXT, codes: list[str] = CODES) -> Labelled:
    data = Labelled("test", "test")
    data.add(number, text, codes)
    return data


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    before = folder_digest(BASE)
    out = tmp_path_factory.mktemp("learn") / "m2"
    record = learn_model(BASE, one_patent(), out=out)
    return out, record, before


def test_a_near_duplicate_gets_the_learned_patent_first_and_its_codes(learned):
    from cpc_models import CpcPredictor

    out, _, _ = learned
    model = CpcPredictor.from_pretrained(out)
    base = CpcPredictor.from_pretrained(BASE).predict([NEAR])[0]
    after = model.predict([NEAR])[0]
    known = [c for c in CODES if c in model.labels]
    assert len(known) == 2
    assert not set(known) & {c.code for c in base.codes} and base.neighbours[0]["publication_number"] != NUMBER
    assert after.neighbours[0]["publication_number"] == NUMBER and after.neighbours[0]["codes"] == CODES
    assert set(known) <= {c.code for c in after.codes}


def test_the_base_folder_is_byte_identical_after_learning(learned):
    _, _, before = learned
    assert folder_digest(BASE) == before


def test_learned_json_and_the_card_record_what_was_learned(learned):
    out, record, _ = learned
    history = json.loads((out / "learned.json").read_text())
    assert history["base"] == "cpc-default" and history["learned"] == [record]
    assert record["count"] == 1 and record["digest"] == one_patent().digest()
    assert record["codes_outside_labels"]["top"] == {"A01K47/06": 1}
    bank = record["banks"][0]
    assert bank["path"] == "members/tfidf-knn" and bank["rows_after"] == bank["rows_before"] + 1
    card = (out / "README.md").read_text()
    assert "## Learned patents" in card and record["digest"][7:19] in card
    assert not (out / "members" / "tfidf-knn" / "predictions").exists()  # the base bank's scores are stale


def test_learning_the_same_patent_again_replaces_its_row(learned, tmp_path):
    from cpc_models import CpcPredictor

    out, record, _ = learned
    again = tmp_path / "m3"
    second = learn_model(out, one_patent(codes=["G06Q10/04"]), out=again)
    bank = second["banks"][0]
    assert bank["rows_replaced"] == 1 and bank["rows_after"] == record["banks"][0]["rows_after"]
    first = CpcPredictor.from_pretrained(again).predict([NEAR])[0].neighbours[0]
    assert first["publication_number"] == NUMBER and first["codes"] == ["G06Q10/04"]
    # the same text under another number is the same patent too
    third = learn_model(again, one_patent(number="EP1234567A1", codes=["G06Q10/04"]), out=tmp_path / "m4")
    assert third["banks"][0]["rows_replaced"] == 1


def test_in_place_keeps_the_previous_bank_and_undo_restores_it(learned, tmp_path):
    import shutil

    out, _, _ = learned
    model = tmp_path / "model"
    shutil.copytree(out, model)
    before = folder_digest(model)
    learn_model(model, one_patent(number="US1111111B1", text=TEXT.replace("beehive", "hive box")), in_place=True)
    assert folder_digest(model) != before
    undo_learn(model)
    assert folder_digest(model) == before
    with pytest.raises(InputError, match="nothing to undo"):
        undo_learn(model)


def test_a_second_in_place_learn_while_one_runs_is_refused_and_changes_nothing(learned, tmp_path, monkeypatch):
    """Two ``cpc learn --in-place`` (or ``--undo``) on one folder at once would interleave their writes: while one
    holds the folder (here: this test holds its lock), the other is refused in one line and the folder is unchanged."""
    import shutil

    from cpc_models.learn.learn import changing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out, _, _ = learned
    model = tmp_path / "model"
    shutil.copytree(out, model)
    before = folder_digest(model)
    (tmp_path / "link").symlink_to(model)
    with changing(tmp_path / "link"):  # the same folder by another path
        with pytest.raises(InputError, match="is being changed by another `cpc learn`"):
            learn_model(model, one_patent(number="US1111111B1"), in_place=True)
        with pytest.raises(InputError, match="is being changed by another `cpc learn`"):
            undo_learn(model)
        assert folder_digest(model) == before
    learn_model(model, one_patent(number="US1111111B1"), in_place=True)  # released: it goes ahead
    assert folder_digest(model) != before


def test_a_copy_waits_while_the_base_is_changed_in_place(learned, tmp_path, monkeypatch):
    """``--out`` copies the base folder: while an in-place learn holds it, the copy waits (a bank half written is
    never copied), then goes ahead."""
    import shutil
    import threading

    from cpc_models.learn.learn import changing

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = tmp_path / "model"
    shutil.copytree(learned[0], model)
    copy = threading.Thread(
        target=learn_model, args=(model, one_patent(number="US1111111B1")), kwargs={"out": tmp_path / "copy"}
    )
    with changing(model):
        copy.start()
        copy.join(2.0)
        assert copy.is_alive() and not (tmp_path / "copy").exists()
    copy.join()
    assert (tmp_path / "copy" / "learned.json").is_file()


def test_out_must_be_a_new_folder(tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(InputError, match="already exists"):
        learn_model(BASE, one_patent(), out=tmp_path / "exists")
    with pytest.raises(InputError, match="--in-place"):
        learn_model(BASE, one_patent())


def raw_rows():
    rows = [
        {
            "publication_number": "US1B1",
            "title": "Robot",
            "abstract": "A robot learns to grasp.",
            "cpc_codes": "['G06N3/08']",
        },
        {
            "publication_number": "US2B1",
            "title": "Parser",
            "abstract": "A parser reads text.",
            "cpc_codes": "['G06F40/205']",
        },
        {
            "publication_number": "US1B1",
            "title": "Robot",
            "abstract": "A robot learns to grasp.",
            "cpc_codes": "['G06N20/00']",
        },
        {
            "publication_number": "US3B1",
            "title": "parser",
            "abstract": "A  PARSER reads text!",
            "cpc_codes": "['G06F40/30']",
        },
        {"publication_number": "US4B1", "title": "Nothing", "abstract": "", "cpc_codes": "['G06N3/08']"},
    ]
    return rows


def test_raw_csv_duplicates_keep_the_last_row(tmp_path):
    data = read_labelled(write_raw_csv(tmp_path / "raw.csv", raw_rows()))
    assert data.publication_numbers == ["US1B1", "US3B1"]  # US1B1 again, and US2B1's normalised text again
    assert data.codes == [["G06N20/00"], ["G06F40/30"]]
    assert data.duplicates == 2 and data.skipped["no abstract"] == 1


def test_parquet_and_dataset_folder_sources(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "docs.parquet"
    pq.write_table(
        pa.Table.from_pylist(
            [{"title": "Robot", "abstract": "A robot learns.", "cpc_codes": ["G06N3/08", "not a code"]}]
        ),
        path,
    )
    data = read_labelled(path)
    assert data.texts == ["Robot. A robot learns."] and data.codes == [["G06N3/08"]]
    test = read_labelled(REPO / "hub" / "datasets" / "patent-cpc-ai", splits=["test"])
    assert data.source_kind == "parquet" and test.source_kind == "dataset folder" and len(test) > 1000


@pytest.mark.parametrize(
    "name, content, words",
    [
        ("missing.csv", None, "does not exist"),
        ("notes.txt", "hello", "give a .csv"),
        ("bad.parquet", "not parquet", "not a readable parquet"),
        ("empty.csv", "publication_number,title,abstract,cpc_codes\n", "no labelled patent"),
    ],
)
def test_bad_sources_give_one_line(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=words):
        read_labelled(path)


def test_cli_learns_and_says_what_it_did(tmp_path, capsys):
    from spaces.cli import main

    source = write_raw_csv(tmp_path / "raw.csv", raw_rows())
    out = tmp_path / "m2"
    assert main(["learn", "--model", str(BASE), "--data", str(source), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "learned 2 patents" in said and "2 duplicates" in said and "members/tfidf-knn" in said
    assert (
        main(["learn", "--model", str(BASE), "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x")]) == 1
    )
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_new_labels_let_the_knn_vote_predict_a_code_outside_the_labels(learned, tmp_path):
    from cpc_models import CpcPredictor
    from cpc_models.scoring.thresholds import Thresholds

    out, _, _ = learned
    assert "A01K47/06" not in {c.code for c in CpcPredictor.from_pretrained(out).predict([NEAR], top_k=50)[0].codes}
    opened = tmp_path / "open"
    record = learn_model(BASE, one_patent(), out=opened, new_labels=True, new_label_threshold=0.6)
    assert record["new_labels"] == {"added": 1, "predicted_by_the_model": True, "threshold": 0.6}
    model = CpcPredictor.from_pretrained(opened)
    assert model.labels[-1] == "A01K47/06" and Thresholds.load(opened).per_label["A01K47/06"] == 0.6
    assert "A01K47/06" in {c.code for c in model.predict([NEAR])[0].codes}
    assert "A01K47/06" not in {c.code for c in model.predict(["A method for parsing legal claims."])[0].codes}


def test_a_member_folder_learns_on_its_own(tmp_path):
    """A member copied out of its ensemble still finds its vectorizer (format 2 shares one at the ensemble's top)."""
    from cpc_models.registry import load_scorer

    out = tmp_path / "knn"
    record = learn_model(BASE / "members" / "tfidf-knn", one_patent(), out=out)
    assert [b["path"] for b in record["banks"]] == ["."]
    assert load_scorer(out).neighbours([NEAR], 1)[0][0]["publication_number"] == NUMBER
