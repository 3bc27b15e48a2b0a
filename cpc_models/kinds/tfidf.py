"""TF-IDF features shared by the ``tfidf-svm`` and ``tfidf-knn`` kinds, saved without pickle.

Blocks: word n-gram TF-IDF of the whole text, plus (weighted) word n-gram TF-IDF of the title (the text
before the first ". ", as ``cpc_dataset.text.model_input`` writes it), plus optional char n-grams.
Folder files: ``vectorizers.json`` (parameters and vocabularies) and ``idf.npz``; ``load_blocks`` rebuilds
scikit-learn vectorizers from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cpc_models.files import IDF_FILE, VECTORIZERS_FILE
from cpc_models.kinds.common import no_truncation
from cpc_models.kinds.config import KindConfig, option

# TfidfVectorizer parameters that decide what transform() returns (everything else is fit-time only)
TRANSFORM_PARAMS = (
    "analyzer",
    "lowercase",
    "strip_accents",
    "token_pattern",
    "ngram_range",
    "norm",
    "use_idf",
    "smooth_idf",
    "sublinear_tf",
)


@dataclass
class TfidfConfig(KindConfig):
    word_ngrams: tuple[int, int] = option((1, 2), help="Word n-gram range.")
    min_df: int = option(2, help="Minimum document frequency of an n-gram.")
    max_df: float = option(0.5, help="Maximum document share of an n-gram.")
    max_features: int | None = option(None, help="Largest word vocabulary. [all]")
    title_weight: float = option(0.5, help="Weight of the title's own TF-IDF block; 0 drops it.")
    char_ngrams: tuple[int, int] | None = option(
        None, help="Add a char_wb n-gram block, e.g. 2 5 (slow, no better here)."
    )
    char_weight: float = option(1.0, help="Weight of the char block.")
    seed: int = option(0)


def title_of(text: str) -> str:
    return text.split(". ", 1)[0]


FIELDS = {"text": lambda t: t, "title": title_of}


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
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = {"sublinear_tf": True, "dtype": np.float32}
    words = {"ngram_range": tuple(config.word_ngrams), "strip_accents": "unicode", **common}
    word = TfidfVectorizer(min_df=config.min_df, max_df=config.max_df, max_features=config.max_features, **words)
    blocks = [FeatureBlock("word", "text", 1.0, word)]
    if config.title_weight > 0:
        blocks.append(
            FeatureBlock("title", "title", config.title_weight, TfidfVectorizer(min_df=config.min_df, **words))
        )
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

    return hstack([b.vectorizer.fit_transform([FIELDS[b.field](t) for t in texts]) * b.weight for b in blocks]).tocsr()


def transform_features(blocks: list[FeatureBlock], texts: list[str]):
    from scipy.sparse import hstack

    return hstack([b.transform(texts) for b in blocks]).tocsr()


class TfidfScorer:
    """What both TF-IDF scorers share: labels, feature blocks, no truncation (the whole text is read)."""

    backend = "native"

    def __init__(self, labels: list[str], blocks: list[FeatureBlock]):
        self.labels = list(labels)
        self.blocks = blocks

    def truncated(self, texts: list[str]) -> list[bool]:
        return no_truncation(texts)


def save_blocks(model_dir: str | Path, blocks: list[FeatureBlock]) -> None:
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    specs, idfs = [], {}
    for b in blocks:
        v = b.vectorizer
        params = {k: v.get_params()[k] for k in TRANSFORM_PARAMS}
        vocab = sorted(v.vocabulary_, key=v.vocabulary_.get)
        specs.append({"name": b.name, "field": b.field, "weight": b.weight, "params": params, "vocabulary": vocab})
        idfs[b.name] = v.idf_.astype(np.float32)
    (model_dir / VECTORIZERS_FILE).write_text(json.dumps(specs, ensure_ascii=False))
    np.savez_compressed(model_dir / IDF_FILE, **idfs)


def load_blocks(model_dir: Path) -> list[FeatureBlock]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    specs = json.loads((model_dir / VECTORIZERS_FILE).read_text())
    idfs = np.load(model_dir / IDF_FILE)
    blocks = []
    for spec in specs:
        params = dict(spec["params"], ngram_range=tuple(spec["params"]["ngram_range"]))
        vectorizer = TfidfVectorizer(
            **params, vocabulary={term: i for i, term in enumerate(spec["vocabulary"])}, dtype=np.float32
        )
        vectorizer.idf_ = idfs[spec["name"]].astype(np.float32)  # also fixes the vocabulary
        blocks.append(FeatureBlock(spec["name"], spec["field"], float(spec["weight"]), vectorizer))
    return blocks


def feature_names(blocks: list[FeatureBlock]) -> list[str]:
    """The term of each column of ``transform_features`` (a title-block column has the same term as its text one)."""
    names = []
    for b in blocks:
        vocab = b.vectorizer.vocabulary_
        names.extend(sorted(vocab, key=vocab.get))
    return names


def fit_blocks(config: TfidfConfig, texts: list[str]):
    """The configured blocks fitted on ``texts``, and the training feature matrix."""
    import logging

    blocks = make_blocks(config)
    x = fit_features(blocks, texts)
    logging.getLogger(__name__).info("features: %d x %d", *x.shape)
    return blocks, x


def describe_blocks(blocks: list[FeatureBlock]) -> str:
    return ", ".join(b.name for b in blocks)
