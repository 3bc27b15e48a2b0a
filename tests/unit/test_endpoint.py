"""The Inference Endpoints files of a model folder (``cpc_models.endpoint``): which extra, which pins, where written.

That a pushed repo answers through its handler: tests/integration/test_endpoint_handler.py; that its
requirements.txt installs what the handler imports: tests/integration/test_deploy.py.
"""

from __future__ import annotations

import json
from importlib import metadata

import pytest

import cpc_models.hub as hub
from cpc_models import __version__
from cpc_models.endpoint import endpoint_files, handler_text, model_extras, requirements_text
from tests.fixtures.corpus import DEFAULT_MODEL


def _folder(tmp_path, kind: str | None, onnx: bool = False):
    config = {"id2label": {"0": "G06N3/08"}}
    if kind:
        config["cpc_model_type"] = kind
    (tmp_path / "config.json").write_text(json.dumps(config))
    if onnx:
        (tmp_path / "onnx").mkdir()
        (tmp_path / "onnx" / "model_quantized.onnx").write_bytes(b"x")
    return tmp_path


@pytest.mark.parametrize(
    "kind, onnx, extras",
    [
        ("tfidf-svm", False, ["serve"]),
        ("ensemble", False, ["serve"]),
        ("minilm-knn", False, ["serve", "train"]),
        (None, False, ["serve", "train"]),  # a stock transformers folder: torch
        ("transformer", True, ["serve", "onnx"]),  # exported: onnxruntime, no torch
    ],
)
def test_the_extra_follows_the_kind_and_the_backend_it_loads_with(tmp_path, kind, onnx, extras):
    assert model_extras(_folder(tmp_path, kind, onnx)) == extras


def test_requirements_name_this_version_and_pin_what_it_requires_as_installed():
    lines = [line for line in requirements_text(DEFAULT_MODEL).splitlines() if not line.startswith("#")]
    assert lines[0] == f"patent-cpc[serve]=={__version__}"
    pins = dict(line.split("==") for line in lines[1:])
    assert {"fastapi", "scikit-learn", "numpy"} <= set(pins)  # [serve] and the base requirements
    assert not {"gradio", "ray", "torch"} & set(pins)  # other extras' libraries are not installed on the Endpoint
    assert all(metadata.version(name) == version for name, version in pins.items())


def test_the_committed_default_model_ships_current_endpoint_files():
    for name, text in endpoint_files(DEFAULT_MODEL).items():
        assert (DEFAULT_MODEL / name).read_text() == text, (
            f"regenerate {name}: cpc_models.endpoint.write_endpoint_files"
        )
    assert "## Inference Endpoints" in (DEFAULT_MODEL / "README.md").read_text()


@pytest.mark.parametrize("variant", ["all", "int8"])
def test_every_push_uploads_the_handler_written_for_the_pushed_folder(tmp_path, monkeypatch, variant):
    pushed = {}
    monkeypatch.setattr(hub, "push_folder", lambda folder, repo_id, kind, **kwargs: pushed.update(kwargs["replace"]))
    folder = _folder(tmp_path, "transformer", onnx=True)
    hub.push_model(folder, "alice/cpc-x", variant=variant)
    assert pushed["handler.py"].decode() == handler_text()
    assert pushed["requirements.txt"].decode().splitlines()[2] == f"patent-cpc[serve,onnx]=={__version__}"
