"""The MiniLM kinds (cpc_models.kinds.minilm, minilm_knn, minilm_logreg) with a tiny random encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sklearn")

from cpc_models.kinds import minilm_knn, minilm_logreg  # noqa: E402
from cpc_models.kinds.minilm import SentenceEncoder, cached_embeddings, embedding_cache_key  # noqa: E402
from cpc_models.kinds.minilm_knn import KnnHead  # noqa: E402
from cpc_models.registry import load_scorer  # noqa: E402
from tests.fixtures.tiny_models import assert_metrics_reproduce  # noqa: E402
from tests.unit.test_linear import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("dataset"), sizes=(120, 40, 40))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory, tiny_dataset) -> Path:
    """A randomly initialised 2-layer BERT of width 32 with a word-piece vocabulary trained on the texts."""
    from cpc_models.data import load_split
    from tests.fixtures.tiny_models import tiny_encoder_folder

    return tiny_encoder_folder(tmp_path_factory.mktemp("encoder"), load_split(tiny_dataset, "train").texts)


@pytest.fixture(scope="module", autouse=True)
def cache_in_tmp(tmp_path_factory):
    """One embedding cache for the module (the trainers reuse the texts' embeddings), one torch thread."""
    cache = tmp_path_factory.mktemp("cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPC_CACHE", str(cache))
        yield cache
    torch.set_num_threads(threads)


def test_embeddings_are_normalised_and_cached(tiny_encoder, cache_in_tmp, monkeypatch):
    texts = [
        "A neural network is trained on images.",
        "A short one.",
        "Method for ranking search results by relevance.",
    ]
    encoder = SentenceEncoder(str(tiny_encoder), max_length=64, batch_size=2)
    first = cached_embeddings(texts, str(tiny_encoder), 64, encoder)
    assert first.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    # batching and ordering by length do not change a text's embedding
    np.testing.assert_allclose(encoder.encode(texts[1:2]), first[1:2], atol=1e-5)
    assert (cache_in_tmp / "embeddings" / f"{embedding_cache_key(str(tiny_encoder), 64, texts)}.npy").exists()

    def fail(*args, **kwargs):
        raise AssertionError("cached embeddings were computed again")

    monkeypatch.setattr(SentenceEncoder, "encode", fail)
    np.testing.assert_array_equal(cached_embeddings(texts, str(tiny_encoder), 64, encoder), first)
    assert embedding_cache_key(str(tiny_encoder), 64, texts) != embedding_cache_key(str(tiny_encoder), 128, texts)
    assert embedding_cache_key("a", 64, ["x y"]) != embedding_cache_key("a", 64, ["x", "y"])


@pytest.mark.parametrize("head", ["knn", "logreg"])
def test_train_save_load_predicts_like_training(tiny_dataset, tiny_encoder, tmp_path, head):
    from cpc_models.data import load_split

    out = tmp_path / head
    module = minilm_knn if head == "knn" else minilm_logreg
    config = module.Config(dataset_dir=str(tiny_dataset), output_dir=str(out), base=str(tiny_encoder), max_length=64)
    if head == "knn":
        config.k = 5
    metrics = module.train(config)
    assert_metrics_reproduce(out, tiny_dataset, metrics)
    assert json.loads((out / "config.json").read_text())["cpc_model_type"] == f"minilm-{head}"
    assert json.loads((out / "encoder.json").read_text())["base"] == str(tiny_encoder)
    assert not list(out.glob("*.safetensors")) and not list(out.glob("*.bin")), "the encoder is referenced, not copied"
    if head == "knn":
        assert np.load(out / "train_embeddings.npy").dtype == np.float16
        assert np.load(out / "train_labels.npy").shape == (120, 8)
    else:
        assert (out / "head.npz").exists()

    test = load_split(tiny_dataset, "test")
    scorer = load_scorer(out)
    scores = scorer.predict_proba(test.texts)
    assert scores.shape == (len(test), len(test.vocabulary)) and scorer.labels == test.vocabulary
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    # the folder's test predictions came from cached embeddings; the loaded model re-encodes: same scores
    np.testing.assert_allclose(np.load(out / "predictions" / "test.npy"), scores, atol=1e-4)
    assert scorer.truncated(["word " * 200, "short"]) == [True, False]
    # a folder of the old type "embedding" loads as the kind of its head
    from cpc_models.registry import kind_of

    old = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**old, "cpc_model_type": "embedding", "head": head}))
    assert kind_of(out) == f"minilm-{head}"
    np.testing.assert_allclose(load_scorer(out).predict_proba(test.texts[:3]), scores[:3], atol=1e-6)


def test_knn_votes_are_similarity_weighted_shares():
    bank = np.eye(4, dtype=np.float32)
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=np.uint8)
    query = np.array([[1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    flat = KnnHead(bank, labels, k=2, temperature=0.0).scores(query)  # equal votes of the two nearest
    np.testing.assert_allclose(flat[0].sum(), 1.0, rtol=1e-6)
    sharp = KnnHead(bank, labels, k=2, temperature=50.0).scores(query)  # the nearest one decides
    np.testing.assert_allclose(sharp[0], [1.0, 0.0], atol=1e-6)
    # leave-one-out: a bank row scored against the bank does not vote for itself
    loo = KnnHead(bank, labels, k=1, temperature=1.0).scores(bank, exclude=np.arange(4))
    assert loo.shape == (4, 2) and np.isfinite(loo).all()


def test_cli_trains_knn_under_its_old_name(tiny_dataset, tiny_encoder, tmp_path):
    from click.testing import CliRunner

    from spaces.cli import cli

    out = tmp_path / "cli-knn"
    args = ["train", "knn", "--dataset", str(tiny_dataset), "--out", str(out), "--base", str(tiny_encoder)]
    args += ["--max-length", "64", "--k", "7"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "encoder.json").read_text())["k"] == 7
    assert "cpc train minilm-knn" in result.output
