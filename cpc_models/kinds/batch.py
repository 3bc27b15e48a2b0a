"""``TextBatch``: the texts of one model call, with what the models compute from them.

A list of texts (any scorer takes it as one) that also keeps, per batch, the TF-IDF rows of each vectorizer and
the neighbour hits of each bank: members that share a vectorizer vectorize a chunk once, and one neighbour
search serves the vote, the similar patents, the voters and the scope flag (the hits keep their cosine ranking,
``NeighbourBank.nearest``). One batch per call: thread-safe.
"""

from __future__ import annotations


class TextBatch(list):
    def __init__(self, texts, depth: int = 0, near: int = 0):
        super().__init__(texts)
        self.depth = depth  # neighbour hits to keep per text (the predictor asks for what its evidence needs)
        self.near = near  # most similar rows the evidence will ask for (ranked once, for all of it)
        self.cache: dict = {}

    def take(self, rows) -> TextBatch:
        """The texts at ``rows``, with their cached TF-IDF rows (neighbour hits are searched again)."""
        rows = list(rows)
        out = TextBatch([self[i] for i in rows], self.depth, self.near)
        for key, value in self.cache.items():
            if key[0] == "features":
                out.cache[key] = value.take(rows)
        return out


def features(texts, vectorizer):
    """``vectorizer.transform(texts)``, once per batch."""
    if not isinstance(texts, TextBatch):
        return vectorizer.transform(list(texts))
    key = ("features", id(vectorizer))
    if key not in texts.cache:
        texts.cache[key] = vectorizer.transform(texts)
    return texts.cache[key]


def hits(texts, vectorizer, bank, depth: int):
    """``bank.search`` of the texts' TF-IDF rows, at least ``depth`` deep, once per batch."""
    depth = max(depth, getattr(texts, "depth", 0))
    if not isinstance(texts, TextBatch):
        return bank.search(features(texts, vectorizer), depth)
    key = ("hits", id(bank))
    found = texts.cache.get(key)
    if found is None or (found.depth < min(depth, bank.n_rows) and not found.complete.all()):
        found = texts.cache[key] = bank.search(features(texts, vectorizer), depth)
    return found
