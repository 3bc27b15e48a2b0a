"""Texts with no word the model knows: no codes, a reason (``"no known words"``), 422 from ``cpc serve``.

A text of words the model never saw ("zzzz qqqq", "中", "a") has an empty TF-IDF row: every code's score is then
the model's prior, the same for any such text, so the servers refuse it with a reason instead of answering
G06N3/08 at 0.12. ``known_words`` is the one place the servers ask; it uses the scorer's ``known(texts)`` where
the model has one, else the TF-IDF rows of its members (models without TF-IDF features know every text).
"""

from __future__ import annotations

from cpc_dataset.errors import InputError

NO_KNOWN_WORDS = "no known words"  # Prediction.reason of such a text (the predictor's own constant once it has one)
MESSAGE = f"{NO_KNOWN_WORDS}: the model knows none of the words of this text (a typo, gibberish, another language?)"


def known_words(predictor, texts: list[str]) -> list[bool]:
    """Per text: does the model know at least one of its words."""
    scorer = getattr(predictor, "scorer", None)
    known = getattr(scorer, "known", None)
    if known is not None:
        return [bool(k) for k in known(texts)]
    blocks = [m.blocks for m in getattr(scorer, "members", [scorer]) if getattr(m, "blocks", None)]
    if not blocks:
        return [True] * len(texts)
    from cpc_models.kinds.tfidf import transform_features

    flags = [False] * len(texts)
    for member_blocks in blocks:
        rows = transform_features(member_blocks, texts)
        flags = [f or rows.indptr[i + 1] > rows.indptr[i] for i, f in enumerate(flags)]
    return flags


def require_known_words(predictor, text: str) -> str:
    """The text, or InputError("no known words: ...")."""
    if not known_words(predictor, [text])[0]:
        raise InputError(MESSAGE)
    return text
