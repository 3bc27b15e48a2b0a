"""The Space as a Hub repo that starts on its own: ``build_space_bundle`` stages it, ``push_space`` pushes it.

What a fresh Spaces machine needs (the Space's root):

- ``README.md``: the Space YAML (``sdk: gradio``, ``app_file: app.py``, ``models: [the model repo]``) and its text;
- ``app.py``: ``spaces/app.py`` as is (it runs with ``python app.py``);
- ``requirements.txt``: the pinned third-party packages it imports (``spaces/requirements.txt``);
- ``cpc_dataset/``, ``cpc_models/``, ``spaces/``: this project's code, as packages beside ``app.py``. Spaces install
  ``requirements.txt`` before the repo's files are copied in, so a wheel uploaded beside ``app.py`` and named in
  ``requirements.txt`` would not be there at install time; packages beside ``app.py`` are importable because
  ``python app.py`` puts its folder first on ``sys.path``;
- ``cpc_space.json``: the model's repo id (and revision), read by ``spaces.settings``; the model itself stays in
  its model repo and is downloaded at start (``CPC_MODEL_ID`` overrides it).

Staged files are copied byte for byte, so pushing the same code and model id again makes no commit.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.hub import PushResult, check_repo_id, is_repo_id, push_folder

log = logging.getLogger(__name__)

PACKAGES = ("cpc_dataset", "cpc_models", "spaces")
SPACE_FILES = ("README.md", "app.py", "requirements.txt")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".DS_Store")


def _package_dir(name: str) -> Path:
    import importlib

    return Path(importlib.import_module(name).__file__).resolve().parent


def space_readme(text: str, model_id: str) -> str:
    """The Space README with ``models: [model_id]`` in its YAML (the Hub links the Space to its model)."""
    import yaml

    if not text.startswith("---\n"):
        raise InputError("the Space README.md has no YAML header (--- ... ---)")
    header, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(header) or {}
    meta["models"] = [model_id]
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body


def build_space_bundle(source: str | Path, out: str | Path, model_id: str, model_revision: str | None = None) -> Path:
    """Stage the Space from ``source`` (the ``spaces`` folder: README.md, app.py, requirements.txt) into ``out``."""
    source, out = Path(source), Path(out)
    missing = [name for name in SPACE_FILES if not (source / name).is_file()]
    if missing:
        raise InputError(f"{source} is not a Space folder: {', '.join(missing)} missing")
    if not is_repo_id(model_id):
        raise InputError(
            f"--model must be a Hub model repo id OWNER/NAME (push it first: cpc push model), not {model_id!r}"
        )
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "app.py", out / "app.py")
    shutil.copyfile(source / "requirements.txt", out / "requirements.txt")
    (out / "README.md").write_text(
        space_readme((source / "README.md").read_text(encoding="utf-8"), model_id), encoding="utf-8"
    )
    for name in PACKAGES:
        shutil.copytree(_package_dir(name), out / name, ignore=SKIP, dirs_exist_ok=True)
    config = {"model_id": model_id, **({"model_revision": model_revision} if model_revision else {})}
    (out / "cpc_space.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def push_space(
    source: str | Path,
    repo_id: str,
    model_id: str,
    model_revision: str | None = None,
    private: bool = False,
    revision: str | None = None,
) -> PushResult:
    """Stage the Space and push it; it will serve ``model_id`` (a model repo, downloaded when the Space starts)."""
    check_repo_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="cpc-space-") as tmp:
        stage = build_space_bundle(source, Path(tmp) / "space", model_id, model_revision)
        return push_folder(
            stage,
            repo_id,
            "space",
            what=f"Gradio Space (app.py, code packages) serving model {model_id}",
            private=private,
            revision=revision,
            space_sdk="gradio",
        )
