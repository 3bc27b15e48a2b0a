"""TF-IDF + linear models (cpc_models.kinds.linear) on a tiny dataset folder cut from the committed dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cpc_models.registry import load_scorer  # noqa: E402
from cpc_models.kinds.linear import LinearConfig, load_linear, train_linear  # noqa: E402

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
    config = LinearConfig(
        dataset_dir=str(tiny_dataset), output_dir=str(out), classifier=classifier, C=1.0, min_df=1, char_ngrams=char_ngrams
    )
    metrics = train_linear(config)
    assert 0.0 <= metrics["micro_f1"] <= 1.0
    weights = "knn_bank.npz" if classifier == "knn" else "linear.npz"
    for name in ("config.json", "vectorizers.json", "idf.npz", weights, "thresholds.json", "metrics.json", "train_config.json"):
        assert (out / name).exists(), name
    assert not list(out.glob("*.pkl")) and not list(out.glob("*.joblib"))
    config_json = json.loads((out / "config.json").read_text())
    assert config_json["cpc_model_type"] == "linear"

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
    train_linear(LinearConfig(dataset_dir=str(tiny_dataset), output_dir=str(out), min_df=1, title_weight=0.7, min_weight=0.05))
    specs = json.loads((out / "vectorizers.json").read_text())
    assert [s["name"] for s in specs] == ["word", "title"] and specs[1]["weight"] == 0.7
    scorer = load_linear(out)
    assert np.abs(scorer.coef.data).min() >= 0.05 * (1 - 1e-3)  # float16 rounding
    # the title block reads only the text before the first ". "
    title = scorer.blocks[1]
    with_title = title.transform(["neural network training. Unrelated words about cooking"])
    without = title.transform(["Unrelated words about cooking. neural network training"])
    assert with_title.nnz > 0 and with_title.nnz != without.nnz


def test_config_round_trip():
    config = LinearConfig(word_ngrams=(1, 3), char_ngrams=(2, 5), C=0.5)
    again = LinearConfig.from_dict(json.loads(json.dumps({**config.to_dict(), "unknown": 1})))
    assert again == config


def test_cli_trains_a_linear_model(tiny_dataset, tmp_path):
    from click.testing import CliRunner

    from spaces.cli import cli

    out = tmp_path / "cli-model"
    result = CliRunner().invoke(cli, ["train", "linear", "--dataset", str(tiny_dataset), "--out", str(out), "--min-df", "1", "--C", "0.5"])
    assert result.exit_code == 0, result.output
    assert "micro-F1" in result.output
    assert json.loads((out / "train_config.json").read_text())["C"] == 0.5
