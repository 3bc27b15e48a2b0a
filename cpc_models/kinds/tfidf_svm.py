"""Kind ``tfidf-svm``: TF-IDF features (``cpc_models.kinds.tfidf``) and one linear model per code.

``LinearSVC`` (default) or ``LogisticRegression`` (``classifier: logreg``), one per label. SVM decision values
are mapped to [0, 1] by one Platt sigmoid (a slope and an intercept shared by all labels) fitted on validation.
Folder (format 2): ``features.json`` (its vectorizer folder, ``cpc_models.kinds.vectorizer``) and ``linear/``
(coefficients as a features x labels CSR matrix in memory-mapped ``.npy`` arrays, float32 values of float16
precision; intercepts; ``linear.json``: shape and sigmoid). Format 1 (``vectorizers.json``, ``idf.npz``,
``linear.npz``) still loads. Folders of type ``linear`` written before the kinds had their own names load as this kind.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.files import LINEAR_COEF_FILE, LINEAR_DIR, LINEAR_FILE, LINEAR_INTERCEPT_FILE
from cpc_models.files import LINEAR_WEIGHTS_FILE as WEIGHTS_FILE
from cpc_models.kinds.common import fit_per_label, fit_platt, sigmoid
from cpc_models.kinds.config import option
from cpc_models.kinds.sparse import Csr, as_csr, matmul_dense
from cpc_models.kinds.tfidf import TfidfConfig, TfidfScorer, fit_vectorizer
from cpc_models.kinds.vectorizer import load_vectorizer, save_member_vectorizer

log = logging.getLogger(__name__)


@dataclass
class Config(TfidfConfig):
    output_dir: str = option("hub/models/tfidf-svm", flags=("--out",), help="Model folder to write.")
    classifier: str = option(
        "svc", choices=("svc", "logreg"), help="LinearSVC (Platt-calibrated) or logistic regression per code."
    )
    C: float = option(0.3, help="Inverse regularisation strength.")
    min_weight: float = option(0.03, help="Coefficients smaller than this (absolute) are dropped when saving.")
    n_jobs: int = option(
        0, help="Processes fitting the per-code models (each holds a copy of the features); 0: all cores."
    )


class LinearScorer(TfidfScorer):
    """Sparse features -> decision values -> sigmoid (Platt for SVMs, the logistic link for logreg)."""

    def __init__(
        self, labels: list[str], vectorizer, coef, intercept: np.ndarray, slope: float = 1.0, offset: float = 0.0
    ):
        super().__init__(labels, vectorizer)
        # (n_features, n_labels) as CSR: a text's few features pick their rows, no conversion per call
        self.coef = as_csr(coef)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.slope, self.offset = float(slope), float(offset)

    def decision_function(self, texts: list[str]) -> np.ndarray:
        return matmul_dense(self.features(texts), self.coef) + self.intercept

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return sigmoid(self.slope * self.decision_function(texts) + self.offset)

    def explain(
        self, texts: list[str], label_indices: list[list[int]], top: int = 5
    ) -> list[dict[int, list[tuple[str, float]]]]:
        """Per text, per asked label: the ``top`` input terms with the largest TF-IDF weight x coefficient (> 0)."""
        if getattr(self, "_names", None) is None:
            self._names = self.vectorizer.feature_names()  # built once, on the first explanation
        names = self._names
        x = self.features(texts)
        out = []
        for row, labels in enumerate(label_indices):
            start, end = x.indptr[row], x.indptr[row + 1]
            cols, weights = x.indices[start:end], x.data[start:end]
            per_label = {}
            block = self._coef_rows(cols)[:, list(labels)] * weights[:, None] if len(cols) and labels else None
            for n, j in enumerate(labels):
                terms: dict[str, float] = {}
                for c, v in zip(cols, block[:, n] if block is not None else []):
                    terms[names[c]] = terms.get(names[c], 0.0) + float(
                        v
                    )  # a term in the text and the title block: one term
                best = sorted(((t, v) for t, v in terms.items() if v > 0), key=lambda tv: -tv[1])[:top]
                per_label[j] = [(t, round(v, 4)) for t, v in best]
            out.append(per_label)
        return out

    def _coef_rows(self, cols: np.ndarray) -> np.ndarray:
        rows = self.coef.take(cols)
        out = np.zeros((len(cols), self.coef.shape[1]), dtype=np.float32)
        out[np.repeat(np.arange(len(cols)), np.diff(rows.indptr)), rows.indices] = rows.data
        return out

    def save(self, model_dir: str | Path, vectorizer_saved: bool = False) -> None:
        """Weights in ``<model_dir>/linear/``; the vectorizer in ``<model_dir>/vectorizer/`` unless already saved and
        linked (an ensemble's shared one)."""
        if not vectorizer_saved:
            save_member_vectorizer(model_dir, self.vectorizer)
        save_linear(Path(model_dir) / LINEAR_DIR, self.coef, self.intercept, self.slope, self.offset)


def save_linear(folder: Path, coef, intercept: np.ndarray, slope: float, offset: float) -> None:
    from scipy.sparse import csr_matrix

    folder.mkdir(parents=True, exist_ok=True)
    coef = csr_matrix(coef.to_scipy() if isinstance(coef, Csr) else coef, dtype=np.float32)
    coef.sort_indices()
    np.save(folder / LINEAR_COEF_FILE.format(part="data"), coef.data.astype(np.float16).astype(np.float32))
    np.save(folder / LINEAR_COEF_FILE.format(part="indices"), coef.indices.astype(np.int32))
    np.save(
        folder / LINEAR_COEF_FILE.format(part="indptr"), coef.indptr.astype(np.int64 if coef.nnz >= 2**31 else np.int32)
    )
    np.save(folder / LINEAR_INTERCEPT_FILE, np.asarray(intercept, dtype=np.float32))
    spec = {"format": 2, "shape": list(coef.shape), "sigmoid": [float(slope), float(offset)]}
    (folder / LINEAR_FILE).write_text(json.dumps(spec, indent=2) + "\n")


def load(model_dir: Path, backend: str = "native") -> LinearScorer:
    from cpc_models.registry import folder_labels

    labels, vectorizer = folder_labels(model_dir), load_vectorizer(model_dir)
    folder = model_dir / LINEAR_DIR
    if (folder / LINEAR_FILE).exists():
        spec = json.loads((folder / LINEAR_FILE).read_text())
        # copy-on-write maps: shared pages, never written (the product kernel refuses read-only arrays)
        arrays = [
            np.load(folder / LINEAR_COEF_FILE.format(part=k), mmap_mode="c") for k in ("data", "indices", "indptr")
        ]
        coef = Csr(*arrays, tuple(spec["shape"]))
        intercept = np.load(folder / LINEAR_INTERCEPT_FILE)
        return LinearScorer(labels, vectorizer, coef, intercept, *spec["sigmoid"])
    from scipy.sparse import csc_matrix  # format 1

    w = np.load(model_dir / WEIGHTS_FILE)
    coef = csc_matrix((w["data"].astype(np.float32), w["indices"], w["indptr"]), shape=tuple(w["shape"]))
    slope, offset = w["sigmoid"]
    return LinearScorer(labels, vectorizer, coef, w["intercept"], slope, offset)


def fit_classifier(config: Config, x, y: np.ndarray):
    """One binary model per label; returns coefficients (n_features, n_labels) and intercepts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if config.classifier == "svc":
        make = lambda: LinearSVC(C=config.C, random_state=config.seed)  # noqa: E731
    elif config.classifier == "logreg":
        make = lambda: LogisticRegression(C=config.C, solver="liblinear", random_state=config.seed)  # noqa: E731
    else:
        from cpc_dataset.errors import InputError

        raise InputError(f"unknown classifier {config.classifier!r}: svc or logreg")
    if hasattr(x, "tocsr") and x.dtype != np.float64:
        x = x.tocsr().astype(np.float64)  # liblinear's input type, once: not one copy per label per thread
    # both solvers are liblinear's: processes, so the weights do not depend on n_jobs
    return fit_per_label(x, y, make, desc=f"fitting {config.classifier}", n_jobs=config.n_jobs or None, processes=True)


def default_features(config: Config) -> bool:
    """Are ``config``'s TF-IDF options the defaults (those of the neighbour index a model without one gets)?"""
    from dataclasses import fields

    from cpc_models.kinds.config import KindConfig

    own = [f for f in fields(TfidfConfig) if f.name not in {g.name for g in fields(KindConfig)} | {"seed"}]
    return all(getattr(config, f.name) == f.default for f in own)


def prune(coef: np.ndarray, min_weight: float):
    """Drop the small coefficients and round the rest to float16 (as saved), so the model in memory is the saved one."""
    from scipy.sparse import csc_matrix

    coef[np.abs(coef) < min_weight] = 0.0  # in place: no second dense copy as the vocabulary grows
    coef[:] = coef.astype(np.float16)
    return csc_matrix(coef)


def train(config: Config, features: tuple | None = None, neighbour_index: bool = True) -> dict:
    """Fit on train, calibrate (SVM) on validation, save the folder, finalize it. Returns test metrics.

    ``features``: ``(vectorizer, x)`` already fitted with this config's TF-IDF options on the train split (one fit
    shared by the members of a recipe); fitted here when None. ``neighbour_index=False``: no neighbour index (similar
    patents, scope flag) of its own, for a member whose ensemble takes them from a kNN member's bank (the default
    recipe; this index made the recipe's training peak: ``benchmarks/results/scale.md``)."""
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder
    from cpc_models.registry import write_model_config

    out = Path(config.output_dir)
    train_split = load_split(config.dataset_dir, "train")
    val = load_split(config.dataset_dir, "validation", train_split.vocabulary)
    t0 = time.perf_counter()
    vectorizer, x = features or fit_vectorizer(config, train_split.texts)
    y, labels = train_split.y, train_split.vocabulary
    del train_split  # its texts are not needed from here (at millions of documents, gigabytes)
    coef, intercept = fit_classifier(config, x, y)
    sparse = prune(coef, config.min_weight)
    scorer = LinearScorer(labels, vectorizer, sparse, intercept)
    if config.classifier == "svc":
        scorer.slope, scorer.offset = fit_platt(scorer.decision_function(val.texts), val.y)
    seconds = time.perf_counter() - t0
    log.info("trained in %.0f s (%d weights kept)", seconds, sparse.nnz)
    scorer.save(out)
    if neighbour_index and default_features(config):  # the index finalize would fit: the same features, fitted once
        from cpc_models.kinds.neighbour_index import build_neighbour_index

        build_neighbour_index(out, config.dataset_dir, features=(vectorizer, x))
    del x
    write_model_config(
        out,
        "tfidf-svm",
        labels,
        classifier=config.classifier,
        features=[b.name for b in vectorizer.blocks],
    )
    run = {"train_seconds": round(seconds, 1), "n_features": vectorizer.n_features, "nonzero_weights": int(sparse.nnz)}
    description = (
        f"TF-IDF ({vectorizer.describe()} blocks) with one {config.classifier} per CPC code (scikit-learn), "
        "saved as JSON vocabularies and .npz arrays (no pickle)."
    )
    return finalize_model_folder(
        out,
        config.dataset_dir,
        {**config.to_dict(), "kind": "tfidf-svm", "run": run},
        scorer=scorer,
        description=description,
        neighbour_index=neighbour_index,
    )
