"""Conversion of TF-IDF model folders to storage format 2, and one vectorizer for an ensemble's members.

``convert_folder(model_dir)`` rewrites a ``tfidf-svm`` / ``tfidf-knn`` folder, or every TF-IDF member of an
ensemble, from format 1 (``vectorizers.json``, ``idf.npz``, ``linear.npz``, ``knn_bank.npz``, ``knn_docs.json``)
to format 2 (memory-mapped ``.npy``, ``cpc_models.kinds.vectorizer`` and ``cpc_models.kinds.bank``); predictions
do not change. In an ensemble, members with identical vectorizers then share one copy at the top
(``vectorizer/``). ``drop_predictions`` removes the ``predictions/`` folders (scores kept for ensemble training,
not needed to predict).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from cpc_models.files import (
    CONFIG_FILE,
    ENSEMBLE_FILE,
    IDF_FILE,
    KNN_BANK_FILE,
    KNN_DOCS_FILE,
    LINEAR_DIR,
    LINEAR_WEIGHTS_FILE,
    PREDICTIONS_DIR,
    VECTORIZER_DIR,
    VECTORIZERS_FILE,
)

log = logging.getLogger(__name__)


def _convert_member(model_dir: Path, kind: str) -> None:
    from cpc_models.kinds.vectorizer import Vectorizer, save_member_vectorizer, vectorizer_folder
    from cpc_models.registry import read_model_config

    config = read_model_config(model_dir)
    if config.get("cpc_model_type") != kind:  # a legacy type name ("linear"): the kind's own name from now on
        config["cpc_model_type"] = kind
        (model_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if vectorizer_folder(model_dir) is None:
        save_member_vectorizer(model_dir, Vectorizer.load_v1(model_dir))
        for name in (VECTORIZERS_FILE, IDF_FILE):
            (model_dir / name).unlink()
    if kind == "tfidf-svm" and (model_dir / LINEAR_WEIGHTS_FILE).exists():
        from cpc_models.kinds.tfidf_svm import load, save_linear

        s = load(model_dir)
        save_linear(model_dir / LINEAR_DIR, s.coef, s.intercept, s.slope, s.offset)
        (model_dir / LINEAR_WEIGHTS_FILE).unlink()
    if kind == "tfidf-knn" and (model_dir / KNN_BANK_FILE).exists():
        from scipy.sparse import csr_matrix

        from cpc_models.files import BANK_DIR
        from cpc_models.kinds.bank_files import docs_v1, save_bank

        b = np.load(model_dir / KNN_BANK_FILE)
        rows = csr_matrix((b["data"].astype(np.float32), b["indices"], b["indptr"]), shape=tuple(b["shape"]))
        docs = docs_v1(model_dir, rows.shape[0])
        save_bank(model_dir / BANK_DIR, rows, b["labels"], int(b["knn"][0]), float(b["knn"][1]), docs)
        (model_dir / KNN_BANK_FILE).unlink()
        (model_dir / KNN_DOCS_FILE).unlink(missing_ok=True)


def _same(a, b) -> bool:
    return len(a.blocks) == len(b.blocks) and all(
        (x.name, x.field, x.weight, x.params, x.terms) == (y.name, y.field, y.weight, y.params, y.terms)
        and np.array_equal(x.idf, y.idf)
        for x, y in zip(a.blocks, b.blocks)
    )


def share_vectorizers(ensemble_dir: str | Path) -> int:
    """Members (inside ``ensemble_dir``) whose vectorizers are identical point at one copy in
    ``<ensemble_dir>/vectorizer/``; their own copies are removed. Returns the number of members sharing it."""
    from cpc_models.kinds.vectorizer import Vectorizer, link_vectorizer, vectorizer_folder

    ensemble_dir = Path(ensemble_dir).resolve()
    spec = json.loads((ensemble_dir / ENSEMBLE_FILE).read_text())
    members = [(ensemble_dir / m["path"]).resolve() for m in spec["members"]]
    linked = [(m, vectorizer_folder(m)) for m in members if m.is_relative_to(ensemble_dir)]
    linked = [(m, f) for m, f in linked if f is not None]
    if not linked:
        return 0
    shared_dir = ensemble_dir / VECTORIZER_DIR
    first = Vectorizer.load(linked[0][1])
    sharing = [(m, f) for m, f in linked if f == shared_dir or _same(first, Vectorizer.load(f))]
    if len(sharing) < 2 and not (shared_dir.exists() and sharing):
        return len(sharing)
    if linked[0][1] != shared_dir:
        first.save(shared_dir)
    for m, f in sharing:
        link_vectorizer(m, shared_dir)
        if f != shared_dir and f.is_relative_to(m):
            shutil.rmtree(f)
    return len(sharing)


def convert_folder(model_dir: str | Path, drop_predictions: bool = True) -> list[Path]:
    """Convert a TF-IDF folder, or an ensemble's TF-IDF members, to format 2 in place. Returns the folders changed."""
    from cpc_models.registry import kind_of

    model_dir = Path(model_dir)
    kind = kind_of(model_dir)
    changed = []
    if kind == "ensemble":
        spec = json.loads((model_dir / ENSEMBLE_FILE).read_text())
        for m in spec["members"]:
            path = (model_dir / m["path"]).resolve()
            member_kind = kind_of(path)
            if member_kind in ("tfidf-svm", "tfidf-knn") and path.is_relative_to(model_dir.resolve()):
                _convert_member(path, member_kind)
                changed.append(path)
                if drop_predictions:
                    shutil.rmtree(path / PREDICTIONS_DIR, ignore_errors=True)
        share_vectorizers(model_dir)
    elif kind in ("tfidf-svm", "tfidf-knn"):
        _convert_member(model_dir, kind)
        changed.append(model_dir)
    if drop_predictions:
        shutil.rmtree(model_dir / PREDICTIONS_DIR, ignore_errors=True)
    log.info("converted %s", ", ".join(map(str, changed)) or "nothing")
    return changed
