"""Training side of the evidence: the out-of-scope thresholds (``scope.json``) and, for models without a TF-IDF
kNN member, a neighbour index shipped in the model folder. What prediction reads lives in
``cpc_models.predict.evidence``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cpc_models.files import NEIGHBOUR_INDEX_DIR
from cpc_models.predict.evidence import MIN_FLAG_PRECISION, SCOPE_K, Scope


def scope_signals(index, texts: list[str], k: int = SCOPE_K, temperature: float = 10.0, chunk: int = 512):
    """Per text: the nearest training patent's cosine similarity and the labelled share of the ``k`` nearest."""
    from cpc_models.kinds.batch import TextBatch

    nearest, share = [], []
    for start in range(0, len(texts), chunk):
        rows, sims = index.nearest(TextBatch(texts[start : start + chunk]), k)
        nearest.append(sims[:, 0])
        share.append(index.bank.labelled_share(rows, sims, temperature))
    return np.concatenate(nearest), np.concatenate(share)


def fit_scope(index, texts: list[str], unlabelled: np.ndarray, model_dir: str | Path | None = None) -> Scope:
    """Thresholds on validation: for each signal, the largest cut whose flagged texts (at least 10) have none of
    their codes among the model's labels at least ``MIN_FLAG_PRECISION`` of the time; 0 (never flags) if no cut does."""
    nearest, share = scope_signals(index, texts)
    scope = Scope(flag_precision={})
    for name, signal in (("min_similarity", nearest), ("min_labelled_share", share)):
        best = 0.0
        for cut in np.unique(np.round(np.quantile(signal, np.linspace(0.005, 0.3, 60)), 3)):
            flagged = signal < cut
            if flagged.sum() >= 10 and unlabelled[flagged].mean() >= MIN_FLAG_PRECISION:
                best = float(cut)
                scope.flag_precision[name] = {
                    "flagged": int(flagged.sum()),
                    "of": len(signal),
                    "without_a_model_code": round(float(unlabelled[flagged].mean()), 3),
                }
        setattr(scope, name, best)
    if model_dir is not None:
        scope.save(model_dir)
    return scope


def build_neighbour_index(model_dir: str | Path, dataset_dir: str | Path) -> Path:
    """A TF-IDF neighbour index of the training split in ``<model_dir>/neighbour_index`` (for models without one)."""
    from cpc_models.data import load_split
    from cpc_models.files import BANK_DIR
    from cpc_models.kinds.bank import DEFAULT_K, DEFAULT_TEMPERATURE, bank_docs, save_bank
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer
    from cpc_models.kinds.vectorizer import save_member_vectorizer
    from cpc_models.registry import write_model_config

    train = load_split(dataset_dir, "train")
    vectorizer, x = fit_vectorizer(TfidfConfig(), train.texts)
    out = Path(model_dir) / NEIGHBOUR_INDEX_DIR
    save_member_vectorizer(out, vectorizer)
    docs = bank_docs(dataset_dir, train)
    save_bank(out / BANK_DIR, x, train.y, DEFAULT_K, DEFAULT_TEMPERATURE, docs, n_labels=len(train.vocabulary))
    write_model_config(out, "tfidf-knn", train.vocabulary, purpose="neighbour index")
    return out
