"""TF-IDF features shared by the ``tfidf-svm`` and ``tfidf-knn`` kinds, saved without pickle.

Blocks: word n-gram TF-IDF of the whole text, plus (weighted) word n-gram TF-IDF of the title (the text
before the first ". ", as ``cpc_dataset.text.model_input`` writes it), plus optional char n-grams.
Fitting uses scikit-learn (``fit_blocks``); prediction uses ``cpc_models.kinds.vectorizer.Vectorizer`` (the same
transform, without scikit-learn), saved once in a ``vectorizer/`` folder that every member using it points at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.kinds.common import no_truncation
from cpc_models.kinds.config import KindConfig, option
from cpc_models.kinds.vectorizer import FIELDS, TRANSFORM_PARAMS, Vectorizer, title_of  # noqa: F401
from cpc_models.kinds.vocabulary import DEFAULT_MAX_CANDIDATES


@dataclass
class TfidfConfig(KindConfig):
    word_ngrams: tuple[int, int] = option((1, 2), help="Word n-gram range.")
    min_df: int = option(2, help="Minimum document frequency of an n-gram.")
    max_df: float = option(0.5, help="Maximum document share of an n-gram.")
    max_features: int | None = option(
        400_000, help="Largest vocabulary per block (bounds memory as the corpus grows); 0 for no bound."
    )
    max_candidates: int = option(
        DEFAULT_MAX_CANDIDATES,
        help="Distinct word n-grams counted at once while fitting; when full, the rarest so far are dropped "
        "(bounds the fit's memory; below it the fit is exact).",
    )
    title_weight: float = option(0.5, help="Weight of the title's own TF-IDF block; 0 drops it.")
    char_ngrams: tuple[int, int] | None = option(
        None, help="Add a char_wb n-gram block, e.g. 2 5 (slow, no better here)."
    )
    char_weight: float = option(1.0, help="Weight of the char block.")
    seed: int = option(0)


@dataclass
class FeatureBlock:
    """One TF-IDF vectorizer over one field of the text, scaled by ``weight``."""

    name: str
    field: str
    weight: float
    vectorizer: object = field(repr=False)

    def transform(self, texts: list[str]):
        return self.vectorizer.transform([FIELDS[self.field](t) for t in texts]) * self.weight


def make_blocks(config: TfidfConfig) -> list[FeatureBlock]:
    """The configured blocks, unfitted: the word blocks count in bounded memory (``kinds.vocabulary``)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from cpc_models.kinds.vocabulary import StreamedTfidf

    if config.max_candidates < 1:
        raise InputError(f"--max-candidates must be at least 1 (got {config.max_candidates})")
    common = {"sublinear_tf": True, "dtype": np.float32}
    words = {"ngram_range": tuple(config.word_ngrams), "strip_accents": "unicode", **common}
    words.update(max_features=config.max_features or None, max_candidates=config.max_candidates)
    try:
        word = StreamedTfidf(min_df=config.min_df, max_df=config.max_df, **words)
        title = StreamedTfidf(min_df=config.min_df, **words)
    except ValueError as exc:  # scikit-learn's parameter check: --max-df 1.5, --max-features -1, --min-df -1
        raise InputError(f"TF-IDF options: {str(exc).splitlines()[0]}") from None
    blocks = [FeatureBlock("word", "text", 1.0, word)]
    if config.title_weight > 0:
        blocks.append(FeatureBlock("title", "title", config.title_weight, title))
    if config.char_ngrams:
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=tuple(config.char_ngrams),
            min_df=3,
            max_df=config.max_df,
            max_features=300_000,
            **common,
        )
        blocks.append(FeatureBlock("char", "text", config.char_weight, char))
    return blocks


def fit_features(blocks: list[FeatureBlock], texts: list[str]):
    from scipy.sparse import hstack

    parts = []
    for b in blocks:
        try:
            parts.append(b.vectorizer.fit_transform([FIELDS[b.field](t) for t in texts]) * b.weight)
        except ValueError as exc:  # no n-gram left: --min-df / --max-df / --max-candidates too tight for the texts
            if "no terms remain" not in str(exc) and "empty vocabulary" not in str(exc):
                raise
            raise InputError(f"the {b.name} TF-IDF block: {str(exc).splitlines()[0]}") from None
    return hstack(parts).tocsr()


class TfidfScorer:
    """What both TF-IDF scorers share: labels, one vectorizer (shared with the members that use the same one),
    no truncation (the whole text is read)."""

    backend = "native"

    def __init__(self, labels: list[str], vectorizer: Vectorizer):
        self.labels = list(labels)
        self.vectorizer = vectorizer

    def features(self, texts: list[str]):
        from cpc_models.kinds.batch import features

        return features(texts, self.vectorizer)

    def known(self, texts: list[str]) -> np.ndarray:
        """Per text: does it hold a word the model knows (a non-empty TF-IDF row)."""
        return np.diff(self.features(texts).indptr) > 0

    def truncated(self, texts: list[str]) -> list[bool]:
        return no_truncation(texts)


def fit_blocks(config: TfidfConfig, texts: list[str]):
    """The configured blocks fitted on ``texts``, and the training feature matrix."""
    import logging

    blocks = make_blocks(config)
    x = fit_features(blocks, texts)
    logging.getLogger(__name__).info("features: %d x %d", *x.shape)
    return blocks, x


def describe_blocks(blocks: list[FeatureBlock]) -> str:
    return ", ".join(b.name for b in blocks)


def fit_vectorizer(config: TfidfConfig, texts: list[str]):
    """The fitted vectorizer (prediction side) and the training feature matrix."""
    blocks, x = fit_blocks(config, texts)
    return Vectorizer.from_sklearn(blocks), x
