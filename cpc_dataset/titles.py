"""CPC code titles that the scraper saved beside its raw CSVs (``<raw>.csv.codes.json``: ``{code: title}``).

``cpc data build`` puts the titles of its label vocabulary in ``labels.json`` (``"titles"``) and in the
dataset card; the Space shows them in its code table. A raw folder without such files has no titles, and
everything works as before.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from cpc_dataset.codes import parse_code
from cpc_dataset.errors import InputError, InvalidCodeError

log = logging.getLogger(__name__)

CODES_SUFFIX = ".codes.json"


def read_code_titles(raw_dir: str | Path) -> dict[str, str]:
    """``{normalised code: title}`` from every ``*.codes.json`` in ``raw_dir`` (the first file to name a code wins)."""
    titles: dict[str, str] = {}
    folder = Path(raw_dir)
    if not folder.is_dir():
        return titles
    for path in sorted(folder.glob(f"*{CODES_SUFFIX}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a JSON file of code titles ({exc})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object {{code: title}}, found a {type(data).__name__}")
        for code, title in data.items():
            if not isinstance(title, str) or not title.strip():
                continue
            try:
                code = parse_code(code).symbol
            except InvalidCodeError:
                pass  # sections, classes and subclasses keep their spelling
            titles.setdefault(code.strip(), " ".join(title.split()))
    return titles


def vocabulary_titles(raw_dir: str | Path, vocabulary: list[str]) -> dict[str, str]:
    """The titles of the codes in ``vocabulary`` that have one, in vocabulary order."""
    titles = read_code_titles(raw_dir)
    return {code: titles[code] for code in vocabulary if code in titles}


def read_label_titles(dataset_dir: str | Path) -> dict[str, str]:
    """The ``titles`` of a dataset folder's ``labels.json`` (empty when absent or unreadable)."""
    path = Path(dataset_dir) / "labels.json"
    try:
        titles = json.loads(path.read_text(encoding="utf-8")).get("titles") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in titles.items()} if isinstance(titles, dict) else {}
