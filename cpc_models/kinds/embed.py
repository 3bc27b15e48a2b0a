"""Sentence embeddings (MiniLM-L6, mean-pooled, normalised) with a logistic-regression head or kNN voting.

Two heads over the same frozen encoder, chosen by ``EmbeddingConfig.head``:

- ``logreg``: one-vs-rest logistic regression on the embeddings (weights saved as ``head.npz``);
- ``knn``: PatentSBERTa-style voting: a label's score is the similarity-weighted share of the ``k``
  nearest training patents that carry it (``train_embeddings.npy`` in fp16 + ``train_labels.npy``).

The folder references the encoder by its ``resolve_base`` name (``encoder.json``), so nothing of 90 MB is copied.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cpc_models.checkpoints import resolve_base
from cpc_models.settings import DATASET_DIR, MODELS_DIR, cache_dir

log = logging.getLogger(__name__)

DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_FILE = "encoder.json"
HEAD_FILE = "head.npz"
KNN_EMBEDDINGS = "train_embeddings.npy"
KNN_LABELS = "train_labels.npy"


class SentenceEncoder:
    """Mean-pooled, L2-normalised embeddings of a sentence-transformers checkpoint, on CPU."""

    def __init__(self, base: str = DEFAULT_BASE, max_length: int = 256, batch_size: int = 32, threads: int | None = None):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        folder = resolve_base(base)
        self.base, self.max_length, self.batch_size = str(base), max_length, batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()  # float16 checkpoints too
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="embedding", unit="batch", disable=not progress or len(texts) <= self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def truncated(self, texts: list[str]) -> list[bool]:
        lengths = self.tokenizer(texts, truncation=False)["input_ids"]
        return [len(ids) > self.max_length for ids in lengths]


def embedding_cache_key(base: str, max_length: int, texts: list[str]) -> str:
    digest = hashlib.sha256(f"{base}\n{max_length}\n".encode())
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()[:24]


def cached_embeddings(
    texts: list[str], base: str = DEFAULT_BASE, max_length: int = 256, encoder: SentenceEncoder | None = None
) -> np.ndarray:
    """Embeddings of ``texts``, computed once and kept under ``cache/embeddings/`` (key: model + texts)."""
    path = cache_dir() / "embeddings" / f"{embedding_cache_key(base, max_length, texts)}.npy"
    if path.exists():
        return np.load(path)
    encoder = encoder or SentenceEncoder(base, max_length)
    t0 = time.perf_counter()
    emb = encoder.encode(texts, progress=True)
    log.info("embedded %d texts in %.0f s", len(texts), time.perf_counter() - t0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb


@dataclass
class EmbeddingConfig:
    dataset_dir: str = str(DATASET_DIR)
    output_dir: str = str(MODELS_DIR / "minilm-knn")
    head: str = "knn"  # "knn" (similarity-weighted neighbour voting) or "logreg"
    base: str = DEFAULT_BASE  # a resolve_base name (or a local checkpoint folder)
    max_length: int = 256
    k: int = 50
    temperature: float = 10.0  # a neighbour's vote is exp(temperature * (its similarity - the best one's))
    C: float = 1.0  # logreg head
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EmbeddingConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def neighbour_vote(sim: np.ndarray, labels: np.ndarray, k: int, temperature: float) -> np.ndarray:
    """Per query row of ``sim`` (queries x bank): the exp(temperature * (sim - best))-weighted share of the
    ``k`` most similar bank rows carrying each label."""
    k = min(k, sim.shape[1])
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sim, idx, axis=1)
    w = np.exp(temperature * (s - s.max(axis=1, keepdims=True)))
    votes = np.einsum("nk,nkl->nl", w, labels[idx].astype(np.float32))
    return (votes / w.sum(axis=1, keepdims=True)).astype(np.float32)


class KnnHead:
    """Label scores: the similarity-weighted share of the ``k`` nearest training patents carrying each label."""

    def __init__(self, embeddings: np.ndarray, labels: np.ndarray, k: int = 50, temperature: float = 10.0):
        self.embeddings = np.asarray(embeddings, dtype=np.float16)  # as saved: fp16
        self.bank = self.embeddings.astype(np.float32)  # what the similarities are computed with
        self.labels = np.asarray(labels, dtype=np.uint8)
        self.k, self.temperature = int(k), float(temperature)

    def scores(self, queries: np.ndarray, chunk: int = 1024, exclude: np.ndarray | None = None) -> np.ndarray:
        """``exclude``: per query, a row of the bank to leave out (leave-one-out scores of the bank itself)."""
        bank = self.bank
        k = min(self.k, len(bank) - (exclude is not None))
        out = np.zeros((len(queries), self.labels.shape[1]), dtype=np.float32)
        for start in range(0, len(queries), chunk):
            sim = np.asarray(queries[start : start + chunk], dtype=np.float32) @ bank.T
            if exclude is not None:
                sim[np.arange(len(sim)), exclude[start : start + chunk]] = -np.inf
            out[start : start + chunk] = neighbour_vote(sim, self.labels, k, self.temperature)
        return out

    def save(self, model_dir: Path) -> None:
        np.save(model_dir / KNN_EMBEDDINGS, self.embeddings)
        np.save(model_dir / KNN_LABELS, self.labels)

    @classmethod
    def load(cls, model_dir: Path, k: int, temperature: float) -> KnnHead:
        return cls(np.load(model_dir / KNN_EMBEDDINGS), np.load(model_dir / KNN_LABELS), k, temperature)


class LogRegHead:
    """One logistic regression per label on the embedding."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        self.coef = np.asarray(coef, dtype=np.float32)  # (dim, n_labels)
        self.intercept = np.asarray(intercept, dtype=np.float32)

    def scores(self, queries: np.ndarray) -> np.ndarray:
        z = np.asarray(queries, dtype=np.float32) @ self.coef + self.intercept
        return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, C: float = 1.0, seed: int = 0) -> LogRegHead:
        from sklearn.linear_model import LogisticRegression
        from tqdm.auto import tqdm

        coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
        intercept = np.full(y.shape[1], -10.0, dtype=np.float32)
        for j in tqdm(range(y.shape[1]), desc="fitting logreg", unit="label"):
            if y[:, j].min() == y[:, j].max():
                intercept[j] = -10.0 if y[0, j] == 0 else 10.0
                continue
            model = LogisticRegression(C=C, max_iter=500, random_state=seed).fit(x, y[:, j])
            coef[:, j], intercept[j] = model.coef_[0], model.intercept_[0]
        return cls(coef, intercept)

    def save(self, model_dir: Path) -> None:
        np.savez(model_dir / HEAD_FILE, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, model_dir: Path) -> LogRegHead:
        data = np.load(model_dir / HEAD_FILE)
        return cls(data["coef"], data["intercept"])


class EmbeddingScorer:
    backend = "native"

    def __init__(self, labels: list[str], head, base: str = DEFAULT_BASE, max_length: int = 256, encoder: SentenceEncoder | None = None):
        self.labels = list(labels)
        self.head = head
        self.base, self.max_length = base, max_length
        self._encoder = encoder

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            self._encoder = SentenceEncoder(self.base, self.max_length)
        return self._encoder

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.head.scores(self.encoder.encode(list(texts), progress=len(texts) > 256))

    def truncated(self, texts: list[str]) -> list[bool]:
        return self.encoder.truncated(texts)


def load_embedding(model_dir: str | Path) -> EmbeddingScorer:
    from cpc_models.registry import labels_from_config, read_model_config

    model_dir = Path(model_dir)
    labels = labels_from_config(read_model_config(model_dir))
    spec = json.loads((model_dir / ENCODER_FILE).read_text())
    if spec["head"] == "knn":
        head = KnnHead.load(model_dir, spec["k"], spec["temperature"])
    else:
        head = LogRegHead.load(model_dir)
    return EmbeddingScorer(labels, head, spec["base"], spec["max_length"])


def train_embedding(config: EmbeddingConfig) -> dict:
    """Embed the splits (cached), fit the head on train, save the folder, finalize it. Returns test metrics."""
    from cpc_models.registry import write_model_config
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {name: load_split(config.dataset_dir, name) for name in ("train", "validation", "test")}
    encoder = None
    emb = {}
    for name, split in splits.items():
        key = embedding_cache_key(config.base, config.max_length, split.texts)
        if encoder is None and not (cache_dir() / "embeddings" / f"{key}.npy").exists():
            encoder = SentenceEncoder(config.base, config.max_length)
        emb[name] = cached_embeddings(split.texts, config.base, config.max_length, encoder)
    t0 = time.perf_counter()
    y = splits["train"].y
    if config.head == "knn":
        head = KnnHead(emb["train"], y, config.k, config.temperature)
    elif config.head == "logreg":
        head = LogRegHead.fit(emb["train"], y, config.C, config.seed)
    else:
        raise ValueError(f"unknown head {config.head!r}: knn or logreg")
    train_seconds = time.perf_counter() - t0
    head.save(out)
    spec = {"base": config.base, "max_length": config.max_length, "head": config.head, "k": config.k, "temperature": config.temperature}
    (out / ENCODER_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    write_model_config(out, "embedding", splits["train"].vocabulary, head=config.head, base_model=config.base)
    train_config = {**config.to_dict(), "model_type": "embedding", "train_seconds_head": round(train_seconds, 1)}
    if config.head == "knn":
        kind = f"similarity-weighted vote of the {config.k} nearest training patents"
    else:
        kind = "one logistic regression per code"
    description = f"Frozen `{config.base}` sentence embeddings (mean-pooled, normalised) with a {kind}."
    # validation and test scores from the cached embeddings: the same arithmetic as predict_proba
    scores = {name: head.scores(emb[name]) for name in ("validation", "test")}
    return finalize_model_folder(
        out, config.dataset_dir, train_config, val_scores=scores["validation"], test_scores=scores["test"], description=description
    )
