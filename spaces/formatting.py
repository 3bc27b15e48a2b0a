"""Pure functions shared by the Space, the server and the web app: input checks and result shapes."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from cpc_dataset.codes import code_level
from cpc_dataset.errors import CpcError, InputError, InvalidCodeError
from cpc_dataset.text import has_words

log = logging.getLogger(__name__)

TABLE_HEADERS = ["code", "score", "section", "class", "subclass"]
MAX_TOP_K = 20  # the Space's top-k slider goes this far
_BINARY_SHARE = 0.01  # more control or replacement characters than this: not text
_ODD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")  # category Cc but tab/LF/CR, and U+FFFD


def check_text(text: object, max_chars: int) -> str:
    """The text, if it can be classified; otherwise an InputError saying why, in words a person can act on."""
    if isinstance(text, bytes):
        raise InputError("the input is binary data, not text: send UTF-8 text")
    if not isinstance(text, str):
        raise InputError(f"expected a text (a string), got {type(text).__name__}")
    if not text.strip():
        raise InputError("the text is empty: paste a patent abstract (title first if you have one)")
    if len(text) > max_chars:
        raise InputError(f"the text has {len(text):,} characters; the limit is {max_chars:,}")
    if looks_binary(text):
        raise InputError("the text looks like binary data (control characters), not an abstract")
    if not has_words(text):
        raise InputError("the text has no word to classify (only symbols, emoji, punctuation or invisible characters)")
    return text


def looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    odd = len(_ODD.findall(text))  # a regular expression: fast on a 20,000-character text in the event loop
    return odd > max(1, len(text) * _BINARY_SHARE)


def code_levels(code: str) -> tuple[str, str, str]:
    """Section, class and subclass of a CPC symbol; blanks if it is not one."""
    try:
        return code_level(code, "section"), code_level(code, "class"), code_level(code, "subclass")
    except (InvalidCodeError, ValueError):
        return "", "", ""


def label_value(codes: list) -> dict[str, float]:
    """``{code: score}`` for ``gr.Label``, from CodeScore-like items (``code``/``score`` or ``label``/``score``)."""
    return {_code(c): float(c.score) for c in codes}


def label_codes(value) -> list[str]:
    """The codes of a ``gr.Label`` value as the app receives it (``{code: confidence}``), best first."""
    if not isinstance(value, dict):
        return []
    return [str(code) for code, _ in sorted(value.items(), key=lambda item: -float(item[1] or 0))]


def code_table(codes: list, titles: dict[str, str] | None = None) -> list[list]:
    """One row per code: code, score, section, class, subclass (``TABLE_HEADERS``), then its CPC title if
    ``titles`` (``labels.json``'s, saved by the scraper) is given."""
    rows = [[_code(c), round(float(c.score), 4), *code_levels(_code(c))] for c in codes]
    return [row + [titles.get(row[0], "")] for row in rows] if titles else rows


def ranked_to_api(ranked: list[list]) -> list[list[dict]]:
    """CpcPredictor.ranked output as the Inference API's text-classification answer."""
    return [[{"label": c.code, "score": float(c.score)} for c in row] for row in ranked]


def details_to_api(ranked: list[list], predictions: list) -> list[dict]:
    """``parameters.details``: per text the Inference-API list (``ranked``, CpcPredictor.ranked output) and the full
    prediction (calibrated codes, titles, CPC levels, neighbours, out-of-scope flag)."""
    return [{"ranked": r, "prediction": p.to_dict()} for r, p in zip(ranked_to_api(ranked), predictions)]


def error_message(exc: BaseException) -> str:
    """What a person sees: the message of our own errors, a generic line (and a log entry) for the rest."""
    if isinstance(exc, CpcError):
        return str(exc)
    log.exception("unexpected error while predicting")
    return "Error: the model could not classify this text (see the server log)"


def read_examples(dataset_dir: str | Path, n: int) -> list[str]:
    """Up to ``n`` abstracts (title first) from the dataset's test split; none if the dataset is absent."""
    if n <= 0:
        return []
    try:
        from cpc_models.data import load_split

        split = load_split(dataset_dir, "test")
    except (CpcError, OSError, ImportError) as exc:
        log.warning("no examples: %s", exc)
        return []
    step = max(1, len(split) // n)
    return [split.texts[i] for i in range(0, len(split), step)][:n]


def _code(item) -> str:
    return getattr(item, "code", None) or getattr(item, "label")
