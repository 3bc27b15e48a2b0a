"""A TF-IDF neighbour index for models without a TF-IDF kNN member, shipped in their folder (``neighbour_index/``,
a ``tfidf-knn`` folder in storage format 2), so that every model shows similar patents and a scope flag."""

from __future__ import annotations

from pathlib import Path

from cpc_models.files import NEIGHBOUR_INDEX_DIR

KIND = "tfidf-knn"  # what the index folder loads as


def build_neighbour_index(model_dir: str | Path, dataset_dir: str | Path, features: tuple | None = None) -> Path:
    """A TF-IDF neighbour index of the training split in ``<model_dir>/neighbour_index`` (for models without one).

    ``features``: ``(vectorizer, x)`` already fitted with the default TF-IDF options on the train split (a
    trainer that has them saves a second fit); fitted here when None."""
    from cpc_models.data import load_split
    from cpc_models.files import BANK_DIR
    from cpc_models.kinds.bank import DEFAULT_K, DEFAULT_TEMPERATURE
    from cpc_models.kinds.bank_files import bank_docs, save_bank
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer
    from cpc_models.kinds.vectorizer import save_member_vectorizer
    from cpc_models.registry import write_model_config

    train = load_split(dataset_dir, "train")
    vectorizer, x = features or fit_vectorizer(TfidfConfig(), train.texts)
    out = Path(model_dir) / NEIGHBOUR_INDEX_DIR
    save_member_vectorizer(out, vectorizer)
    docs = bank_docs(dataset_dir, train)
    save_bank(out / BANK_DIR, x, train.y, DEFAULT_K, DEFAULT_TEMPERATURE, docs, n_labels=len(train.vocabulary))
    write_model_config(out, KIND, train.vocabulary, purpose="neighbour index")
    return out
