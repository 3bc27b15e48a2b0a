"""TF-IDF + one-vs-rest linear model (scikit-learn), saved without pickle.

Features: word n-gram TF-IDF of the whole text, plus (weighted) word n-gram TF-IDF of the title (the text
before the first ". ", as ``cpc_dataset.text.model_input`` writes it), plus optional char n-grams.
Classifier: ``LinearSVC`` (default) or ``LogisticRegression``, one per label. SVM decision values are mapped
to [0, 1] by one Platt sigmoid (a slope and an intercept shared by all labels) fitted on validation.
Or ``knn``: the similarity-weighted vote of the most TF-IDF-similar training patents (``knn_bank.npz``).

Folder: ``config.json``, ``vectorizers.json`` (parameters and vocabularies), ``idf.npz``, ``linear.npz``
(coefficients as a sparse float16 CSC matrix, intercepts, sigmoid) or ``knn_bank.npz``. ``load_linear`` rebuilds the vectorizers.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cpc_models.settings import DATASET_DIR, MODELS_DIR

log = logging.getLogger(__name__)

VECTORIZERS_FILE = "vectorizers.json"
IDF_FILE = "idf.npz"
WEIGHTS_FILE = "linear.npz"
KNN_BANK_FILE = "knn_bank.npz"
KNN_DOCS_FILE = "knn_docs.json"  # publication number, title and codes of each bank row (similar patents)
# TfidfVectorizer parameters that decide what transform() returns (everything else is fit-time only)
TRANSFORM_PARAMS = (
    "analyzer", "lowercase", "strip_accents", "token_pattern", "ngram_range", "norm", "use_idf", "smooth_idf", "sublinear_tf",
)


@dataclass
class LinearConfig:
    dataset_dir: str = str(DATASET_DIR)
    output_dir: str = str(MODELS_DIR / "tfidf-linear")
    classifier: str = "svc"  # "svc" (LinearSVC), "logreg", or "knn" (neighbour vote on TF-IDF similarity)
    C: float = 0.3
    k: int = 50  # knn: neighbours that vote
    temperature: float = 10.0  # knn: a vote is exp(temperature * (similarity - best))
    word_ngrams: tuple[int, int] = (1, 2)
    min_df: int = 2
    max_df: float = 0.5
    max_features: int | None = None
    title_weight: float = 0.5  # 0 drops the title block
    char_ngrams: tuple[int, int] | None = None  # e.g. (2, 5); slow and no better here
    char_weight: float = 1.0
    min_weight: float = 0.03  # smaller coefficients (absolute) are dropped: 1/5 of them kept, same validation F1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> LinearConfig:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("word_ngrams", "char_ngrams"):
            if known.get(key) is not None:
                known[key] = tuple(known[key])
        return cls(**known)


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


def make_blocks(config: LinearConfig) -> list[FeatureBlock]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = {"sublinear_tf": True, "dtype": np.float32}
    words = {"ngram_range": tuple(config.word_ngrams), "strip_accents": "unicode", **common}
    word = TfidfVectorizer(min_df=config.min_df, max_df=config.max_df, max_features=config.max_features, **words)
    blocks = [FeatureBlock("word", "text", 1.0, word)]
    if config.title_weight > 0:
        blocks.append(FeatureBlock("title", "title", config.title_weight, TfidfVectorizer(min_df=config.min_df, **words)))
    if config.char_ngrams:
        char = TfidfVectorizer(
            analyzer="char_wb", ngram_range=tuple(config.char_ngrams), min_df=3, max_df=config.max_df, max_features=300_000, **common
        )
        blocks.append(FeatureBlock("char", "text", config.char_weight, char))
    return blocks


def fit_features(blocks: list[FeatureBlock], texts: list[str]):
    from scipy.sparse import hstack

    return hstack([b.vectorizer.fit_transform([FIELDS[b.field](t) for t in texts]) * b.weight for b in blocks]).tocsr()


def transform_features(blocks: list[FeatureBlock], texts: list[str]):
    from scipy.sparse import hstack

    return hstack([b.transform(texts) for b in blocks]).tocsr()


class LinearScorer:
    """Sparse features -> decision values -> sigmoid (Platt for SVMs, the logistic link for logreg)."""

    backend = "native"

    def __init__(self, labels: list[str], blocks: list[FeatureBlock], coef, intercept: np.ndarray, slope: float = 1.0, offset: float = 0.0):
        self.labels = list(labels)
        self.blocks = blocks
        # (n_features, n_labels) as CSR: a text's few features pick their rows, no conversion per call
        self.coef = coef.tocsr() if hasattr(coef, "tocsr") else coef
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.slope, self.offset = float(slope), float(offset)

    def decision_function(self, texts: list[str]) -> np.ndarray:
        x = transform_features(self.blocks, list(texts))
        d = x @ self.coef
        d = d.toarray() if hasattr(d, "toarray") else np.asarray(d)
        return d.astype(np.float32) + self.intercept

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return sigmoid(self.slope * self.decision_function(texts) + self.offset)

    def explain(self, texts: list[str], label_indices: list[list[int]], top: int = 5) -> list[dict[int, list[tuple[str, float]]]]:
        """Per text, per asked label: the ``top`` input terms with the largest TF-IDF weight x coefficient (> 0)."""
        if getattr(self, "_names", None) is None:
            self._names = feature_names(self.blocks)  # built once, on the first explanation
        names = self._names
        x = transform_features(self.blocks, list(texts))
        out = []
        for row, labels in enumerate(label_indices):
            start, end = x.indptr[row], x.indptr[row + 1]
            cols, weights = x.indices[start:end], x.data[start:end]
            per_label = {}
            block = self.coef[cols][:, list(labels)].toarray() * weights[:, None] if len(cols) and labels else None
            for n, j in enumerate(labels):
                terms: dict[str, float] = {}
                for c, v in zip(cols, block[:, n] if block is not None else []):
                    terms[names[c]] = terms.get(names[c], 0.0) + float(v)  # a term in the text and the title block: one term
                best = sorted(((t, v) for t, v in terms.items() if v > 0), key=lambda tv: -tv[1])[:top]
                per_label[j] = [(t, round(v, 4)) for t, v in best]
            out.append(per_label)
        return out

    def save(self, model_dir: str | Path) -> None:
        from scipy.sparse import csc_matrix

        save_blocks(model_dir, self.blocks)
        coef = csc_matrix(self.coef, dtype=np.float32)
        np.savez_compressed(
            model_dir / WEIGHTS_FILE,
            data=coef.data.astype(np.float16), indices=coef.indices, indptr=coef.indptr, shape=np.array(coef.shape),
            intercept=self.intercept, sigmoid=np.array([self.slope, self.offset], dtype=np.float64),
        )


class TfidfKnnScorer:
    """Similarity-weighted vote of the ``k`` training patents with the largest TF-IDF dot product."""

    backend = "native"

    def __init__(
        self, labels: list[str], blocks: list[FeatureBlock], bank, bank_labels: np.ndarray, k: int = 50, temperature: float = 10.0
    ):
        self.labels = list(labels)
        self.blocks = blocks
        self.bank_t = bank.T.tocsr()  # (n_features, n_bank), CSR: a text's terms pick their posting lists
        self.bank_labels = np.asarray(bank_labels, dtype=np.uint8)
        self.k, self.temperature = int(k), float(temperature)
        self.docs: dict | None = None  # publication_number, title, codes per bank row (knn_docs.json), if saved
        self._norms = None
        self._last = None

    def similarities(self, texts: list[str]) -> np.ndarray:
        """Cosine similarity of each text to every bank row (texts x bank)."""
        if self._norms is None:
            self._norms = np.sqrt(np.asarray(self.bank_t.multiply(self.bank_t).sum(axis=0)).ravel()).astype(np.float32)
        x, sim = self._product(list(texts))
        q = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()).astype(np.float32)
        return sim / np.maximum(q[:, None] * self._norms[None, :], 1e-12)

    def neighbours(self, texts: list[str], k: int = 5) -> list[list[dict]]:
        """The ``k`` most similar bank rows per text: row, similarity (cosine) and, where saved, number, title, codes."""
        sim = self.similarities(texts)
        k = min(k, sim.shape[1])
        out = []
        for row in sim:
            idx = np.argsort(-row, kind="stable")[:k]
            out.append([{"row": int(i), "similarity": round(float(row[i]), 4), **self.doc(int(i))} for i in idx])
        return out

    def voters(self, texts: list[str], label_indices: list[list[int]], top: int = 3) -> list[dict[int, list[dict]]]:
        """Per text, per asked label: the most similar of the ``k`` voting neighbours that carry the label."""
        sim = self.similarities(texts)
        k = min(self.k, sim.shape[1])
        out = []
        for row, labels in zip(sim, label_indices):
            idx = np.argsort(-row, kind="stable")[:k]
            out.append({j: [{"row": int(i), "similarity": round(float(row[i]), 4), **self.doc(int(i))}
                            for i in idx if self.bank_labels[i, j]][:top] for j in labels})
        return out

    def doc(self, row: int) -> dict:
        if not self.docs:
            return {}
        return {key: self.docs[key][row] for key in ("publication_number", "title", "codes") if key in self.docs}

    def predict_proba(self, texts: list[str], chunk: int = 1024) -> np.ndarray:
        from cpc_models.kinds.embed import neighbour_vote

        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), chunk):
            x, sim = self._product(list(texts[start : start + chunk]))
            out[start : start + chunk] = neighbour_vote(sim, self.bank_labels, self.k, self.temperature)
        return out

    def _product(self, texts: list[str]):
        """Features and raw dot products with the bank; the last small batch is kept, so the predictor's
        similar-patents lookup right after scoring the same texts does not compute them twice."""
        last = self._last
        if last is not None and last[0] == texts:
            return last[1], last[2]
        x = transform_features(self.blocks, texts)
        sim = (x @ self.bank_t).toarray()
        if len(texts) <= 8:
            self._last = (list(texts), x, sim)  # one tuple assignment: safe to share between threads
        return x, sim

    def save(self, model_dir: str | Path) -> None:
        save_blocks(model_dir, self.blocks)
        bank = self.bank_t.T.tocsr()
        np.savez_compressed(
            Path(model_dir) / KNN_BANK_FILE, data=bank.data.astype(np.float16), indices=bank.indices, indptr=bank.indptr,
            shape=np.array(bank.shape), labels=self.bank_labels, knn=np.array([self.k, self.temperature]),
        )
        if self.docs:
            (Path(model_dir) / KNN_DOCS_FILE).write_text(json.dumps(self.docs, ensure_ascii=False) + "\n")


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
        vectorizer = TfidfVectorizer(**params, vocabulary={term: i for i, term in enumerate(spec["vocabulary"])}, dtype=np.float32)
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


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def load_linear(model_dir: str | Path) -> LinearScorer | TfidfKnnScorer:
    from scipy.sparse import csc_matrix, csr_matrix

    from cpc_models.registry import labels_from_config, read_model_config

    model_dir = Path(model_dir)
    labels = labels_from_config(read_model_config(model_dir))
    blocks = load_blocks(model_dir)
    if (model_dir / KNN_BANK_FILE).exists():
        b = np.load(model_dir / KNN_BANK_FILE)
        bank = csr_matrix((b["data"].astype(np.float32), b["indices"], b["indptr"]), shape=tuple(b["shape"]))
        scorer = TfidfKnnScorer(labels, blocks, bank, b["labels"], int(b["knn"][0]), float(b["knn"][1]))
        if (model_dir / KNN_DOCS_FILE).exists():
            scorer.docs = json.loads((model_dir / KNN_DOCS_FILE).read_text())
        return scorer
    w = np.load(model_dir / WEIGHTS_FILE)
    coef = csc_matrix((w["data"].astype(np.float32), w["indices"], w["indptr"]), shape=tuple(w["shape"]))
    slope, offset = w["sigmoid"]
    return LinearScorer(labels, blocks, coef, w["intercept"], slope, offset)


def fit_classifier(config: LinearConfig, x, y: np.ndarray):
    """One binary model per label; returns coefficients (n_features, n_labels) and intercepts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC
    from tqdm.auto import tqdm

    coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    intercept = np.zeros(y.shape[1], dtype=np.float32)
    for j in tqdm(range(y.shape[1]), desc=f"fitting {config.classifier}", unit="label"):
        if y[:, j].min() == y[:, j].max():  # a label with no positives (tiny subsets): never predicted
            intercept[j] = -10.0 if y[0, j] == 0 else 10.0
            continue
        if config.classifier == "svc":
            model = LinearSVC(C=config.C, random_state=config.seed)
        elif config.classifier == "logreg":
            model = LogisticRegression(C=config.C, solver="liblinear", random_state=config.seed)
        else:
            raise ValueError(f"unknown classifier {config.classifier!r}: svc or logreg")
        model.fit(x, y[:, j])
        coef[:, j] = model.coef_[0]
        intercept[j] = model.intercept_[0]
    return coef, intercept


def prune(coef: np.ndarray, min_weight: float):
    """Drop the small coefficients and round the rest to float16 (as saved), so the model in memory is the saved one."""
    from scipy.sparse import csc_matrix

    kept = np.where(np.abs(coef) >= min_weight, coef, 0.0).astype(np.float16).astype(np.float32)
    return csc_matrix(kept)


def fit_platt(decisions: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One sigmoid(a * d + b) for all labels, by logistic regression of the labels on the decision values."""
    from sklearn.linear_model import LogisticRegression

    d = decisions.reshape(-1, 1).astype(np.float64)
    model = LogisticRegression(C=100.0).fit(d, (y.reshape(-1) > 0).astype(int))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def bank_docs(dataset_dir: str | Path, split) -> dict:
    """Publication number, title and codes of each training document, in the split's row order."""
    import pyarrow.parquet as pq

    titles = []
    for f in sorted((Path(dataset_dir) / "data").glob(f"{split.name}-*.parquet")):
        titles.extend(pq.read_table(f, columns=["title"]).column("title").to_pylist())
    if len(titles) != len(split):
        titles = [title_of(t) for t in split.texts]
    return {"publication_number": list(split.publication_numbers), "title": titles, "codes": [list(c) for c in split.codes]}


def train_linear(config: LinearConfig) -> dict:
    """Fit on train, calibrate (SVM) on validation, save the folder, finalize it. Returns test metrics."""
    from cpc_models.registry import write_model_config
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder

    out = Path(config.output_dir)
    train = load_split(config.dataset_dir, "train")
    val = load_split(config.dataset_dir, "validation", train.vocabulary)
    t0 = time.perf_counter()
    blocks = make_blocks(config)
    x = fit_features(blocks, train.texts)
    log.info("features: %d x %d", *x.shape)
    if config.classifier == "knn":
        x.data = x.data.astype(np.float16).astype(np.float32)  # as saved
        scorer = TfidfKnnScorer(train.vocabulary, blocks, x, train.y, config.k, config.temperature)
        scorer.docs = bank_docs(config.dataset_dir, train)
        kept = {"bank_nonzeros": int(x.nnz)}
        method = f"a similarity-weighted vote of the {config.k} most similar training patents"
    else:
        coef, intercept = fit_classifier(config, x, train.y)
        sparse = prune(coef, config.min_weight)
        scorer = LinearScorer(train.vocabulary, blocks, sparse, intercept)
        if config.classifier == "svc":
            scorer.slope, scorer.offset = fit_platt(scorer.decision_function(val.texts), val.y)
        kept = {"nonzero_weights": int(sparse.nnz)}
        method = f"one {config.classifier} per CPC code (scikit-learn)"
    train_seconds = time.perf_counter() - t0
    log.info("trained in %.0f s (%s)", train_seconds, kept)
    scorer.save(out)
    write_model_config(out, "linear", train.vocabulary, classifier=config.classifier, features=[b.name for b in blocks])
    train_config = {
        **config.to_dict(), "model_type": "linear", "train_seconds": round(train_seconds, 1), "n_features": int(x.shape[1]), **kept
    }
    names = ", ".join(b.name for b in blocks)
    description = f"TF-IDF ({names} blocks) with {method}, saved as JSON vocabularies and .npz arrays (no pickle)."
    return finalize_model_folder(out, config.dataset_dir, train_config, scorer=scorer, description=description)
