"""What every model folder shares, and the registry that loads any of them by its type.

A model folder (``hub/models/<name>/``) is laid out like a Hub model repo:

- ``config.json``: ``cpc_model_type`` (registry key), ``id2label``, ``label2id``,
  ``problem_type: multi_label_classification`` (for transformers, the stock HF config plus these keys)
- ``thresholds.json``: written by ``cpc_models.scoring.thresholds``
- ``train_config.json``, ``metrics.json`` (test metrics), ``README.md`` (model card)
- the weights, in a format with no pickle (safetensors, .npz/.npy arrays, ONNX)

Each type registers a loader that returns a ``Scorer``: ``predict_proba(texts) -> (n, n_labels)`` scores in [0, 1].
Loaders are imported lazily, so a missing optional dependency fails only for the model type that needs it.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from cpc_dataset.errors import InputError, MisconfiguredError

CONFIG_FILE = "config.json"

# cpc_model_type -> "module:loader function"; the loader takes the folder path and returns a Scorer.
MODEL_TYPES: dict[str, str] = {
    "transformer": "cpc_models.onnx.runtime:load_transformer_any",
    "linear": "cpc_models.kinds.linear:load_linear",
    "embedding": "cpc_models.kinds.embed:load_embedding",
    "ensemble": "cpc_models.kinds.ensemble:load_ensemble",
}


@runtime_checkable
class Scorer(Protocol):
    labels: list[str]

    def predict_proba(self, texts: list[str]) -> np.ndarray: ...


def read_model_config(model_dir: str | Path) -> dict:
    model_dir = Path(model_dir)
    path = model_dir / CONFIG_FILE
    if not model_dir.is_dir():
        raise InputError(f"model folder {model_dir} does not exist")
    if not path.exists():
        raise InputError(f"{model_dir} is not a model folder (no {CONFIG_FILE})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def label_config(labels: list[str]) -> dict:
    return {
        "id2label": {str(i): code for i, code in enumerate(labels)},
        "label2id": {code: i for i, code in enumerate(labels)},
        "problem_type": "multi_label_classification",
    }


def labels_from_config(config: dict) -> list[str]:
    id2label = config.get("id2label") or {}
    return [id2label[str(i)] for i in range(len(id2label))]


def write_model_config(model_dir: str | Path, model_type: str, labels: list[str], **extra) -> dict:
    config = {"cpc_model_type": model_type, **label_config(labels), **extra}
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    (Path(model_dir) / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return config


def load_scorer(model_dir: str | Path, backend: str = "auto") -> Scorer:
    """Load any model folder by its ``cpc_model_type``.

    ``backend`` ("auto", "native", "torch", "onnx") is passed to loaders that take one; the others run
    their own ("native") way and refuse any other request.
    """
    config = read_model_config(model_dir)
    model_type = config.get("cpc_model_type", "transformer" if "architectures" in config else None)
    if model_type not in MODEL_TYPES:
        raise MisconfiguredError(f"{model_dir}: unknown model type {model_type!r}; known: {', '.join(MODEL_TYPES)}")
    module_name, func = MODEL_TYPES[model_type].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MisconfiguredError(f"model type {model_type!r} needs {exc.name}: pip install 'patent-cpc[train]'") from None
    loader = getattr(module, func)
    if "backend" in inspect.signature(loader).parameters:
        return loader(Path(model_dir), backend=backend)
    if backend not in ("auto", "native"):
        raise MisconfiguredError(f"model type {model_type!r} has no {backend!r} backend; use 'native'")
    return loader(Path(model_dir))
