"""TF-IDF kinds (cpc_models.kinds.tfidf_svm, tfidf_knn) on a tiny dataset folder cut from the committed dataset."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cpc_models.endpoint import handler_text  # noqa: E402
from cpc_models.kinds import tfidf_knn, tfidf_svm  # noqa: E402
from cpc_models.registry import (
    KINDS,  # noqa: E402
    load_scorer,  # noqa: E402
)
from tests.fixtures.tiny_models import assert_metrics_reproduce  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "hub" / "datasets" / "patent-cpc-ai" / "data" / "validation-00000-of-00001.parquet"


def make_tiny_dataset(folder: Path, n_labels: int = 8, sizes: tuple[int, int, int] = (200, 60, 60)) -> Path:
    """Train/validation/test cut from real documents, labelled with their most frequent codes."""
    import pyarrow.parquet as pq

    if not SOURCE.exists():
        pytest.skip("the committed dataset is missing")
    table = pq.read_table(SOURCE, columns=["publication_number", "title", "abstract", "cpc_codes"]).slice(0, sum(sizes))
    counts: dict[str, int] = {}
    for doc in table.column("cpc_codes").to_pylist():
        for code in doc:
            counts[code] = counts.get(code, 0) + 1
    ranked = sorted(counts, key=lambda c: -counts[c])
    # the most frequent codes, and one outside section G, so every CPC roll-up level has two values or more
    vocabulary = sorted(ranked[: n_labels - 1] + [next(c for c in ranked if not c.startswith("G"))])
    (folder / "data").mkdir(parents=True)
    start = 0
    for name, n in zip(("train", "validation", "test"), sizes):
        pq.write_table(table.slice(start, n), folder / "data" / f"{name}-00000-of-00001.parquet")
        start += n
    (folder / "labels.json").write_text(json.dumps({"labels": vocabulary}))
    return folder


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.mark.parametrize("classifier, char_ngrams", [("svc", None), ("logreg", (3, 4)), ("knn", None)])
def test_train_save_load_gives_identical_predictions(tiny_dataset, tmp_path, classifier, char_ngrams):
    from cpc_models.data import load_split

    out = tmp_path / "model"
    common = {"dataset_dir": str(tiny_dataset), "output_dir": str(out), "min_df": 1, "char_ngrams": char_ngrams}
    if classifier == "knn":
        config, kind = tfidf_knn.Config(**common), "tfidf-knn"
    else:
        config, kind = tfidf_svm.Config(**common, classifier=classifier, C=1.0), "tfidf-svm"
    metrics = KINDS[kind].train(config)
    assert_metrics_reproduce(out, tiny_dataset, metrics)
    weights = "bank/bank.json" if classifier == "knn" else "linear/linear.json"
    for name in (
        "config.json",
        "features.json",
        "vectorizer/vectorizer.json",
        weights,
        "thresholds.json",
        "metrics.json",
        "train_config.json",
    ):
        assert (out / name).exists(), name
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.joblib"))
    config_json = json.loads((out / "config.json").read_text())
    assert config_json["cpc_model_type"] == kind

    test = load_split(tiny_dataset, "test")
    scorer = load_scorer(out)
    scores = scorer.predict_proba(test.texts)
    assert scores.shape == (len(test), len(test.vocabulary)) and scores.dtype == np.float32
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scorer.labels == test.vocabulary
    # the saved test predictions were made by the in-memory model before saving: loading changes nothing
    saved = np.load(out / "predictions" / "test.npy")
    np.testing.assert_array_equal(saved, scores)
    # one text at a time gives what a batch gives
    np.testing.assert_allclose(scorer.predict_proba(test.texts[:1]), scores[:1], rtol=1e-5, atol=1e-6)
    assert scorer.predict_proba([]).shape == (0, len(test.vocabulary))


def test_title_block_and_pruning_are_saved(tiny_dataset, tmp_path):
    out = tmp_path / "model"
    tfidf_svm.train(
        tfidf_svm.Config(
            dataset_dir=str(tiny_dataset), output_dir=str(out), min_df=1, title_weight=0.7, min_weight=0.05
        )
    )
    specs = json.loads((out / "vectorizer" / "vectorizer.json").read_text())["blocks"]
    assert [s["name"] for s in specs] == ["word", "title"] and specs[1]["weight"] == 0.7
    scorer = load_scorer(out)
    assert np.abs(scorer.coef.data).min() >= 0.05 * (1 - 1e-3)  # float16 rounding
    # the title block reads only the text before the first ". "
    title = scorer.vectorizer.blocks[1]
    _, with_title, _ = title.transform(["neural network training. Unrelated words about cooking"])
    _, without, _ = title.transform(["Unrelated words about cooking. neural network training"])
    assert len(with_title) > 0 and len(with_title) != len(without)


def test_config_round_trip_and_unknown_keys():
    from cpc_dataset.errors import InputError

    config = tfidf_svm.Config(word_ngrams=(1, 3), char_ngrams=(2, 5), C=0.5)
    recorded = {**config.to_dict(), "kind": "tfidf-svm", "run": {"train_seconds": 1.0}}  # as train_config.json holds it
    assert tfidf_svm.Config.from_dict(json.loads(json.dumps(recorded))) == config
    with pytest.raises(InputError, match="'min_dff'"):
        tfidf_svm.Config.from_dict({"min_dff": 3})


def test_old_linear_folders_load_as_their_kind(tiny_dataset, tmp_path):
    """Folders written before the kinds had names (type "linear", the kNN told apart by its file) still load."""
    from cpc_models.registry import kind_of

    for config, kind in ((tfidf_svm.Config(min_df=1), "tfidf-svm"), (tfidf_knn.Config(min_df=1, k=5), "tfidf-knn")):
        out = tmp_path / kind
        config.dataset_dir, config.output_dir = str(tiny_dataset), str(out)
        KINDS[kind].train(config)
        texts = ["A neural network classifies images.", "A battery electrode."]
        expected = load_scorer(out).predict_proba(texts)
        old = json.loads((out / "config.json").read_text())
        (out / "config.json").write_text(json.dumps({**old, "cpc_model_type": "linear"}))
        assert kind_of(out) == kind
        np.testing.assert_array_equal(load_scorer(out).predict_proba(texts), expected)


@pytest.mark.parametrize(
    "command, kind", [(["tfidf-svm"], "tfidf-svm"), (["linear", "--classifier", "knn"], "tfidf-knn")]
)
def test_cli_trains_a_tfidf_model(tiny_dataset, tmp_path, command, kind):
    """`cpc train <kind>`, and the old `cpc train linear [--classifier knn]`, which says what to type instead."""
    from click.testing import CliRunner

    from spaces.cli import cli

    out = tmp_path / "cli-model"
    extra = ["--k", "7"] if kind == "tfidf-knn" else ["--C", "0.5"]
    result = CliRunner().invoke(
        cli, ["train", *command, "--dataset", str(tiny_dataset), "--out", str(out), "--min-df", "1", *extra]
    )
    assert result.exit_code == 0, result.output
    assert "micro-F1" in result.output
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["kind"] == kind and (saved["k"] == 7 if kind == "tfidf-knn" else saved["C"] == 0.5)
    assert (out / "handler.py").read_text() == handler_text() and (out / "requirements.txt").exists()
    if command[0] == "linear":
        assert "cpc train tfidf-knn" in result.output


def test_cli_config_file_and_unknown_key(tiny_dataset, tmp_path):
    import subprocess
    import sys

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dataset_dir": str(tiny_dataset), "min_df": 1, "C": 0.2, "typo": 1}))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "spaces.cli",
            "train",
            "tfidf-svm",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "Bad input: unknown config key 'typo'; known: "
        + ", ".join(f.name for f in dataclasses.fields(tfidf_svm.Config))
    ]
