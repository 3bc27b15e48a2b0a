"""``cpc learn`` into a ``minilm-knn`` model (tiny random encoder): its embedding bank and its neighbour index."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.unit.test_minilm import cache_in_tmp, tiny_dataset, tiny_encoder  # noqa: E402, F401 - fixtures

TEXT = "Beehive acoustic monitor. Microphones in a beehive record buzzing; a network detects swarming and varroa."


def test_learning_into_a_minilm_knn_model_extends_both_banks(tiny_dataset, tiny_encoder, tmp_path):  # noqa: F811
    from cpc_models import CpcPredictor
    from cpc_models.kinds import minilm_knn
    from cpc_models.learn.learn import learn_model
    from cpc_models.learn.sources import Labelled

    base = tmp_path / "base"
    config = minilm_knn.Config(
        dataset_dir=str(tiny_dataset), output_dir=str(base), base=str(tiny_encoder), max_length=64
    )
    config.k = 5
    minilm_knn.train(config)
    model = CpcPredictor.from_pretrained(base)
    codes = model.labels[-2:]
    data = Labelled("test", "test")
    data.add("US9999999B1", TEXT, codes)

    record = learn_model(base, data, out=tmp_path / "learned")
    banks = {b["path"]: b for b in record["banks"]}
    assert set(banks) == {".", "neighbour_index"}  # the embeddings, and the TF-IDF index behind similar patents
    assert all(b["rows_after"] == b["rows_before"] + 1 for b in banks.values())
    assert np.load(tmp_path / "learned" / "train_embeddings.npy").shape[0] == banks["."]["rows_after"]
    learned = CpcPredictor.from_pretrained(tmp_path / "learned")
    before, after = model.scorer.predict_proba([TEXT])[0], learned.scorer.predict_proba([TEXT])[0]
    columns = [model.labels.index(c) for c in codes]
    assert (after[columns] > before[columns]).all()  # its own row (similarity 1) now votes for its codes
    assert learned.predict([TEXT])[0].neighbours[0]["publication_number"] == "US9999999B1"
