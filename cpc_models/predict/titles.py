"""CPC titles of the model's codes, where a model or dataset folder has them (``labels.json``: ``titles``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _titles_in(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    titles = data.get("titles") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in titles.items() if isinstance(v, str)} if isinstance(titles, dict) else {}


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
        dataset = json.loads((model_dir / "train_config.json").read_text()).get("dataset_dir")
    except (OSError, json.JSONDecodeError, AttributeError):
        dataset = None
    if not isinstance(dataset, str):
        return {}
    candidates = [Path(dataset)] + [parent / dataset for parent in model_dir.resolve().parents]
    for folder in candidates:
        if (folder / "labels.json").exists():
            return _titles_in(folder / "labels.json")
    return {}
