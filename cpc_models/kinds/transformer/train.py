"""Fine-tune a transformer with fastai (``cpc_models.kinds.transformer.glue``) and save it as a Hub model folder.

Two stages, as the original blurr recipe: the head alone on a frozen body, then the whole model with
discriminative learning rates (embeddings ``lr / lr_mult`` ... head ``lr``), each with ``fit_one_cycle``;
the best epoch by validation micro-F1 is kept. The folder loads with stock ``AutoModelForSequenceClassification``
(``config.json`` carries ``id2label``, ``label2id``, ``problem_type``) and with ``load_transformer``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_models.files import TRAIN_HISTORY_FILE as HISTORY_FILE
from cpc_models.kinds.config import KindConfig, option

log = logging.getLogger(__name__)


@dataclass
class TransformerTrainConfig(KindConfig):
    output_dir: str = option("hub/models/transformer", flags=("--out",), help="Model folder to write.")
    base: str = option(
        "roberta-base", help="Hub id, local checkpoint folder, or a short name of cpc_models.checkpoints (minilm-l6)."
    )
    max_length: int = option(256, help="Tokens per text (title + abstract).")
    batch_size: int = option(32)
    epochs_frozen: int = option(1, help="Stage 0 epochs: the head only.")
    epochs_unfrozen: int = option(4, help="Stage 1 epochs: all layers, discriminative learning rates.")
    lr: float = option(1e-3, help="Stage 0 peak learning rate.")
    lr_unfrozen: float = option(5e-5, help="Stage 1 peak learning rate (head).")
    lr_mult: float = option(100.0, help="Stage 1: the embeddings get lr-unfrozen / lr-mult.")
    weight_decay: float = option(0.01)
    prior_bias: bool = option(True, help="Start the output biases at the labels' log-odds in the training split.")
    lr_find: bool = option(False, help="Use fastai's lr_find suggestion (valley) at each stage.")
    monitor: str = option(
        "micro_f1_tuned",
        choices=("micro_f1_tuned", "micro_f1", "valid_loss"),
        help="Validation value that picks the best epoch.",
    )
    mixed_precision: str = option("auto", choices=("auto", "fp16", "bf16", "no"), help="On CUDA (auto: fp16).")
    fp16_weights: bool = option(
        False, flags=("--fp16-weights/--fp32-weights",), help="Save the weights in float16 (half the size)."
    )
    seed: int = option(42)
    max_train_docs: int | None = option(None, help="Smoke runs: train on a random subset.")
    max_valid_docs: int | None = option(None, help="Smoke runs: validate each epoch on a subset (thresholds use all).")
    save_predictions: bool = option(
        True, help="Keep validation/test scores (predictions/*.npy, float16) for ensembles."
    )
    device: str | None = option(None, help="cuda or cpu. [cuda if available]")
    num_workers: int = option(0, help="Data loader workers.")
    progress: bool = option(True, help="Progress bars (else one logged row per epoch).")
    description: str = option("", help="A sentence for the model card.")

    RENAMED: typing.ClassVar[dict[str, str]] = {"dataset": "dataset_dir", "out": "output_dir"}


class TransformerScorer:
    """Sigmoid scores of a sequence-classification model; texts are truncated to ``max_length`` tokens."""

    backend = "torch"

    def __init__(self, model, tokenizer, labels: list[str], max_length: int, device: str = "cpu", batch_size: int = 64):
        self.model = model.eval().to(device)
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_length = max_length
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()  # fast tokenizers are not safe to call from several threads at once

    def tokenize(self, texts: list[str], **kwargs):
        with self._lock:
            return self.tokenizer(texts, **kwargs)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        import torch

        texts = [t if isinstance(t, str) else "" for t in texts]
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths batch together: less padding
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                rows = order[start : start + self.batch_size]
                enc = self.tokenize(
                    [texts[i] for i in rows],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                out[rows] = torch.sigmoid(self.model(**enc).logits.float()).cpu().numpy()
        return out

    def truncated(self, texts: list[str]) -> list[bool]:
        enc = self.tokenize(list(texts), truncation=False, return_attention_mask=False)
        return [len(ids) > self.max_length for ids in enc["input_ids"]]


def _device(requested: str | None) -> str:
    import torch

    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_transformer(model_dir: str | Path, backend: str = "auto", device: str | None = None) -> TransformerScorer:
    """The scorer of a transformer model folder (float32 on CPU, whatever dtype the weights were saved in)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cpc_models.registry import labels_from_config, read_model_config

    if backend not in ("auto", "torch", "native"):
        raise MisconfiguredError(f"transformer folders load with the torch backend here, not {backend!r}")
    model_dir = Path(model_dir)
    labels = labels_from_config(read_model_config(model_dir))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    max_length = min(
        int(tokenizer.model_max_length or 512), int(getattr(model.config, "max_position_embeddings", 512) or 512), 4096
    )
    return TransformerScorer(model, tokenizer, labels, max_length, _device(device))


def _subset(split, n: int | None, seed: int):
    if not n or n >= len(split):
        return split.texts, split.y
    rows = np.sort(np.random.default_rng(seed).choice(len(split), n, replace=False))
    return [split.texts[i] for i in rows], split.y[rows]


def init_prior_bias(model, y: np.ndarray) -> None:
    """Set the output layer's biases to the labels' training log-odds, so training starts from the base rates."""
    import torch
    from torch import nn

    linears = [
        m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == y.shape[1] and m.bias is not None
    ]
    if not linears:
        return
    p = np.clip(y.mean(axis=0), 1e-4, 1 - 1e-4)
    with torch.no_grad():
        linears[-1].bias.copy_(torch.as_tensor(np.log(p / (1 - p)), dtype=linears[-1].bias.dtype))


def _stage_lr(learn, fallback: float, config: TransformerTrainConfig) -> float:
    if not config.lr_find:
        return fallback
    from fastai.callback.schedule import valley

    suggestion = learn.lr_find(suggest_funcs=(valley,), show_plot=False)
    log.info("lr_find suggests %.2e (configured %.2e)", suggestion.valley, fallback)
    return float(suggestion.valley)


def build_learner(config: TransformerTrainConfig, model, tokenizer, train, valid, workdir: Path, device: str):
    """The fastai ``Learner``: dynamic-padding loaders, BCE on logits, 3 parameter groups, micro-F1 metrics."""
    import fastai.callback.progress  # noqa: F401  (progress bars as a default callback)
    import fastai.callback.schedule  # noqa: F401  (fit_one_cycle, lr_find)
    from fastai.learner import Learner
    from fastai.optimizer import Adam

    from cpc_models.kinds.transformer.glue import (
        EpochHistory,
        HFClassifier,
        MicroF1,
        bce_loss,
        text_dataloaders,
        training_callbacks,
        transformer_splitter,
    )

    dls = text_dataloaders(
        tokenizer, train, valid, config.max_length, config.batch_size, device=device, num_workers=config.num_workers
    )
    history = EpochHistory()
    learn = Learner(
        dls,
        HFClassifier(model),
        loss_func=bce_loss(),
        opt_func=Adam,
        splitter=transformer_splitter,
        metrics=[MicroF1(0.5), MicroF1(None)],
        cbs=[
            history,
            *training_callbacks(config.monitor, config.mixed_precision if device.startswith("cuda") else "no"),
        ],
        wd=config.weight_decay,
        path=workdir,
        model_dir="checkpoints",
    )
    return learn, history


def fit_stages(learn, history, config: TransformerTrainConfig) -> None:
    """Stage 0: head only (frozen body); stage 1: everything, ``slice(lr / lr_mult, lr)`` over the groups."""
    import contextlib

    bar = contextlib.nullcontext() if config.progress else learn.no_bar()
    with bar:
        if config.epochs_frozen > 0:
            learn.freeze()
            lr = _stage_lr(learn, config.lr, config)
            history.stage = "frozen"
            learn.fit_one_cycle(config.epochs_frozen, lr)
        if config.epochs_unfrozen > 0:
            learn.unfreeze()
            lr = _stage_lr(learn, config.lr_unfrozen, config)
            history.stage = "unfrozen"
            learn.fit_one_cycle(config.epochs_unfrozen, slice(lr / config.lr_mult, lr))


def save_model_folder(model, tokenizer, out: Path, max_length: int, fp16_weights: bool) -> None:
    """Stock Hub layout: ``model.safetensors``, ``config.json`` (+ ``cpc_model_type``), tokenizer files."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model = model.to("cpu").to(torch.float16 if fp16_weights else torch.float32)
    model.config.cpc_model_type = "transformer"
    model.config.problem_type = "multi_label_classification"
    model.save_pretrained(out)
    tokenizer.model_max_length = max_length
    tokenizer.save_pretrained(out)


def train_transformer(config: TransformerTrainConfig) -> dict:
    """Fine-tune, keep the best epoch, save the model folder, then thresholds, test metrics and card.

    Returns ``{"metrics": test metrics, "history": one row per epoch, "seconds": training time}``.
    """
    import torch
    from fastai.torch_core import set_seed
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from cpc_models.checkpoints import resolve_base
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder

    set_seed(config.seed)
    out = Path(config.output_dir)
    base = resolve_base(config.base)
    device = _device(config.device)
    train_split = load_split(config.dataset_dir, "train")
    labels = train_split.vocabulary
    val_split = load_split(config.dataset_dir, "validation", labels)
    if not len(train_split) or not len(val_split):
        raise InputError(f"{config.dataset_dir}: empty train or validation split")
    train = _subset(train_split, config.max_train_docs, config.seed)
    valid = _subset(val_split, config.max_valid_docs, config.seed)
    log.info(
        "fine-tuning %s on %d documents (%d labels), %s, device %s",
        base,
        len(train[0]),
        len(labels),
        config.max_length,
        device,
    )

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label={i: code for i, code in enumerate(labels)},
        label2id={code: i for i, code in enumerate(labels)},
        problem_type="multi_label_classification",
        dtype=torch.float32,
    )
    if config.prior_bias:
        init_prior_bias(model, train[1])
    with tempfile.TemporaryDirectory(prefix="cpc-train-") as workdir:
        learn, history = build_learner(config, model, tokenizer, train, valid, Path(workdir), device)
        t0 = time.perf_counter()
        fit_stages(learn, history, config)
        seconds = time.perf_counter() - t0
    model = learn.model.hf
    del learn
    save_model_folder(model, tokenizer, out, config.max_length, config.fp16_weights)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    (out / HISTORY_FILE).write_text(
        json.dumps({"seconds": round(seconds, 1), "epochs": history.rows}, indent=2, default=str) + "\n"
    )

    scorer = load_transformer(out, device=device)
    description = config.description or (
        f"`{config.base}` fine-tuned with fastai (head, then all layers with discriminative learning rates) on title + "
        f"abstract, {config.max_length} tokens; the best epoch by validation {config.monitor} is kept."
    )
    metrics = finalize_model_folder(
        out,
        config.dataset_dir,
        {**config.to_dict(), "kind": "transformer"},
        scorer=scorer,
        description=description,
        predictions_dtype=np.float16,
        save_scores=config.save_predictions,
    )
    return {"metrics": metrics, "history": history.rows, "seconds": seconds}
