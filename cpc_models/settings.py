"""Where things live by default."""

from __future__ import annotations

import os
from pathlib import Path

DATASET_DIR = Path("hub/datasets/patent-cpc-ai")
MODELS_DIR = Path("hub/models")
DEFAULT_MODEL_NAME = "cpc-default"


def default_model_dir() -> Path:
    """The committed default model; ``CPC_MODEL`` overrides it."""
    return Path(os.environ.get("CPC_MODEL", MODELS_DIR / DEFAULT_MODEL_NAME))


def cache_dir() -> Path:
    """Cache for embeddings and other reusable intermediates (``CPC_CACHE`` overrides)."""
    return Path(os.environ.get("CPC_CACHE", "cache"))
