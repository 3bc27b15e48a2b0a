"""Learn labelled patents into a model's neighbour banks (``learn_model``), and record it.

The base folder is only read: the result is a new folder (a copy with the banks extended), or, with
``in_place``, the same folder with the files it changes kept in ``learn_previous/`` first (``undo_learn`` puts
them back). The linear members, thresholds and calibration are not touched; ``metrics.json`` stays the base
model's. What was learned is appended to ``learned.json`` and summed up in the card.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np

from cpc_dataset.errors import InputError
from cpc_models.files import (
    CARD_FILE,
    CONFIG_FILE,
    ENSEMBLE_FILE,
    LEARN_PREVIOUS_DIR,
    LEARN_PREVIOUS_INDEX,
    LEARNED_FILE,
    MEMBERS_DIR,
    NEIGHBOUR_INDEX_DIR,
    PREDICTIONS_DIR,
    THRESHOLDS_FILE,
)
from cpc_models.learn.banks import BankRows, find_banks, write_rows
from cpc_models.learn.sources import Labelled

log = logging.getLogger(__name__)

CARD_MARK = "<!-- cpc learn -->"
NEW_LABEL_THRESHOLD = 0.7  # --new-labels: threshold of a code only learned banks know (see benchmarks/learn.py)


def copy_model(model_dir: Path, out: Path) -> None:
    """Copy ``model_dir`` to ``out``; ensemble members linked from outside the folder are copied in when they hold
    a bank (learning must not write into them), and re-linked from ``out`` otherwise."""
    from cpc_models.learn.banks import has_bank
    from cpc_models.registry import kind_of

    shutil.copytree(model_dir, out, ignore=shutil.ignore_patterns(LEARN_PREVIOUS_DIR))
    relink_vectorizers(model_dir, out)
    spec_path = out / ENSEMBLE_FILE
    if not spec_path.exists():
        return
    spec = json.loads(spec_path.read_text())
    for member in spec["members"]:
        source = (model_dir / member["path"]).resolve()
        if source.is_relative_to(model_dir.resolve()):
            continue
        if member.get("weight") and has_bank(kind_of(source)):
            target = out / MEMBERS_DIR / member["name"]
            shutil.copytree(source, target)
            relink_vectorizers(source, target)
            member["path"] = f"{MEMBERS_DIR}/{member['name']}"
        else:
            member["path"] = Path(os.path.relpath(source, out.resolve())).as_posix()
    spec_path.write_text(json.dumps(spec, indent=2) + "\n")


def relink_vectorizers(source: Path, copy: Path) -> None:
    """In ``copy`` (a copy of ``source``), point each TF-IDF member whose shared vectorizer lies outside the copied
    tree (format 2: ``features.json``) at the original vectorizer folder again; learning never changes it."""
    try:
        from cpc_models.files import FEATURES_FILE
        from cpc_models.kinds.vectorizer import link_vectorizer, vectorizer_folder
    except ImportError:  # format 1 only: every member keeps its own vectorizer files
        return
    for link in copy.rglob(FEATURES_FILE):
        original = source / link.parent.relative_to(copy)
        folder = vectorizer_folder(original)
        if folder is not None and not folder.is_relative_to(source.resolve()):
            link_vectorizer(link.parent, folder)


def _keep_previous(model_dir: Path, banks) -> None:
    from cpc_models.learn.banks import bank_files

    previous = model_dir / LEARN_PREVIOUS_DIR
    shutil.rmtree(previous, ignore_errors=True)
    paths = [model_dir / LEARNED_FILE, model_dir / CARD_FILE, model_dir / CONFIG_FILE, model_dir / THRESHOLDS_FILE]
    for bank in banks:
        paths += [*bank_files(bank), bank.path / CONFIG_FILE]
    paths = list(dict.fromkeys(paths))
    previous.mkdir(parents=True)
    for path in paths:
        target = previous / path.relative_to(model_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, target)
        elif path.exists():
            shutil.copy2(path, target)
    (previous / LEARN_PREVIOUS_INDEX).write_text(
        json.dumps([p.relative_to(model_dir).as_posix() for p in paths]) + "\n"
    )


@contextlib.contextmanager
def changing(model_dir: Path, wait: bool = False):
    """An exclusive lock on ``model_dir`` while it is changed in place (a second ``cpc learn --in-place`` or ``--undo``
    on it is refused in one line, not interleaved) or copied (``wait``: a copy waits for the change to end, so it
    never copies a bank half written). The lock file is in this user's cache folder, keyed by the folder's real path,
    so nothing extra lands in the model folder (or in what ``cpc push`` uploads)."""
    import hashlib

    from filelock import FileLock, Timeout

    from cpc_models.settings import user_cache

    key = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:16]
    folder = user_cache() / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the lock folder {folder} ({exc.strerror}); set XDG_CACHE_HOME") from None
    lock = FileLock(folder / f"learn-{key}.lock", timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise InputError(f"{model_dir} is being changed by another `cpc learn`; run this again when it ends") from None
    try:
        yield
    finally:
        lock.release()


def undo_learn(model_dir: str | Path) -> list[str]:
    """Put back the files the last in-place learn changed; returns them (paths in the folder)."""
    model_dir = Path(model_dir)
    with changing(model_dir):
        return _undo(model_dir)


def _undo(model_dir: Path) -> list[str]:
    previous = model_dir / LEARN_PREVIOUS_DIR
    if not (previous / LEARN_PREVIOUS_INDEX).exists():
        raise InputError(f"{model_dir} has nothing to undo (no {LEARN_PREVIOUS_DIR}/ from `cpc learn --in-place`)")
    names = json.loads((previous / LEARN_PREVIOUS_INDEX).read_text())
    for name in names:
        saved, target = previous / name, model_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)  # also what did not exist before (learned.json of a first learn)
        if saved.is_dir():
            shutil.copytree(saved, target)
        elif saved.exists():
            shutil.copy2(saved, target)
    shutil.rmtree(previous)
    return names


def learn_into_bank(bank: BankRows, data: Labelled, new_rows: np.ndarray | None = None) -> dict:
    """Append ``data`` to one loaded bank, replacing rows of the same patents; returns what happened."""
    from cpc_models.data import label_matrix
    from cpc_models.kinds.tfidf import title_of

    x = bank.features(data.texts) if new_rows is None else new_rows
    keep = np.ones(len(bank), dtype=bool)
    same = bank.same_text_rows(x)
    keep[same[same >= 0]] = False
    numbers = bank.numbers
    if numbers is not None:
        learned = {n for n in data.publication_numbers if n}
        keep &= np.array([n not in learned for n in numbers], dtype=bool)
    docs = [
        {"publication_number": number, "title": title_of(text), "codes": list(codes)}
        for number, text, codes in zip(data.publication_numbers, data.texts, data.codes)
    ]
    before = len(bank)
    after = write_rows(bank, keep, x, label_matrix(data.codes, bank.labels), docs)
    return {"rows_before": before, "rows_replaced": int((~keep).sum()), "rows_after": after}


def extend_labels(folder: Path, codes: list[str]) -> list[str]:
    """Append ``codes`` the folder's ``config.json`` lacks to its labels; returns those appended."""
    from cpc_models.registry import label_config, labels_from_config, read_model_config

    config = read_model_config(folder)
    labels = labels_from_config(config)
    added = [c for c in codes if c not in labels]
    if added:
        config.update(label_config(labels + added))
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return added


def open_vocabulary(target: Path, banks, codes: list[str], threshold: float) -> bool:
    """``--new-labels``: the banks learn ``codes`` as labels; where the model's scores come from a bank (a kNN kind,
    or an ensemble with a kNN member) the model predicts them too, decided at ``threshold`` (``thresholds.json``).
    Returns whether the model predicts them."""
    from cpc_models.learn.banks import has_bank
    from cpc_models.registry import folder_labels, kind_of
    from cpc_models.scoring.thresholds import Thresholds

    for bank in banks:
        extend_labels(bank.path, codes)
    kind = kind_of(target)
    voting = [b for b in banks if b.path != target / NEIGHBOUR_INDEX_DIR]
    if not (has_bank(kind) or ((target / ENSEMBLE_FILE).exists() and voting)):
        return False
    old = folder_labels(target)
    extend_labels(target, codes)
    thresholds = Thresholds.load(target)
    if thresholds.mode == "global":  # per label from now on: the old labels keep the global threshold
        thresholds.per_label = {c: thresholds.global_threshold for c in old}
        thresholds.mode = "per_label"
    thresholds.per_label.update({c: float(threshold) for c in codes if c not in old})
    thresholds.save(target)
    return True


def learn_model(
    model_dir: str | Path,
    data: Labelled,
    out: str | Path | None = None,
    in_place: bool = False,
    new_labels: bool = False,
    new_label_threshold: float = NEW_LABEL_THRESHOLD,
) -> dict:
    """Add ``data`` to every neighbour bank of ``model_dir`` (written to ``out``, or in place); returns the record
    appended to ``learned.json``. ``new_labels``: codes outside the model's labels become labels of the banks (and
    of the model, where a bank votes), decided at ``new_label_threshold``."""
    from cpc_models.registry import folder_labels, read_model_config

    model_dir = Path(model_dir)
    read_model_config(model_dir)
    if in_place == (out is not None):
        raise InputError("give --out NEW_FOLDER, or --in-place to change the model folder itself")
    with changing(model_dir) if in_place else contextlib.nullcontext():
        t0 = time.perf_counter()
        if not in_place:
            out = Path(out)
            if out.exists():
                raise InputError(f"{out} already exists; choose a new folder (or --in-place)")
            if out.resolve().is_relative_to(model_dir.resolve()):
                raise InputError(f"{out} is inside the model folder {model_dir}")
            if not find_banks(model_dir):
                raise InputError(f"{model_dir} has no neighbour bank to learn into (a kNN member or neighbour_index/)")
            with changing(model_dir, wait=True):
                copy_model(model_dir, out)
            target = out
        else:
            target = model_dir
        banks = find_banks(target)
        if not banks:
            raise InputError(f"{model_dir} has no neighbour bank to learn into (a kNN member or neighbour_index/)")
        if in_place:
            _keep_previous(target, banks)
        labels = set(folder_labels(target))
        outside = Counter(c for codes in data.codes for c in codes if c not in labels)
        record = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "source": data.source,
            "source_kind": data.source_kind,
            "count": len(data),
            "digest": data.digest(),
            "duplicates_in_source": data.duplicates,
            "rows_skipped": dict(data.skipped),
            "without_a_model_code": sum(1 for codes in data.codes if not any(c in labels for c in codes)),
            "codes_outside_labels": {
                "codes": sum(outside.values()),
                "distinct": len(outside),
                "top": dict(outside.most_common(10)),
            },
            "banks": [],
        }
        if new_labels and outside:
            predicted = open_vocabulary(target, banks, sorted(outside), new_label_threshold)
            record["new_labels"] = {
                "added": len(outside),
                "predicted_by_the_model": predicted,
                "threshold": new_label_threshold if predicted else None,
            }
        for bank in banks:
            result = learn_into_bank(BankRows(bank), data)
            shutil.rmtree(bank.path / PREDICTIONS_DIR, ignore_errors=True)  # scores of the base bank: stale now
            record["banks"].append(
                {"path": bank.path.relative_to(target).as_posix() or ".", "kind": bank.kind, **result}
            )
        shutil.rmtree(target / PREDICTIONS_DIR, ignore_errors=True)
        record["seconds"] = round(time.perf_counter() - t0, 2)
        history = _read_learned(target)
        if not in_place and not history.get("base"):
            history["base"] = model_dir.name
        history.setdefault("learned", []).append(record)
        (target / LEARNED_FILE).write_text(json.dumps(history, indent=2, ensure_ascii=False) + "\n")
        write_card_section(target, history)
        log.info("%s: learned %d patents into %d bank(s) in %.1f s", target, len(data), len(banks), record["seconds"])
        return record


def _read_learned(model_dir: Path) -> dict:
    path = model_dir / LEARNED_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def write_card_section(model_dir: Path, history: dict) -> None:
    """The card's "Learned patents" section (replaced on each learn), after everything else."""
    path = model_dir / CARD_FILE
    card = path.read_text() if path.exists() else ""
    card = card.split(CARD_MARK)[0].rstrip("\n")
    rows = [
        f"| {r['date'][:10]} | {r['source_kind']} `{Path(r['source']).name}` | {r['count']} | "
        f"{sum(b['rows_replaced'] for b in r['banks'])} | {r['codes_outside_labels']['codes']} | `{r['digest'][7:19]}` |"
        for r in history.get("learned", [])
    ]
    base = f" Base model: `{history['base']}`." if history.get("base") else ""
    section = (
        f"\n\n{CARD_MARK}\n## Learned patents\n\n"
        "Labelled patents added to the neighbour banks with `cpc learn` (no retraining: the linear members, thresholds "
        f"and calibration are the base model's, and so are the metrics above).{base} Each learn is recorded in "
        f"`{LEARNED_FILE}`.\n\n| date | source | patents | bank rows replaced | codes outside the labels | digest |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    path.write_text(card + section)
