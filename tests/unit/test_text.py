"""The ASCII fast paths of clean_text and abstract_key give what the general (Unicode) code gives."""

from __future__ import annotations

import random
import re
import unicodedata

from cpc_dataset.text import abstract_key, clean_text


def reference_clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def reference_key(text: str) -> str:
    return re.sub(r"[\W_]+", " ", reference_clean(text).casefold()).strip()


def test_ascii_fast_paths_match_the_general_code():
    rng = random.Random(0)
    alphabet = [chr(i) for i in range(128)] + list("aaaaeeee    ")
    texts = ["", " ", "A\tB\x00c\x1fd\x7f", "Hello,  World!_x", "line\r\nbreak\x0bvt\x1cfs"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 60))) for _ in range(3000)]
    for text in texts:
        assert clean_text(text) == reference_clean(text), repr(text)
        assert abstract_key(text) == reference_key(text), repr(text)


def test_non_ascii_text_takes_the_general_path():
    assert clean_text("ﬁne\u200b text\u00a0 here") == reference_clean("ﬁne\u200b text\u00a0 here") == "fine text here"
    assert abstract_key("Straße – ÉTÉ") == reference_key("Straße – ÉTÉ") == "strasse été"
