"""CPC titles of the model's codes, where a model or dataset folder has them (``labels.json``: ``titles``)."""

from __future__ import annotations

import json
from pathlib import Path

from cpc_models.files import TRAIN_CONFIG_FILE


def _titles_in(path: Path) -> dict[str, str]:
    from cpc_dataset.titles import read_label_titles

    return read_label_titles(path.parent)


def load_code_titles(model_dir: str | Path | None) -> dict[str, str]:
    """``code -> title`` from ``<model>/labels.json``, else from the dataset folder its ``train_config.json`` names
    (absolute, relative to the working directory, or to the folder holding ``hub/``). Empty when none is known."""
    if model_dir is None:
        return {}
    model_dir = Path(model_dir)
    titles = _titles_in(model_dir / "labels.json")
    if titles:
        return titles
    try:
        dataset = json.loads((model_dir / TRAIN_CONFIG_FILE).read_text()).get("dataset_dir")
    except (OSError, json.JSONDecodeError, AttributeError):
        dataset = None
    if not isinstance(dataset, str):
        return {}
    candidates = [Path(dataset)] + [parent / dataset for parent in model_dir.resolve().parents]
    for folder in candidates:
        if (folder / "labels.json").exists():
            return _titles_in(folder / "labels.json")
    return {}
