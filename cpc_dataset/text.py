"""Text clean-up shared by the dataset build and the predictors."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# ASCII fast paths (most patent text): the same results as the general code, several times faster
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")  # ASCII controls that str.split() keeps
_ASCII_KEY = bytes(c + 32 if 65 <= c <= 90 else c if chr(c).isalnum() else 32 for c in range(256))
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_WORD = re.compile(r"\w")


def clean_text(text: str | None) -> str:
    """NFKC-normalise, drop control characters, collapse whitespace, strip."""
    if not text:
        return ""
    if text.isascii():  # NFKC leaves ASCII alone; its non-printables are controls; split() collapses the rest
        if _ASCII_CONTROL.search(text):
            text = _ASCII_CONTROL.sub(" ", text)
        return " ".join(text.split())
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return _SPACE.sub(" ", text).strip()


def abstract_key(text: str) -> str:
    """The key two abstracts share when they say the same thing: case, punctuation and spacing removed."""
    if text and text.isascii():
        return " ".join(text.encode("ascii").translate(_ASCII_KEY).decode("ascii").split())
    return _NON_WORD.sub(" ", clean_text(text).casefold()).strip()


def has_words(text: str) -> bool:
    """Whether ``text`` has a letter or digit in any script (what the models can read)."""
    return _WORD.search(text) is not None


def model_input(title: str | None, abstract: str | None) -> str:
    """What the models read: the title, then the abstract."""
    title, abstract = clean_text(title), clean_text(abstract)
    return f"{title}. {abstract}" if title else abstract
