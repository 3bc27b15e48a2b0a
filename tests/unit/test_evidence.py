"""Evidence behind each code on the committed default model: neighbours, terms, calibration, levels, scope."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cpc_models.data import load_split
from cpc_models.predict.levels import GROUP_LEVELS, LevelRule
from cpc_models.predict.predictor import CodeScore, CpcPredictor, Prediction
from cpc_models.scoring.calibration import Calibration, expected_calibration_error, fit_calibration
from cpc_models.scoring.thresholds import Thresholds, tune_thresholds
from spaces.cli import main
from spaces.evidence_view import evidence_html, highlight
from tests.conftest import DATASET, REPO

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

MODEL = REPO / "hub" / "models" / "cpc-default"
AI = (
    "Deep neural network training. A convolutional neural network is trained on labelled images using "
    "backpropagation to classify objects in camera frames."
)
PHARMA = (
    "Pharmaceutical composition. A pharmaceutical composition comprising a compound of formula (I) or a "
    "pharmaceutically acceptable salt thereof and an excipient, for the oral treatment of hypertension in tablets."
)


@pytest.fixture(scope="module")
def predictor():
    return CpcPredictor.from_pretrained(MODEL)


@pytest.fixture(scope="module")
def train():
    return load_split(DATASET, "train")


def test_neighbours_are_real_training_patents_and_a_training_abstract_is_its_own_nearest(predictor, train):
    rows = [5, 1234, 9876]
    predictions = predictor.predict([train.texts[i] for i in rows], neighbours=3)
    numbers = set(train.publication_numbers)
    by_number = dict(zip(train.publication_numbers, train.codes))
    for i, p in zip(rows, predictions):
        assert len(p.neighbours) == 3
        assert p.neighbours[0]["publication_number"] == train.publication_numbers[i]
        assert p.neighbours[0]["similarity"] == pytest.approx(1.0, abs=1e-3)
        for n in p.neighbours:
            assert n["publication_number"] in numbers and n["codes"] == by_number[n["publication_number"]]
            assert n["url"] == f"https://patents.google.com/patent/{n['publication_number']}"
        sims = [n["similarity"] for n in p.neighbours]
        assert sims == sorted(sims, reverse=True)


def test_a_large_batch_is_predicted_in_chunks_like_text_by_text(predictor):
    from cpc_models.predict.predictor import CHUNK

    texts = load_split(DATASET, "validation").texts[: CHUNK + 40]
    together = [p.to_dict() for p in predictor.predict(texts)]
    pieces = [p.to_dict() for t in (texts[:7], texts[7 : CHUNK + 1], texts[CHUNK + 1 :]) for p in predictor.predict(t)]
    assert together == pieces
    assert [p.to_dict() for p in predictor.predict(texts[-3:])] == together[-3:]


def test_explanation_terms_are_in_the_input_and_removing_them_lowers_the_score(predictor):
    p = predictor.predict(AI, explain=True)[0]
    assert set(p.explanations) == {c.code for c in p.codes}
    checked = 0
    for c in p.codes[:3]:
        terms = [t["term"] for t in p.explanations[c.code]["terms"]]
        assert terms and all(w["weight"] > 0 for w in p.explanations[c.code]["terms"])
        for term in terms:
            assert re.search(r"(?<!\w)" + r"\W+".join(map(re.escape, term.split())) + r"(?!\w)", AI, re.IGNORECASE), (
                term
            )
        stripped = AI
        for term in terms:
            stripped = re.sub(
                r"(?<!\w)" + r"\W+".join(map(re.escape, term.split())) + r"(?!\w)", " ", stripped, flags=re.IGNORECASE
            )
        j = predictor.labels.index(c.code)
        assert predictor.scores([stripped])[0, j] < predictor.scores([AI])[0, j]
        assert all(n["publication_number"] for n in p.explanations[c.code]["neighbours"])
        checked += 1
    assert checked


def test_calibration_lowers_validation_ece_and_keeps_f1():
    val = load_split(DATASET, "validation")
    model = CpcPredictor.from_pretrained(MODEL)
    assert model.labels == val.vocabulary
    raw = np.asarray(model.scorer.predict_proba(val.texts), dtype=np.float32)  # uncalibrated
    keep = val.y.sum(axis=1) > 0
    y, raw = val.y[keep], raw[keep]
    calibration = fit_calibration(y, raw, val.vocabulary)
    cal = calibration.apply(raw, val.vocabulary)
    assert expected_calibration_error(y, cal) < expected_calibration_error(y, raw)

    def f1(scores):
        decided = tune_thresholds(y, scores, val.vocabulary).apply(scores, val.vocabulary)
        return 2 * np.logical_and(decided, y > 0).sum() / (decided.sum() + y.sum())

    assert f1(cal) >= f1(raw) - 1e-9
    # the saved calibration is the one the predictor applies
    saved = Calibration.load(MODEL)
    assert saved is not None and np.allclose(
        saved.apply(raw[:5], val.vocabulary),
        model.calibration.apply(raw[:5], val.vocabulary),
    )


def test_calibration_json_round_trips_without_pickle(tmp_path):
    c = Calibration(1.5, -0.5, {"G06N3/08": (2.0, 0.1)})
    c.save(tmp_path)
    loaded = Calibration.load(tmp_path)
    s = np.array([[0.2, 0.7]], dtype=np.float32)
    assert np.allclose(loaded.apply(s, ["G06N3/08", "H04L9/40"]), c.apply(s, ["G06N3/08", "H04L9/40"]))


class _Fixed:
    labels = ["G06N3/08", "G06N3/045", "H04L9/40"]
    backend = "native"

    def __init__(self, scores):
        self.s = np.asarray(scores, dtype=np.float32)

    def predict_proba(self, texts):
        return np.repeat(self.s[None, :], len(texts), axis=0)

    def truncated(self, texts):
        return [False] * len(texts)


def test_back_off_gives_the_main_group_when_no_subgroup_clears(tmp_path):
    rule = LevelRule({"main_group": 0.4, "subclass": 0.6, "section": 0.5}, {})
    rule.save(tmp_path)
    predictor = CpcPredictor(_Fixed([0.3, 0.3, 0.01]), Thresholds(0.5, mode="global"), tmp_path)
    p = predictor.predict("any text")[0]
    assert p.levels["subgroup"] == []
    assert [c.code for c in p.levels["main_group"]] == ["G06N3/00"]  # 1 - 0.7 * 0.7 = 0.51 >= 0.4
    assert p.levels["main_group"][0].score == pytest.approx(0.51, abs=1e-3)
    assert p.levels["subclass"] == []  # 0.51 < 0.6
    assert "No subgroup" in p.backoff and "main group G06N3/00" in p.backoff
    confident = CpcPredictor(_Fixed([0.9, 0.3, 0.01]), Thresholds(0.5, mode="global"), tmp_path).predict("any text")[0]
    assert [c.code for c in confident.levels["subgroup"]] == ["G06N3/08"] and confident.backoff == ""


def test_a_predictor_given_new_thresholds_decides_by_them(tmp_path):
    """The per-label threshold vector is made once per predictor, and again when its thresholds are replaced."""
    predictor = CpcPredictor(_Fixed([0.9, 0.6, 0.01]), Thresholds(0.5, mode="global", min_codes=0), tmp_path)
    assert [c.code for c in predictor.predict("any text")[0].codes] == ["G06N3/08", "G06N3/045"]
    predictor.thresholds = Thresholds(0.7, mode="global", min_codes=0)
    assert [c.code for c in predictor.predict("any text")[0].codes] == ["G06N3/08"]


def test_default_model_levels_each_have_a_tuned_threshold(predictor):
    rule = LevelRule.load(MODEL)
    assert set(rule.thresholds) == {"main_group", "subclass", "section"}
    p = predictor.predict(AI)[0]
    assert set(p.levels) == {"subgroup", "main_group", "subclass", "section"}
    for code in p.levels["subgroup"]:
        assert code.code.split("/")[0] + "/00" in {c.code for c in p.levels["main_group"]} or code.score < 0.5


def test_pharmaceutical_abstract_is_out_of_scope_and_an_ai_abstract_is_not(predictor):
    pharma, ai = predictor.predict([PHARMA, AI])
    assert pharma.out_of_scope and "unreliable" in pharma.scope_note
    assert not ai.out_of_scope and ai.scope_note == ""


def test_batch_outputs_carry_the_out_of_scope_flag(tmp_path):
    import pandas as pd
    import pyarrow.parquet as pq

    rows = pd.DataFrame({"publication_number": ["P1", "A1"], "title": ["", ""], "abstract": [PHARMA, AI]})
    rows.to_csv(tmp_path / "in.csv", index=False)
    assert (
        main(
            [
                "-q",
                "predict",
                "--model",
                str(MODEL),
                "--input",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / "out.csv"),
            ]
        )
        == 0
    )
    assert list(pd.read_csv(tmp_path / "out.csv")["out_of_scope"]) == [True, False]
    rows.to_parquet(tmp_path / "in.parquet")
    assert (
        main(
            [
                "-q",
                "predict",
                "--model",
                str(MODEL),
                "--input",
                str(tmp_path / "in.parquet"),
                "--output",
                str(tmp_path / "corpus"),
            ]
        )
        == 0
    )
    [shard] = (tmp_path / "corpus").glob("*.parquet")
    assert pq.read_table(shard).column("out_of_scope").to_pylist() == [True, False]


def test_cli_predict_json_explain_has_every_part(capsys):
    assert main(["predict", "--model", str(MODEL), "--json", "--explain", AI]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calibrated"] is True and out["codes"] and out["neighbours"] and out["out_of_scope"] is False
    assert set(out["levels"]) == {"subgroup", "main_group", "subclass", "section"}
    assert set(out["explanations"]) == {c["code"] for c in out["codes"]}
    assert isinstance(out["titles"], dict)


def test_titles_are_shown_where_known_and_absent_otherwise(tmp_path, predictor):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(MODEL, model, ignore=shutil.ignore_patterns("predictions"))
    code = predictor.predict(AI)[0].codes[0].code
    (model / "labels.json").write_text(json.dumps({"titles": {code: "Neural <script>alert(1)</script> networks"}}))
    titled = CpcPredictor.from_pretrained(model).predict(AI)[0]
    assert titled.titles[code].startswith("Neural") and predictor.predict(AI)[0].titles.get(code) is None


def test_evidence_html_escapes_input_and_titles():
    p = Prediction(
        [CodeScore("G06N3/08", 0.9)],
        calibrated=True,
        titles={"G06N3/08": "<script>alert(1)</script>"},
        levels={
            "subgroup": [CodeScore("G06N3/08", 0.9)],
            "main_group": [CodeScore("G06N3/00", 0.95)],
            "subclass": [],
            "section": [],
        },
        neighbours=[
            {
                "publication_number": "US1<b>",
                "title": "<img src=x onerror=alert(1)>",
                "codes": ["G06N3/08"],
                "similarity": 0.5,
                "url": 'https://patents.google.com/patent/US1"><script>',
            }
        ],
        explanations={"G06N3/08": {"terms": [{"term": "neural network", "weight": 0.4}], "neighbours": []}},
    )
    text = "<script>alert(2)</script> A Neural-Network learns."
    page = evidence_html(text, p)
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<mark" in highlight(text, {"neural network": ["G06N3/08"]}) and ">Neural-Network</mark>" in page
    assert 'data-level="main_group"' in page and 'data-level="subgroup"' in page


def test_cpc_evaluate_reports_ece_below_the_uncalibrated_one_and_draws_the_diagram(tmp_path, capsys):
    assert (
        main(["evaluate", "--model", str(MODEL), "--data", str(DATASET), "--json", "--report", str(tmp_path / "r")])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["calibrated"] is True and out["ece"] < out["ece_uncalibrated"]
    assert out["superseded_labels"] == []
    assert (tmp_path / "r" / "reliability.png").stat().st_size > 0
    assert "reliability.png" in (tmp_path / "r" / "report.md").read_text()


def test_a_model_without_a_neighbour_index_gets_one_shipped_in_its_folder(raw_dir, tmp_path):
    from cpc_dataset.build import BuildConfig, build_dataset
    from cpc_models.files import BANK_DIR, BANK_DOCS_FILE
    from cpc_models.kinds.neighbour_index import build_neighbour_index
    from cpc_models.predict.evidence import INDEX_DIR, Evidence

    dataset = tmp_path / "ds"
    build_dataset(BuildConfig(raw=str(raw_dir), out=str(dataset), progress=False, min_label_freq=0.05))
    train = load_split(dataset, "train")
    model = tmp_path / "model"
    model.mkdir()
    assert not Evidence(_Fixed([0.5, 0.5, 0.5]), model).available
    build_neighbour_index(model, dataset)
    assert (model / INDEX_DIR / BANK_DIR / BANK_DOCS_FILE).exists()
    evidence = Evidence(_Fixed([0.5, 0.5, 0.5]), model)
    [rows] = evidence.neighbours([train.texts[3]], k=2)
    assert rows[0]["publication_number"] == train.publication_numbers[3] and rows[0]["codes"] == train.codes[3]


def test_level_decisions_compare_scores_to_thresholds_as_level_metrics_does():
    """A group score equal to its level's threshold in float32 (0.35 is not exact in binary) is decided, as
    ``level_metrics`` (``scores(...) >= threshold``) decides it; a float64 threshold dropped it."""
    labels = ["A01B1/00", "A01B1/02", "G06N3/08"]
    b = float(np.log(0.35 / 0.65))  # a = 0: every group scores sigmoid(b) = 0.35
    rule = LevelRule({level: 0.35 for level in GROUP_LEVELS}, {level: (0.0, b) for level in GROUP_LEVELS})
    p = np.array([[0.2, 0.1, 0.6]], dtype=np.float32)
    decided = rule.decide(p, labels, np.full(3, 0.5, dtype=np.float32))[0]
    for level in GROUP_LEVELS:
        groups, s = rule.scores(p, labels, level)
        assert [g for g, _ in decided[level]] == [g for g, v in zip(groups, s[0]) if v >= rule.thresholds[level]]
        assert decided[level]
