"""Weighted average of member model folders, the weights tuned on validation.

Members are model folders of any type (``cpc_models.registry.load_scorer``). Their validation and test scores
come from ``<member>/predictions/{validation,test}.npy`` + ``index.json`` when present (as the transformer
trainer writes them on a GPU machine, and as the CPU trainers here write them), else from running the member.
Per-label stacking (logistic regression on the members' logits, with CPC subclass features, fitted on
out-of-fold training scores or cross-fitted on validation) and an MLP over all members' scores were tried
and did not beat the weighted mean on validation, so the mean is the one combination offered.

Folder: ``config.json`` (type ``ensemble``), ``ensemble.json`` (members by path relative to the folder, or
copied into ``members/`` in TF-IDF storage format 2 with one shared ``vectorizer/``, and their weights),
thresholds, metrics and card; no ``predictions/`` (an ensemble is never a member).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError, MisconfiguredError
from cpc_models.files import BANK_DIR, BANK_FILE, ENSEMBLE_FILE, MEMBERS_DIR, NEIGHBOUR_INDEX_DIR, PREDICTIONS_DIR
from cpc_models.files import PREDICTIONS_INDEX_FILE as INDEX_FILE
from cpc_models.kinds.config import KindConfig, option
from cpc_models.scoring.thresholds import best_global_micro_f1

log = logging.getLogger(__name__)


@dataclass
class Config(KindConfig):
    output_dir: str = option("hub/models/ensemble", flags=("--out",), help="Model folder to write.")
    members: list[str] = option(default_factory=list, flags=("--member",), help="A member model folder (repeat).")
    weights: list[float] | None = option(
        None, flags=("--weight",), help="Fixed weights, one per --member. [tuned on validation]"
    )
    grid_step: float = option(0.1, help="Step of the weight search on the simplex.")
    copy_members: bool = option(
        False,
        flags=("--copy-members/--link-members",),
        help="Copy members into the folder, or reference them by relative path.",
    )


def saved_predictions(model_dir: str | Path, split) -> np.ndarray | None:
    """The member's saved scores of ``split``, over the split's vocabulary and in its row order; None if absent."""
    folder = Path(model_dir) / PREDICTIONS_DIR
    if not (folder / INDEX_FILE).exists() or not (folder / f"{split.name}.npy").exists():
        return None
    index = json.loads((folder / INDEX_FILE).read_text())
    scores = np.load(folder / f"{split.name}.npy").astype(np.float32)
    rows = {p: i for i, p in enumerate(index.get(split.name, []))}
    cols = {c: j for j, c in enumerate(index["labels"])}
    missing_rows = [p for p in split.publication_numbers if p not in rows]
    missing_cols = [c for c in split.vocabulary if c not in cols]
    if missing_rows or missing_cols or scores.shape != (len(rows), len(cols)):
        log.warning("%s: saved %s predictions do not cover the split; running the model instead", model_dir, split.name)
        return None
    return scores[np.ix_([rows[p] for p in split.publication_numbers], [cols[c] for c in split.vocabulary])]


def member_scores(model_dir: str | Path, split) -> np.ndarray:
    scores = saved_predictions(model_dir, split)
    if scores is not None:
        return scores
    from cpc_models.registry import load_scorer

    log.info("%s: scoring %d %s texts", model_dir, len(split), split.name)
    scorer = load_scorer(model_dir)
    cols = {c: j for j, c in enumerate(scorer.labels)}
    if any(c not in cols for c in split.vocabulary):
        raise InputError(f"{model_dir} does not predict every label of the dataset")
    return np.asarray(scorer.predict_proba(split.texts), dtype=np.float32)[:, [cols[c] for c in split.vocabulary]]


def simplex_grid(n: int, step: float) -> list[tuple[float, ...]]:
    units = int(round(1 / step))
    grid = [c for c in itertools.product(range(units + 1), repeat=n - 1) if sum(c) <= units]
    return [tuple(x / units for x in (*c, units - sum(c))) for c in grid]


def tune_weights(y: np.ndarray, member_val: list[np.ndarray], step: float = 0.1) -> tuple[list[float], float]:
    """The weights on the simplex grid with the best validation micro-F1 (at its best global threshold)."""
    from tqdm.auto import tqdm

    best, best_f = None, -1.0
    for w in tqdm(
        simplex_grid(len(member_val), step), desc="tuning weights", unit="weights", disable=len(member_val) < 3
    ):
        f = best_global_micro_f1(y, combine(member_val, w))
        if f > best_f + 1e-9:
            best, best_f = w, f
    return [round(x, 6) for x in best], best_f


def combine(member_scores_: list[np.ndarray], weights) -> np.ndarray:
    total = sum(float(w) for w in weights)
    out = np.zeros_like(member_scores_[0], dtype=np.float32)
    for s, w in zip(member_scores_, weights):
        if w:
            out += (float(w) / total) * np.asarray(s, dtype=np.float32)
    return out


class EnsembleScorer:
    backend = "native"

    def __init__(self, labels: list[str], members: list, weights: list[float]):
        self.labels = list(labels)
        self.members = members
        self.weights = [float(w) for w in weights]
        # per member, the column of each label (-1: the member does not predict it, e.g. a code only a learned
        # kNN bank knows, ``cpc learn --new-labels``): such a label is the weighted mean of the members that do
        self._cols = []
        for m in members:
            cols = {c: j for j, c in enumerate(m.labels)}
            self._cols.append(np.array([cols.get(c, -1) for c in self.labels], dtype=np.int64))
        nobody = [c for i, c in enumerate(self.labels) if all(col[i] < 0 for col in self._cols)]
        if nobody:
            raise MisconfiguredError(f"no ensemble member predicts {nobody[:3]}")
        self._complete = all((col >= 0).all() for col in self._cols)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        used = [(m, cols, w) for m, cols, w in zip(self.members, self._cols, self.weights) if w]
        # texts as given: a TextBatch lets members that share a vectorizer vectorize it once
        if self._complete:
            scores = [np.asarray(m.predict_proba(texts), dtype=np.float32)[:, cols] for m, cols, _ in used]
            return combine(scores, [w for _, _, w in used])
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        total = np.zeros(len(self.labels), dtype=np.float32)
        for m, cols, w in used:
            have = cols >= 0
            out[:, have] += w * np.asarray(m.predict_proba(texts), dtype=np.float32)[:, cols[have]]
            total[have] += w
        return out / np.maximum(total, 1e-12)[None, :]

    def known(self, texts: list[str]) -> np.ndarray:
        """Per text: does some member that can tell see a word it knows (True where no member can tell)."""
        flags = [m.known(texts) for m, w in zip(self.members, self.weights) if w and hasattr(m, "known")]
        return np.logical_or.reduce(flags) if flags else np.ones(len(texts), dtype=bool)

    def truncated(self, texts: list[str]) -> list[bool]:
        flags = [m.truncated(texts) for m, w in zip(self.members, self.weights) if w]
        return [any(f) for f in zip(*flags)] if flags else [False] * len(texts)


def load(model_dir: Path, backend: str = "native") -> EnsembleScorer:
    from cpc_models.registry import folder_labels, load_scorer

    model_dir = Path(model_dir)
    labels = folder_labels(model_dir)
    spec = json.loads((model_dir / ENSEMBLE_FILE).read_text())
    members, weights = [], []
    for m in spec["members"]:
        if not m["weight"]:
            continue  # a member the tuning left out is not loaded
        path = (model_dir / m["path"]).resolve()
        if not path.is_dir():
            raise MisconfiguredError(f"{model_dir}: member {m['path']} is missing (expected at {path})")
        members.append(load_scorer(path))
        weights.append(m["weight"])
    return EnsembleScorer(labels, members, weights)


def _check_member(path: Path) -> None:
    from cpc_models.registry import kind_of

    if kind_of(path) == "ensemble":
        raise InputError(f"{path} is itself an ensemble; list its members instead")


def train(config: Config) -> dict:
    """Gather the members' validation/test scores, tune the weights on validation, save, finalize."""
    from cpc_models.data import load_split
    from cpc_models.folder import finalize_model_folder
    from cpc_models.registry import write_model_config

    if len(config.members) < 1:
        raise InputError("an ensemble needs at least one member")
    out = Path(config.output_dir)
    members = [Path(m) for m in config.members]
    for m in members:
        _check_member(m)
    val = load_split(config.dataset_dir, "validation")
    test = load_split(config.dataset_dir, "test", val.vocabulary)
    t0 = time.perf_counter()
    val_scores = [member_scores(m, val) for m in members]
    if config.weights is not None:
        if len(config.weights) != len(members) or min(config.weights) < 0 or sum(config.weights) <= 0:
            raise InputError("give one non-negative weight per member, not all zero")
        weights = [float(w) / sum(config.weights) for w in config.weights]
        val_f1 = best_global_micro_f1(val.y, combine(val_scores, weights))
    else:
        weights, val_f1 = tune_weights(val.y, val_scores, config.grid_step)
    log.info("weights %s: validation micro-F1 %.4f (global threshold)", weights, val_f1)
    empty = np.zeros((len(test), len(val.vocabulary)), np.float32)
    test_scores = [member_scores(m, test) if w else empty for m, w in zip(members, weights)]
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    has_bank = any(w and (m / BANK_DIR / BANK_FILE).exists() for m, w in zip(members, weights))
    for m, w in zip(members, weights):
        if config.copy_members and w:
            target = out / MEMBERS_DIR / m.name
            if target.resolve() != m.resolve():
                shutil.rmtree(target, ignore_errors=True)
                # what prediction needs: no saved scores (an ensemble is never itself a member), and no shipped
                # neighbour index where a kNN member's bank serves the evidence
                skipped = [PREDICTIONS_DIR] + ([NEIGHBOUR_INDEX_DIR] if has_bank else [])
                shutil.copytree(m, target, ignore=shutil.ignore_patterns(*skipped))
            rel = Path(MEMBERS_DIR) / m.name
        else:
            rel = Path(os.path.relpath(m.resolve(), out.resolve()))
        entries.append({"name": m.name, "path": rel.as_posix(), "weight": w, "type": _member_type(m)})
    spec = {"method": "weighted_mean", "members": entries, "validation_micro_f1_global": round(val_f1, 4)}
    (out / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    write_model_config(out, "ensemble", val.vocabulary, members=[e["name"] for e in entries])
    if config.copy_members:
        from cpc_models.kinds.tfidf_storage import convert_folder

        convert_folder(out)  # copied TF-IDF members in format 2, one vectorizer for those that share it
    ens_val, ens_test = combine(val_scores, weights), combine(test_scores, weights)
    run = {"tuned_weights": weights, "seconds": round(time.perf_counter() - t0, 1)}
    train_config = {**config.to_dict(), "kind": "ensemble", "run": run}
    used = ", ".join(f"`{e['name']}` ({e['weight']:.2f})" for e in entries if e["weight"])
    description = f"Weighted mean of {used}; weights tuned on validation."
    return finalize_model_folder(
        out,
        config.dataset_dir,
        train_config,
        val_scores=ens_val,
        test_scores=ens_test,
        description=description,
        save_scores=False,  # an ensemble is never a member: its scores are not kept
    )


def _member_type(path: Path) -> str:
    from cpc_models.registry import kind_of

    return kind_of(path)
