"""Transformer folders served by onnxruntime: tokenizer (``tokenizers``) + ONNX logits + numpy sigmoid."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from cpc_dataset.errors import MisconfiguredError
from cpc_models.kinds.common import sigmoid
from cpc_models.onnx import FILES, ONNX_DIR


def onnx_file(model_dir: Path) -> Path | None:
    """The int8 file if there is one, else the fp32 one, else None."""
    for name in FILES.values():
        path = model_dir / ONNX_DIR / name
        if path.exists():
            return path
    return None


class OnnxScorer:
    backend = "onnx"

    def __init__(self, session, tokenizer, labels: list[str], max_length: int, batch_size: int = 32):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.batch_size = batch_size
        self.inputs = [i.name for i in session.get_inputs()]
        self._lock = threading.Lock()  # fast tokenizers are not safe to call from several threads at once

    @classmethod
    def from_folder(cls, model_dir: Path, path: Path | None = None, threads: int | None = None) -> OnnxScorer:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        from cpc_models.registry import folder_labels

        path = path or onnx_file(model_dir)
        if path is None or not path.exists():
            raise MisconfiguredError(f"{model_dir}: no ONNX model; run `cpc export --model {model_dir}`")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        labels = folder_labels(model_dir)
        max_length = min(int(tokenizer.model_max_length or 512), 512)
        scorer = cls(session, tokenizer, labels, max_length)
        scorer.path = path
        return scorer

    def encode(self, texts: list[str]) -> dict:
        """Model inputs (int64 arrays, padded to the longest text) for ``texts``."""
        with self._lock:
            enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="np")
        return {n: enc[n].astype(np.int64) for n in self.inputs}

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        texts = [t if isinstance(t, str) else "" for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            logits = self.session.run(["logits"], self.encode([texts[i] for i in rows]))[0]
            out[rows] = sigmoid(logits)
        return out

    def truncated(self, texts: list[str]) -> list[bool]:
        with self._lock:
            enc = self.tokenizer(list(texts), truncation=False, return_attention_mask=False)
        return [len(ids) > self.max_length for ids in enc["input_ids"]]
