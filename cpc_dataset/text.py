"""Text clean-up shared by the dataset build and the predictors."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"\w")


def clean_text(text: str | None) -> str:
    """NFKC-normalise, drop control characters, collapse whitespace, strip."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _SPACE.sub(" ", text).strip()


def abstract_key(text: str) -> str:
    """The key two abstracts share when they say the same thing: case, punctuation and spacing removed."""
    return _NON_WORD.sub(" ", clean_text(text).casefold()).strip()


def has_words(text: str) -> bool:
    """Whether ``text`` has a letter or digit in any script (what the models can read)."""
    return _WORD.search(text) is not None


def model_input(title: str | None, abstract: str | None) -> str:
    """What the models read: the title, then the abstract."""
    title, abstract = clean_text(title), clean_text(abstract)
    return f"{title}. {abstract}" if title else abstract
