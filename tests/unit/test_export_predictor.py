from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from cpc_dataset.errors import CpcError
from cpc_models.data import load_split
from cpc_models.onnx.export import export_onnx
from cpc_models.predict.predictor import CpcPredictor
from cpc_models.scoring.thresholds import Thresholds
from spaces.cli import main
from tests.conftest import DATASET
from tests.fixtures.tiny_models import tiny_bert_folder

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tiny_bert_folder(tmp_path_factory.mktemp("tiny") / "tiny-bert")
    Thresholds(0.5, mode="global").save(folder)
    texts = load_split(DATASET, "validation").texts[:64]
    calibration = load_split(DATASET, "train").texts[:64]
    report = export_onnx(folder, "int8", parity_texts=texts, calibration_texts=calibration)
    return folder, report, texts


def test_onnx_files_follow_optimum_layout_with_config(exported):
    folder, report, _ = exported
    assert (folder / "onnx" / "model.onnx").exists() and (folder / "onnx" / "model_quantized.onnx").exists()
    saved = json.loads((folder / "onnx" / "export_config.json").read_text())
    assert saved["files"] == report["files"] and saved["opset"] == report["opset"]
    assert "patent-cpc[serve,onnx]==" in (folder / "requirements.txt").read_text()  # an Endpoint runs it on onnx


def test_fp32_and_int8_agree_with_torch(exported):
    parity = exported[1]["parity"]
    assert parity["fp32_max_abs_diff"] < 1e-4
    assert parity["int8_max_abs_diff"] < 0.02


def test_test_split_report_puts_fp32_and_int8_side_by_side(exported):
    from cpc_models.onnx.export import test_metrics_by_file
    from cpc_models.scoring.metrics import compute_metrics

    folder, report, _ = exported
    out = test_metrics_by_file(folder, DATASET, report["files"])
    test = load_split(DATASET, "test")
    keep = test.y.sum(axis=1) > 0
    assert out["n_docs"] == int(keep.sum())
    # fp32's figures match an independent path: the torch model through the predictor, same documents and thresholds
    predictor = CpcPredictor.from_pretrained(folder, backend="torch")
    scores = predictor.scores([t for t, k in zip(test.texts, keep) if k])
    decided = Thresholds.load(folder).apply(scores, predictor.labels)
    torch_metrics = compute_metrics(test.y[keep], scores, decided, predictor.labels)
    assert abs(out["fp32"]["micro_f1"] - torch_metrics["micro_f1"]) < 0.01
    assert set(out["int8"]) == set(out["fp32"])
    # the agreement figures, recomputed from each file's own decisions
    from cpc_models.onnx.runtime import OnnxScorer

    texts = [t for t, k in zip(test.texts, keep) if k]
    decided = {
        key: Thresholds.load(folder).apply(
            OnnxScorer.from_folder(folder, folder / rel).predict_proba(texts), predictor.labels
        )
        for key, rel in report["files"].items()
    }
    same = decided["int8"] == decided["fp32"]
    assert out["int8_vs_fp32_code_set_agreement"] == round(float(same.all(axis=1).mean()), 4)
    assert out["int8_vs_fp32_decision_agreement"] == round(float(same.mean()), 6)


def test_default_int8_is_round_to_nearest_and_gptq_an_option(exported, tmp_path):
    import shutil

    folder, report, texts = exported
    assert report["quantization"]["method"] == "int8-rtn" and report["quantization"]["algorithm"] == "round-to-nearest"
    assert "calibration" not in report["quantization"]
    copy = shutil.copytree(folder, tmp_path / "gptq")
    gptq = export_onnx(
        copy, "int8-gptq", parity_texts=texts[:16], calibration_texts=load_split(DATASET, "train").texts[:32]
    )
    assert gptq["quantization"]["algorithm"] == "gptq" and gptq["quantization"]["calibration"]["docs"] == 32
    with pytest.raises(CpcError, match="int8-gptq needs calibration abstracts"):
        export_onnx(copy, "int8-gptq")
    with pytest.raises(CpcError, match="unknown quantization 'int4'"):
        export_onnx(copy, "int4")


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_predictor_backends_give_the_same_codes(exported, backend):
    folder, _, texts = exported
    reference = CpcPredictor.from_pretrained(folder, backend="torch").scores(texts)
    predictor = CpcPredictor.from_pretrained(folder, backend=backend)
    assert np.abs(predictor.scores(texts) - reference).max() < 0.02
    results = predictor.predict(texts[:3] + ["", "   "], top_k=4)
    assert all(1 <= len(r.codes) <= 4 and not r.reason for r in results[:3])
    assert [r.reason for r in results[3:]] == ["empty text", "empty text"]
    first = results[0]
    assert [c.score for c in first.codes] == sorted((c.score for c in first.codes), reverse=True)
    assert {c.code[:4] for c in first.codes} == {s.code for s in first.subclasses}


def test_truncation_is_reported(exported):
    folder, _, texts = exported
    predictor = CpcPredictor.from_pretrained(folder, backend="onnx")
    short, long = predictor.predict([texts[0][:50], " ".join(texts[:20])])
    assert not short.truncated and long.truncated


def test_predictor_is_safe_to_share_between_threads(exported):
    folder, _, texts = exported
    predictor = CpcPredictor.from_pretrained(folder, backend="onnx")
    expected = predictor.scores(texts[:8])
    results, errors = [None] * 8, []

    def work(i):
        try:
            results[i] = predictor.scores(texts[:8])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and all(np.allclose(r, expected, atol=1e-6) for r in results)


def test_missing_or_wrong_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CpcError, match="does not exist"):
        CpcPredictor.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CpcError, match="not a model folder"):
        CpcPredictor.from_pretrained(tmp_path / "empty")


def test_cli_predict_text_and_csv(exported, tmp_path, capsys):
    folder, _, texts = exported
    assert main(["predict", "--model", str(folder), "--json", texts[0]]) == 0
    assert json.loads(capsys.readouterr().out)["codes"]
    rows = pd.DataFrame(
        {
            "title": ["t1", "t2", "t3", "t4", "t5"],
            "abstract": [texts[1], "", texts[2], "  ", texts[3]],
            "keep": list("abcde"),
        }
    )
    rows.to_csv(tmp_path / "in.csv", index=False)
    assert (
        main(
            [
                "-q",
                "predict",
                "--model",
                str(folder),
                "--input",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / "out.csv"),
                "--chunk-size",
                "2",
            ]
        )
        == 0
    )
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert list(out["keep"]) == list("abcde")
    assert [bool(c) for c in out["codes"]] == [True, False, True, False, True]
    assert list(out["reason"]) == ["", "empty text", "", "empty text", ""]


def test_cli_predict_bad_csv_is_a_clear_error(exported, tmp_path, capsys):
    folder = exported[0]
    (tmp_path / "in.csv").write_text("text\nhello\n")
    assert (
        main(
            [
                "predict",
                "--model",
                str(folder),
                "--input",
                str(tmp_path / "in.csv"),
                "--output",
                str(tmp_path / "o.csv"),
            ]
        )
        == 1
    )
    assert "no 'abstract' column" in capsys.readouterr().err
