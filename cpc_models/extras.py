"""Optional libraries: checked before use, so a missing one is one line naming the extra that installs it."""

from __future__ import annotations

import importlib.util

from cpc_dataset.errors import MisconfiguredError

# import name -> pip name, where they differ
PIP_NAMES = {"sklearn": "scikit-learn", "yaml": "pyyaml", "multipart": "python-multipart"}


def missing(modules: tuple[str, ...] | list[str]) -> list[str]:
    """The import names among ``modules`` that are not installed (found without importing them)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(modules: tuple[str, ...] | list[str], extra: str, purpose: str) -> None:
    """Raise a one-line ``MisconfiguredError`` naming ``extra`` if any of ``modules`` is not installed."""
    absent = missing(modules)
    if absent:
        names = ", ".join(PIP_NAMES.get(m, m) for m in absent)
        raise MisconfiguredError(f"{purpose} needs {names}: pip install 'patent-cpc[{extra}]'")
