"""Everything is in setup.cfg, except the default model's serving files, shipped as data files.

They install under ``<prefix>/share/patent-cpc/models/cpc-default/`` (found by ``cpc_models.settings.default_model_dir``),
so a non-editable ``pip install '.[space]'`` serves the default model from any directory. Listed by walking the
folder (its member folders may change when it is retrained); ``predictions/`` (for ensembles) is left out.
"""

from pathlib import Path

from setuptools import setup

DEFAULT_MODEL = Path("hub/models/cpc-default")
SKIPPED = {"predictions"}


def default_model_files() -> list[tuple[str, list[str]]]:
    entries: dict[str, list[str]] = {}
    for path in sorted(DEFAULT_MODEL.rglob("*")):
        rel = path.relative_to(DEFAULT_MODEL)
        if path.is_file() and not SKIPPED & set(rel.parts):
            target = (Path("share/patent-cpc/models") / DEFAULT_MODEL.name / rel.parent).as_posix()
            entries.setdefault(target, []).append(path.as_posix())
    return list(entries.items())


setup(data_files=default_model_files())
