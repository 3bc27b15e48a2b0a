"""Where things live by default, wherever the command runs.

``default_model_dir()`` is the one function that resolves the default model; ``default_dataset_dir()`` the
dataset. Neither depends on the current directory: the environment variable first, then the source checkout
this package runs from (an editable install, or the repo on ``PYTHONPATH``), then the copy a non-editable
install ships (``share/patent-cpc/`` under the install prefix: the default model's serving files, see
``setup.cfg``'s ``data_files``), then the user cache (``~/.cache/patent-cpc``).
"""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

from cpc_models.files import CONFIG_FILE

CHECKOUT = Path(__file__).resolve().parents[1]  # the source tree, when the package runs from one
DEFAULT_MODEL_NAME = "cpc-default"
DATASET_NAME = "patent-cpc-ai"
# where `cpc train` and `cpc data build` write by default: relative to the working directory, as outputs are
MODELS_DIR = Path("hub/models")
DATASET_DIR = Path("hub/datasets") / DATASET_NAME


def user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "patent-cpc"


def installed_data() -> list[Path]:
    """``share/patent-cpc`` under the prefixes a pip install may have used (venv or system, then --user)."""
    return [Path(prefix) / "share" / "patent-cpc" for prefix in (sys.prefix, site.getuserbase())]


def _model_candidates() -> list[Path]:
    return [
        CHECKOUT / MODELS_DIR / DEFAULT_MODEL_NAME,
        *(data / "models" / DEFAULT_MODEL_NAME for data in installed_data()),
        user_cache() / "models" / DEFAULT_MODEL_NAME,
    ]


def default_model_dir() -> Path:
    """``CPC_MODEL``, else the first default model folder found (checkout, installed copy, user cache)."""
    if os.environ.get("CPC_MODEL"):
        return Path(os.environ["CPC_MODEL"])
    candidates = _model_candidates()
    for folder in candidates:
        if (folder / CONFIG_FILE).exists():
            return folder
    from cpc_dataset.errors import MisconfiguredError

    raise MisconfiguredError(
        f"no default model found (looked in {', '.join(map(str, candidates))}); set CPC_MODEL or pass --model"
    )


def default_dataset_dir() -> Path:
    """``CPC_DATASET``, else the checkout's dataset folder, else the user cache's (which may not exist yet)."""
    if os.environ.get("CPC_DATASET"):
        return Path(os.environ["CPC_DATASET"])
    checkout = CHECKOUT / DATASET_DIR
    if (checkout / "data").is_dir():
        return _short(checkout)
    return user_cache() / "datasets" / DATASET_NAME


def _short(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (what train configs and cards record,
    e.g. ``hub/datasets/patent-cpc-ai`` in the checkout), else absolute."""
    try:
        return path.relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def cache_dir() -> Path:
    """Cache for embeddings and other reusable intermediates (``CPC_CACHE`` overrides)."""
    return Path(os.environ.get("CPC_CACHE", "cache"))


MAX_SEARCH_THREADS = 4  # one search over a chunk of texts gains little past this


def search_threads() -> int:
    """Threads of one neighbour search over a batch: ``CPC_SEARCH_THREADS``, else ``OMP_NUM_THREADS`` (Ray sets it
    in its workers), else this process's cores, at most ``MAX_SEARCH_THREADS``. Runners that already use one
    process per core (``cpc serve --workers``, the Ray engine's actors) set ``CPC_SEARCH_THREADS=1`` in each."""
    for name in ("CPC_SEARCH_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return max(1, int(value))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_SEARCH_THREADS))


def search_budget(default: int = 0) -> int:
    """Postings a neighbour search reads per text (``CPC_SEARCH_BUDGET``, else the bank's ``search_budget``; 0: all
    of them, the exact search; ``cpc_models.kinds.budget``)."""
    value = os.environ.get("CPC_SEARCH_BUDGET", "").strip()
    if not value:
        return int(default)
    if not value.isdigit():
        from cpc_dataset.errors import MisconfiguredError

        raise MisconfiguredError(f"CPC_SEARCH_BUDGET={value!r}: a whole number of postings per text (0: exact search)")
    return int(value)
