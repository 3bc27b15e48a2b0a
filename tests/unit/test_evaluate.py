from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from cpc_models import registry as base
from cpc_models.data import label_matrix, load_split, load_vocabulary
from cpc_models.registry import write_model_config
from cpc_models.scoring.metrics import compute_metrics
from cpc_models.scoring.thresholds import Thresholds
from spaces.cli import main
from tests.conftest import make_rows, write_raw_csv

JSON_KEYS = {
    "n_docs", "micro_f1", "macro_f1", "samples_f1", "precision_at_1", "precision_at_5", "subclass_micro_f1", "section_micro_f1",
}  # fmt: skip


class HashScorer:
    """Deterministic test scorer: each (text, label) pair gets a fixed pseudo-random score; 'learning'
    in a text lifts the first label, so the metrics are not all zero."""

    backend = "native"

    def __init__(self, labels: list[str]):
        self.labels = labels

    def truncated(self, texts: list[str]) -> list[bool]:
        return [False] * len(texts)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for i, text in enumerate(texts):
            for j, code in enumerate(self.labels):
                digest = hashlib.sha256(f"{text}\x00{code}".encode()).digest()
                out[i, j] = int.from_bytes(digest[:4], "big") / 2**32
            if "learning" in text:
                out[i, 0] = max(out[i, 0], 0.9)
        return out


def load(model_dir: Path, backend: str = "native") -> HashScorer:
    """This module is a model kind of its own ("test-hash"): the registry calls its ``load``."""
    return HashScorer(base.folder_labels(model_dir))


@pytest.fixture(autouse=True)
def hash_model_type(monkeypatch):
    monkeypatch.setitem(
        base.KINDS, "test-hash", base.Kind("test-hash", __name__, "test scorer", {"native": base.Needs("space")})
    )


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    write_raw_csv(raw / "patent_details_1.csv", make_rows(150))
    write_raw_csv(raw / "patent_details_2.csv", make_rows(60, start=150))
    out = tmp_path_factory.mktemp("ds") / "patent-cpc-test"
    assert (
        main(["-q", "data", "build", "--raw", str(raw), "--out", str(out), "--min-label-freq", "0.05", "--json"]) == 0
    )
    return out


@pytest.fixture
def model_dir(tmp_path, dataset_dir) -> Path:
    folder = tmp_path / "model"
    labels = load_vocabulary(dataset_dir)
    write_model_config(folder, "test-hash", labels)
    Thresholds(0.7, {labels[0]: 0.3, labels[1]: 0.95}, min_codes=1, mode="per_label").save(folder)
    return folder


def expected_metrics(model_dir: Path, texts: list[str], codes: list[list[str]], all_docs: bool = False) -> dict:
    scorer = load(model_dir)
    y = label_matrix(codes, scorer.labels)
    keep = np.ones(len(y), bool) if all_docs else y.sum(axis=1) > 0
    scores = scorer.predict_proba([t for t, k in zip(texts, keep) if k])
    y_pred = Thresholds.load(model_dir).apply(scores, scorer.labels)
    return compute_metrics(y[keep], scores, y_pred, scorer.labels)


def run_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_a_dataset_folder_matches_compute_metrics(capsys, model_dir, dataset_dir):
    result = run_json(capsys, "--model", str(model_dir), "--data", str(dataset_dir))
    assert JSON_KEYS <= set(result)
    test = load_split(dataset_dir, "test")
    expected = expected_metrics(model_dir, test.texts, test.codes)
    assert result["n_docs"] == expected["n_docs"] == len(test) - result["n_docs_without_label"]
    assert result["n_docs_read"] == len(test) and result["source"] == "dataset test split"
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, nan_ok=True), key
    assert 0 < result["micro_f1"] < 1


def test_all_docs_scores_documents_without_labels(capsys, model_dir, dataset_dir):
    default = run_json(capsys, "--model", str(model_dir), "--data", str(dataset_dir))
    everything = run_json(capsys, "--model", str(model_dir), "--data", str(dataset_dir), "--all-docs")
    test = load_split(dataset_dir, "test")
    assert default["n_docs_without_label"] > 0, "fixture should hold test documents outside the vocabulary"
    assert everything["n_docs"] == len(test) == default["n_docs"] + default["n_docs_without_label"]
    expected = expected_metrics(model_dir, test.texts, test.codes, all_docs=True)
    assert everything["micro_f1"] == pytest.approx(expected["micro_f1"])
    assert everything["samples_f1"] == pytest.approx(expected["samples_f1"])


def test_evaluate_a_raw_csv_skips_and_counts_bad_rows(capsys, tmp_path, model_dir):
    rows = make_rows(40, start=1000)
    bad = [
        dict(rows[0], publication_number="US1B1", cpc_codes="['G06N3/08'"),  # malformed list
        dict(rows[1], publication_number="US2B1", abstract=""),  # no abstract
    ]
    dup = dict(rows[2], cpc_codes="['G06F40/30']")  # same patent found twice: merged, codes united
    path = write_raw_csv(tmp_path / "scrape.csv", rows + bad + [dup])
    result = run_json(capsys, "--model", str(model_dir), "--data", str(path))
    assert result["rows_skipped"] == 2 and result["rows_skipped_reasons"] == {
        "malformed code list": 1,
        "no abstract": 1,
    }
    assert result["duplicates_merged"] == 1 and result["n_docs_read"] == 40

    from cpc_dataset.raw import parse_code_list
    from cpc_dataset.text import model_input

    texts = [model_input(r["title"], r["abstract"]) for r in rows]
    codes = [parse_code_list(r["cpc_codes"]) for r in rows]
    codes[2] = sorted(set(codes[2]) | {"G06F40/30"})
    expected = expected_metrics(model_dir, texts, codes)
    for key in JSON_KEYS:
        assert result[key] == pytest.approx(expected[key]), key


def test_table_output_and_report(capsys, tmp_path, model_dir, dataset_dir):
    report = tmp_path / "report"
    capsys.readouterr()
    assert main(["evaluate", "--model", str(model_dir), "--data", str(dataset_dir), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    for row in ("label", "main group", "subclass", "class", "section", "micro-F1", "P@1", "P@5"):
        assert row in out
    for name in ("report.md", "per_label_f1.png", "precision_recall.png"):
        assert (report / name).stat().st_size > 0
    text = (report / "report.md").read_text()
    assert "| subclass |" in text and "Worst" in text and "Best" in text and "training documents" in text


def test_default_model_comes_from_settings(capsys, monkeypatch, model_dir, dataset_dir):
    monkeypatch.setenv("CPC_MODEL", str(model_dir))
    result = run_json(capsys, "--data", str(dataset_dir))
    assert result["model"] == str(model_dir)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_model", "does not exist"),
        ("not_a_model", "not a model folder"),
        ("unknown_type", "unknown model kind"),
        ("missing_data", "does not exist"),
        ("not_csv", "is not a CSV"),
        ("empty_folder", "neither a dataset folder"),
        ("wrong_columns", "missing column"),
        ("no_labelled_docs", "--all-docs"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_1(case, message, capsys, tmp_path, model_dir, dataset_dir):
    model, data = str(model_dir), str(dataset_dir)
    if case == "missing_model":
        model = str(tmp_path / "nope")
    elif case == "not_a_model":
        (tmp_path / "empty").mkdir()
        model = str(tmp_path / "empty")
    elif case == "unknown_type":
        write_model_config(tmp_path / "m2", "no-such-type", ["G06N3/08"])
        model = str(tmp_path / "m2")
    elif case == "missing_data":
        data = str(tmp_path / "nope.csv")
    elif case == "not_csv":
        (tmp_path / "notes.txt").write_text("hello")
        data = str(tmp_path / "notes.txt")
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        data = str(tmp_path / "empty")
    elif case == "wrong_columns":
        data = str(write_raw_csv(tmp_path / "x.csv", [{"id": "1", "text": "t"}], header=("id", "text")))
    elif case == "no_labelled_docs":
        rows = [r for r in make_rows(30) if r["cpc_codes"].startswith("['A01B")]
        data = str(write_raw_csv(tmp_path / "rare.csv", rows))
    capsys.readouterr()
    assert main(["evaluate", "--model", model, "--data", data]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err
