"""Offline parts of Hub publishing: what a push sends, cards rewritten for a repo id, repo ids, the dataset card's YAML."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from cpc_dataset.card import split_infos
from cpc_dataset.errors import CpcError
from cpc_dataset.hub import DATASET_ALLOW, chosen_files, is_repo_id
from cpc_models.hub import INT8_ALLOW, MODEL_IGNORE, card_for_repo, int8_card, push_model
from cpc_models.registry import KINDS, folder_kind
from tests.conftest import DATASET, REPO

DEFAULT_MODEL = REPO / "hub" / "models" / "cpc-default"


def _yaml(card: str) -> dict:
    return yaml.safe_load(card[4:].split("\n---\n", 1)[0])


def _datasets_warnings(dataset_info: dict) -> list[str]:
    from datasets.info import DatasetInfo

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("datasets")
    logger.addHandler(handler)
    try:
        info = DatasetInfo._from_yaml_dict(dataset_info)
    finally:
        logger.removeHandler(handler)
    assert info.splits is not None
    return records


def test_committed_dataset_card_is_read_without_warnings_and_matches_its_parquet():
    meta = _yaml((DATASET / "README.md").read_text())
    assert _datasets_warnings(meta["dataset_info"]) == []
    names = [s["name"] for s in meta["dataset_info"]["splits"]]
    assert {k: meta["dataset_info"][k] for k in ("splits", "download_size", "dataset_size")} == split_infos(
        DATASET, names
    )


def test_built_card_records_split_sizes_as_datasets_counts_them(raw_dir, tmp_path):
    from datasets import load_dataset

    from spaces.cli import main

    assert main(["data", "build", "--raw", str(raw_dir), "--out", str(tmp_path / "ds")]) == 0
    meta = _yaml((tmp_path / "ds" / "README.md").read_text())
    assert _datasets_warnings(meta["dataset_info"]) == []
    loaded = load_dataset(str(tmp_path / "ds"), cache_dir=str(tmp_path / "cache"))
    recorded = {s["name"]: (s["num_bytes"], s["num_examples"]) for s in meta["dataset_info"]["splits"]}
    assert recorded == {
        name: (split.num_bytes, split.num_examples) for name, split in loaded["train"].info.splits.items()
    }


def test_model_push_leaves_out_predictions_and_the_dataset_push_takes_what_load_dataset_needs(tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    for folder in (model / "predictions", model / "members" / "tfidf-knn" / "predictions"):  # training leftovers
        folder.mkdir()
        (folder / "test.npy").write_bytes(b"")
    model_files = chosen_files(model, None, MODEL_IGNORE)
    assert "config.json" in model_files and "members/tfidf-knn/bank/postings_data.npy" in model_files
    assert "vectorizer/vectorizer.json" in model_files
    assert {p.relative_to(model).as_posix() for p in model.rglob("*") if p.is_file()} - set(model_files) == {
        "predictions/test.npy",
        "members/tfidf-knn/predictions/test.npy",
    }
    data_files = chosen_files(DATASET, DATASET_ALLOW)
    assert "README.md" in data_files and "labels.json" in data_files
    assert sorted(f for f in data_files if f.endswith(".parquet")) == sorted(
        p.relative_to(DATASET).as_posix() for p in DATASET.glob("data/*.parquet")
    )


def test_int8_twin_takes_the_quantized_file_and_what_reads_it(tmp_path):
    for name in (
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
        "thresholds.json",
        "README.md",
    ):
        (tmp_path / name).write_text("{}")
    (tmp_path / "onnx").mkdir()
    for name in ("model.onnx", "model_quantized.onnx", "export_config.json"):
        (tmp_path / "onnx" / name).write_text("x")
    assert set(chosen_files(tmp_path, INT8_ALLOW, MODEL_IGNORE)) == {
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "thresholds.json",
        "README.md",
        "onnx/model_quantized.onnx",
        "onnx/export_config.json",
    }


def test_cards_get_a_usage_snippet_for_the_repo_id_and_int8_metrics():
    card = (DEFAULT_MODEL / "README.md").read_text()
    pushed = card_for_repo(card, "alice/cpc-default", folder_kind(DEFAULT_MODEL), None)
    assert (
        'CpcPredictor.from_pretrained("alice/cpc-default")' in pushed
        and "hub/models/cpc-default" not in pushed.split("## Usage")[1].split("```")[1]
    )
    assert _yaml(pushed) == _yaml(card)  # the YAML is untouched
    transformer = card_for_repo(card, "alice/tf", KINDS["transformer"], "onnx/model_quantized.onnx", calibrated=True)
    assert 'pipeline("text-classification", model="alice/tf", top_k=None)' in transformer
    assert (
        'hf_hub_download("alice/tf", "calibration.json")' in transformer
        and '"onnx/model_quantized.onnx"' in transformer
    )
    twin = _yaml(int8_card(card, {"test_metrics": {"int8": {"micro_f1": 0.4306, "macro_f1": 0.3463}}}))
    [result] = twin["model-index"][0]["results"]
    assert [(m["name"], m["value"]) for m in result["metrics"]] == [
        ("micro-F1 (int8 ONNX)", 0.4306),
        ("macro-F1 (int8 ONNX)", 0.3463),
    ]


@pytest.mark.parametrize(
    "value, expected",
    [
        ("alice/model", True),
        ("hub/models/cpc-default", False),
        ("model", False),
        ("alice/model/extra", False),
        ("./alice", False),
    ],
)
def test_repo_ids_are_told_from_folders(value, expected):
    assert is_repo_id(value) is expected


def test_default_model_card_says_how_its_arrays_are_laid_out():
    card = (DEFAULT_MODEL / "README.md").read_text()
    layout = card.split("array layout")[1]
    described = {
        f.name
        for f in DEFAULT_MODEL.rglob("*")
        if f.is_file() and "predictions" not in f.parts and f.name != "README.md"
    }
    assert described and not [name for name in described if f"`{name}`" not in layout]


def test_push_refuses_what_is_not_a_model_folder_before_any_network_call(tmp_path):
    with pytest.raises(CpcError, match="not a model folder"):
        push_model(tmp_path, "alice/x")
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "G06N3/08"}}))
    with pytest.raises(CpcError, match="model_quantized.onnx"):
        push_model(tmp_path, "alice/x", variant="int8")
    with pytest.raises(CpcError, match="OWNER/NAME"):
        push_model(tmp_path, "not a repo id")
