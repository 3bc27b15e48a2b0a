"""Frozen sentence embeddings (MiniLM-L6, mean-pooled, normalised), shared by the ``minilm-knn`` and
``minilm-logreg`` kinds: the encoder, the embedding cache, the scorer (encoder + head) and the trainer.

A folder references the encoder by its ``resolve_base`` name (``encoder.json``), so nothing of 90 MB is copied.
Folders of type ``embedding`` written before the kinds had their own names load by their ``head``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_models.checkpoints import resolve_base
from cpc_models.files import ENCODER_FILE
from cpc_models.kinds.config import KindConfig, option
from cpc_models.settings import cache_dir

log = logging.getLogger(__name__)

DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"


class SentenceEncoder:
    """Mean-pooled, L2-normalised embeddings of a sentence-transformers checkpoint, on CPU."""

    def __init__(
        self, base: str = DEFAULT_BASE, max_length: int = 256, batch_size: int = 32, threads: int | None = None
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        folder = resolve_base(base)
        self.base, self.max_length, self.batch_size = str(base), max_length, batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()  # float16 checkpoints too
        self.dim = int(self.model.config.hidden_size)
        self._lock = threading.Lock()  # fast tokenizers are not safe to call from several threads at once

    def tokenize(self, texts: list[str], **kwargs):
        with self._lock:
            return self.tokenizer(texts, **kwargs)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch
        from tqdm.auto import tqdm

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(
            starts, desc="embedding", unit="batch", disable=not progress or len(texts) <= self.batch_size
        ):
            idx = order[start : start + self.batch_size]
            batch = self.tokenize(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def truncated(self, texts: list[str]) -> list[bool]:
        lengths = self.tokenize(list(texts), truncation=False)["input_ids"]
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
class MiniLMConfig(KindConfig):
    base: str = option(DEFAULT_BASE, help="Encoder: a cpc_models.checkpoints name or a local folder.")
    max_length: int = option(256, help="Tokens per text.")
    seed: int = option(0)


class EmbeddingScorer:
    """Encoder (loaded on first use, once even when threads race for it) + a head over its embeddings."""

    backend = "native"

    def __init__(
        self,
        labels: list[str],
        head,
        base: str = DEFAULT_BASE,
        max_length: int = 256,
        encoder: SentenceEncoder | None = None,
    ):
        self.labels = list(labels)
        self.head = head
        self.base, self.max_length = base, max_length
        self._encoder = encoder
        self._encoder_lock = threading.Lock()

    @property
    def encoder(self) -> SentenceEncoder:
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    self._encoder = SentenceEncoder(self.base, self.max_length)
        return self._encoder

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.head.scores(self.encoder.encode(list(texts), progress=len(texts) > 256))

    def truncated(self, texts: list[str]) -> list[bool]:
        return self.encoder.truncated(texts)


def load_embedding_scorer(model_dir: Path, load_head) -> EmbeddingScorer:
    """The scorer of a MiniLM folder; ``load_head(model_dir, spec)`` reads the head (``spec``: ``encoder.json``)."""
    from cpc_models.registry import folder_labels

    spec = json.loads((model_dir / ENCODER_FILE).read_text())
    return EmbeddingScorer(folder_labels(model_dir), load_head(model_dir, spec), spec["base"], spec["max_length"])


def split_embeddings(config: MiniLMConfig) -> tuple[dict, dict]:
    """The train/validation/test splits and their embeddings (cached; the encoder loads only if one is missing)."""
    from cpc_models.data import load_split

    splits = {name: load_split(config.dataset_dir, name) for name in ("train", "validation", "test")}
    encoder = None
    emb = {}
    for name, split in splits.items():
        key = embedding_cache_key(config.base, config.max_length, split.texts)
        if encoder is None and not (cache_dir() / "embeddings" / f"{key}.npy").exists():
            encoder = SentenceEncoder(config.base, config.max_length)
        emb[name] = cached_embeddings(split.texts, config.base, config.max_length, encoder)
    return splits, emb


def train_head(config: MiniLMConfig, kind: str, fit_head, spec: dict, method: str) -> dict:
    """Embed the splits (cached), ``fit_head(train embeddings, y) -> head`` (with ``scores`` and ``save``), save the
    folder (``encoder.json`` + ``spec``), finalize it on the cached embeddings. Returns test metrics."""
    from cpc_models.folder import finalize_model_folder
    from cpc_models.registry import write_model_config

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits, emb = split_embeddings(config)
    t0 = time.perf_counter()
    head = fit_head(emb["train"], splits["train"].y)
    seconds = time.perf_counter() - t0
    head.save(out)
    (out / ENCODER_FILE).write_text(
        json.dumps({"base": config.base, "max_length": config.max_length, **spec}, indent=2) + "\n"
    )
    write_model_config(out, kind, splits["train"].vocabulary, base_model=config.base)
    train_config = {**config.to_dict(), "kind": kind, "run": {"train_seconds_head": round(seconds, 1)}}
    description = f"Frozen `{config.base}` sentence embeddings (mean-pooled, normalised) with {method}."
    # validation and test scores from the cached embeddings: the same arithmetic as predict_proba
    scores = {name: head.scores(emb[name]) for name in ("validation", "test")}
    return finalize_model_folder(
        out,
        config.dataset_dir,
        train_config,
        val_scores=scores["validation"],
        test_scores=scores["test"],
        description=description,
    )
