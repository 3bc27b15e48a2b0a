"""fastai <-> Hugging Face transformers glue (what blurr did, in one small module).

- ``TokenizedTexts`` / ``text_dataloaders``: texts tokenized once (truncated to ``max_length``), batches padded
  to their longest text, as a dict the HF model takes plus a float target matrix;
- ``HFClassifier``: an ``nn.Module`` around ``AutoModelForSequenceClassification`` that returns the logits;
- ``transformer_splitter``: parameter groups (embeddings, encoder layers, head) for discriminative learning rates;
- ``MicroF1``: validation micro-F1 (scikit-learn) at a fixed threshold or at the best global one;
- ``training_callbacks``: keep the best epoch by a validation metric, fp16/bf16 mixed precision on CUDA,
  and a history of every epoch.

Importing this module imports torch and fastai: import it inside the functions that train.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.callback.fp16 import MixedPrecision
from fastai.callback.tracker import SaveModelCallback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Metric
from torch import nn

log = logging.getLogger(__name__)


class TokenizedTexts(torch.utils.data.Dataset):
    """Texts tokenized once; items are (token ids, target row)."""

    def __init__(self, tokenizer, texts: list[str], y: np.ndarray | None, max_length: int):
        enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_attention_mask=False)
        self.ids = [np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]]
        self.y = np.zeros((len(texts), 0), dtype=np.float32) if y is None else np.asarray(y, dtype=np.float32)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        return self.ids[i], self.y[i]

    def lengths(self) -> np.ndarray:
        return np.array([len(ids) for ids in self.ids])


def pad_batch(ids: list[np.ndarray], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token id arrays to the longest one: ``input_ids`` and ``attention_mask``."""
    width = max(len(x) for x in ids)
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for r, x in enumerate(ids):
        input_ids[r, : len(x)] = x
        mask[r, : len(x)] = 1
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}


def collate(pad_id: int):
    def create_batch(items):
        ids, ys = zip(*items)
        return pad_batch(list(ids), pad_id), torch.from_numpy(np.stack(ys))

    return create_batch


def text_dataloader(
    ds: TokenizedTexts, batch_size: int, shuffle: bool, device=None, num_workers: int = 0
) -> DataLoader:
    dl = DataLoader(
        ds,
        bs=batch_size,
        shuffle=shuffle,
        drop_last=shuffle,
        num_workers=num_workers,
        device=device,
        create_batch=collate(ds.pad_id),
    )
    dl.n_inp = 1
    return dl


def text_dataloaders(
    tokenizer,
    train: tuple[list[str], np.ndarray],
    valid: tuple[list[str], np.ndarray],
    max_length: int,
    batch_size: int,
    device=None,
    num_workers: int = 0,
) -> DataLoaders:
    """Training (shuffled) and validation (in order) loaders of tokenized, dynamically padded batches."""
    train_ds = TokenizedTexts(tokenizer, train[0], train[1], max_length)
    valid_ds = TokenizedTexts(tokenizer, valid[0], valid[1], max_length)
    dls = DataLoaders(
        text_dataloader(train_ds, batch_size, True, device, num_workers),
        text_dataloader(valid_ds, batch_size * 2, False, device, num_workers),
        device=device,
    )
    dls.n_inp = 1
    return dls


class HFClassifier(nn.Module):
    """A HF sequence-classification model taking the batch dict and returning its logits."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    def forward(self, batch: dict) -> torch.Tensor:
        return self.hf(**batch).logits


def bce_loss():
    """Binary cross-entropy on logits, with sigmoid as the activation fastai's ``get_preds`` applies."""
    from fastai.losses import BCEWithLogitsLossFlat

    return BCEWithLogitsLossFlat()


def transformer_groups(hf_model: nn.Module) -> list[list[nn.Parameter]]:
    """Parameters in three groups: embeddings, encoder (layers and the rest of the body), head.

    The head is everything outside the base model, plus the base model's pooler (BERT's classifier reads it).
    """
    base = hf_model.base_model
    embeddings = getattr(base, "embeddings", None) or base.get_input_embeddings()
    emb_ids = {id(p) for p in embeddings.parameters()}
    pooler = getattr(base, "pooler", None)
    pooler_ids = {id(p) for p in pooler.parameters()} if pooler is not None else set()
    body_ids = {id(p) for p in base.parameters()} - emb_ids - pooler_ids
    groups: list[list[nn.Parameter]] = [[], [], []]
    for p in hf_model.parameters():
        groups[0 if id(p) in emb_ids else 1 if id(p) in body_ids else 2].append(p)
    if not all(groups):
        raise ValueError(f"cannot split {type(hf_model).__name__} into embeddings / encoder / head")
    return groups


def transformer_splitter(model: HFClassifier) -> list[list[nn.Parameter]]:
    """fastai splitter: ``learn.freeze()`` then trains the head only; ``slice(lo, hi)`` spreads LRs over the 3 groups."""
    return transformer_groups(model.hf)


class MicroF1(Metric):
    """Validation micro-F1 of sigmoid(logits) >= ``thresh``; ``thresh=None``: at the best global threshold (the grid of
    ``cpc_models.scoring.thresholds``, no minimum of codes per text)."""

    def __init__(self, thresh: float | None = 0.5, name: str | None = None):
        self.thresh = thresh
        self._name = name or ("micro_f1" if thresh is not None else "micro_f1_tuned")
        self.reset()

    def reset(self):
        self.preds, self.targs = [], []

    def accumulate(self, learn):
        self.preds.append(torch.sigmoid(learn.pred.detach().float()).cpu())
        self.targs.append(learn.y.detach().cpu())

    @property
    def value(self):
        if not self.preds:
            return None
        p = torch.cat(self.preds).numpy()
        y = (torch.cat(self.targs).numpy() > 0.5).astype(np.uint8)
        from cpc_models.scoring.thresholds import GRID, best_global_micro_f1

        grid = GRID if self.thresh is None else np.array([self.thresh])
        return best_global_micro_f1(y, p, min_codes=0, grid=grid)

    @property
    def name(self):
        return self._name


class EpochHistory(Callback):
    """Records every epoch's row of the fastai table (losses, metrics) with its stage and wall-clock seconds."""

    order = 70  # after the Recorder (50)
    run_valid = False

    def __init__(self):
        self.rows: list[dict] = []
        self.stage = ""

    def before_epoch(self):
        self._t0 = time.perf_counter()

    def after_epoch(self):
        if getattr(self.learn, "lr_finder", False):
            return
        recorder = self.learn.recorder
        row = {k: v for k, v in zip(recorder.metric_names, recorder.log) if k != "time"}
        row = {
            k: (float(v) if isinstance(v, (float, np.floating, int)) and k != "epoch" else v) for k, v in row.items()
        }
        row.update(stage=self.stage, seconds=round(time.perf_counter() - self._t0, 2))
        self.rows.append(row)
        log.info("%s", row)


def training_callbacks(monitor: str, mixed_precision: str, fname: str = "best") -> list[Callback]:
    """Keep the best epoch by ``monitor`` (across fits: not reset between stages) and mixed precision on CUDA.

    ``mixed_precision``: "auto" (fp16 when CUDA is available), "fp16", "bf16" or "no".
    """
    comp = np.less if "loss" in monitor else np.greater
    cbs: list[Callback] = [SaveModelCallback(monitor=monitor, comp=comp, fname=fname, reset_on_fit=False)]
    mode = "fp16" if mixed_precision == "auto" else mixed_precision
    if mode in ("fp16", "bf16") and torch.cuda.is_available():
        cbs.append(MixedPrecision(amp_mode=mode))
    return cbs
