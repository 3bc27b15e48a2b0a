"""Texts with no word the model knows: no codes, a reason (``"no known words"``), 422 from ``cpc serve``.

A text of words the model never saw ("zzzz qqqq", "中", "a") has an empty TF-IDF row: every code's score is then
the model's prior, the same for any such text, so the servers refuse it with a reason instead of answering
G06N3/08 at 0.12. ``known_words`` is the one place the servers ask; it uses the scorer's ``known(texts)`` (the
TF-IDF scorers and ensembles have one; models without TF-IDF features know every text).
"""

from __future__ import annotations

from cpc_dataset.errors import InputError
from cpc_models.predict.predictor import NO_KNOWN_WORDS

MESSAGE = f"{NO_KNOWN_WORDS}: the model knows none of the words of this text (a typo, gibberish, another language?)"


def known_words(predictor, texts: list[str]) -> list[bool]:
    """Per text: does the model know at least one of its words."""
    scorer = getattr(predictor, "scorer", None)
    known = getattr(scorer, "known", None)
    if known is not None:
        return [bool(k) for k in known(texts)]
    return [True] * len(texts)


def require_known_words(predictor, text: str) -> str:
    """The text, or InputError("no known words: ...")."""
    if not known_words(predictor, [text])[0]:
        raise InputError(MESSAGE)
    return text
