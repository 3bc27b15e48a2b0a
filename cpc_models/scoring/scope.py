"""Training side of the evidence: the out-of-scope thresholds (``scope.json``), fitted on validation. What
prediction reads lives in ``cpc_models.predict.evidence``; the neighbour index a model without a TF-IDF kNN member
ships is built by ``cpc_models.kinds.neighbour_index``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
