"""Checks of the values a Space event receives raw (``preprocess=False``) and of what its errors may show."""

from __future__ import annotations

import math
import re
from pathlib import Path

from cpc_dataset.errors import InputError
from spaces.formatting import MAX_TOP_K

_PATH = re.compile(
    r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\",;()]+)+[\\/]([^\s\\/'\",;()]+)"
)  # a path -> its file name


def check_top_k(value) -> int:
    """The top-k a client sent, as an int; InputError for a string, NaN or a negative or fractional number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or value != int(value)
    ):
        raise InputError(f"top_k must be a whole number from 1 to {MAX_TOP_K} (0: no limit), not {str(value)[:40]!r}")
    return int(value)


def check_threshold(value) -> float:
    """The threshold a client sent; InputError unless it is a number from 0 to 1 (0: the tuned thresholds)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:  # NaN fails the range too
        raise InputError(f"threshold must be a number from 0 to 1 (0: the tuned ones), not {str(value)[:40]!r}")
    return float(value)


def without_paths(message: str) -> str:
    """``message`` with every file path cut to its file name: users never see the server's folders."""
    return _PATH.sub(r"\1", message)


def uploaded_path(file, uploads: Path) -> str | None:
    """The path of a file gradio received (raw ``FileData``), refused unless it lies in gradio's upload folder."""
    if not file:
        return None
    path = file.get("path") if isinstance(file, dict) else file
    if not isinstance(path, str) or not Path(path).resolve().is_relative_to(uploads.resolve()):
        raise InputError("upload the CSV file through the Space (a path on the server is not accepted)")
    return path
