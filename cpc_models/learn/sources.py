"""What ``cpc learn`` reads: labelled patents from a raw CSV (or a folder of them), a dataset folder or Hub dataset
repo id, a parquet file, or the feedback folder the Space writes (``cpc_dataset.feedback``).

Every source becomes one ``Labelled`` list of (publication number, model input text, codes). Within a source,
duplicates (the same publication number, or the same normalised text: ``cpc_dataset.text.abstract_key``) keep
the last row read: a later correction replaces an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cpc_dataset.errors import InputError, InvalidCodeError
from cpc_dataset.text import abstract_key, clean_text, model_input

log = logging.getLogger(__name__)


@dataclass
class Labelled:
    source: str  # what was read: a Hub repo id, or a local file or folder's name
    source_kind: str  # "raw CSV", "raw CSV folder", "dataset folder", "parquet", "feedback folder"
    publication_numbers: list[str] = field(default_factory=list)  # "" where the source has none
    texts: list[str] = field(default_factory=list)  # model inputs: title, then abstract
    codes: list[list[str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows not used
    duplicates: int = 0  # rows replaced by a later row of the same patent

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, number: str, text: str, codes: list[str]) -> None:
        text = clean_text(text)
        if not text:
            self.skipped["no text"] += 1
        elif not codes:
            self.skipped["no valid code"] += 1
        else:
            self.publication_numbers.append(clean_text(number).replace(" ", "").upper())
            self.texts.append(text)
            self.codes.append(list(codes))

    def digest(self) -> str:
        """sha256 of the rows learned (numbers, texts, codes), to tell two learned sets apart."""
        h = hashlib.sha256()
        for row in zip(self.publication_numbers, self.texts, self.codes):
            h.update(json.dumps(row, ensure_ascii=False).encode())
        return "sha256:" + h.hexdigest()


def _symbols(codes, skipped: Counter) -> list[str]:
    from cpc_dataset.codes import parse_code

    out = []
    for code in codes or []:
        try:
            symbol = parse_code(str(code)).symbol
        except InvalidCodeError:
            skipped["codes that are not CPC codes (dropped)"] += 1
            continue
        if symbol not in out:
            out.append(symbol)
    return out


def _from_raw(paths: list[Path], data: Labelled) -> None:
    from cpc_dataset.raw import RawReadStats, read_raw_file

    stats = RawReadStats()
    for path in paths:
        for record in read_raw_file(path, stats):
            data.add(record.publication_number, model_input(record.title, record.abstract), record.cpc_codes)
    data.skipped.update(stats.dropped)


def _from_dataset(folder: Path, splits: list[str] | None, data: Labelled) -> None:
    from cpc_models.data import load_split

    present = sorted({p.name.split("-")[0] for p in (folder / "data").glob("*.parquet")})
    for name in splits or present:
        if name not in present:
            raise InputError(f"{folder} has no {name!r} split; it has {', '.join(present) or 'none'}")
        split = load_split(folder, name)
        for number, text, codes in zip(split.publication_numbers, split.texts, split.codes):
            data.add(number, text, _symbols(codes, data.skipped))


def _from_feedback(folder: Path, data: Labelled) -> None:
    from cpc_dataset.feedback import read_feedback

    for row in read_feedback(folder):
        data.add(row.publication_number or "", row.text, _symbols(row.corrected_codes, data.skipped))


def _from_parquet(path: Path, data: Labelled) -> None:
    """A parquet file with the dataset's columns (title, abstract, cpc_codes) or the feedback's (text, corrected_codes)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file it cannot read
        raise InputError(f"{path}: not a readable parquet file ({str(exc)[:120]})") from None
    columns = set(table.column_names)
    if {"text", "corrected_codes"} <= columns:
        data.source_kind = "feedback parquet"
        for r in table.to_pylist():
            data.add(r.get("publication_number") or "", r["text"] or "", _symbols(r["corrected_codes"], data.skipped))
    elif {"abstract", "cpc_codes"} <= columns:
        for r in table.to_pylist():
            text = model_input(r.get("title"), r["abstract"])
            data.add(r.get("publication_number") or "", text, _symbols(r["cpc_codes"], data.skipped))
    else:
        raise InputError(
            f"{path}: needs the columns abstract and cpc_codes (title, publication_number optional), "
            f"or text and corrected_codes; found {', '.join(sorted(columns)) or 'none'}"
        )


def read_labelled(source: str | Path, splits: list[str] | None = None, revision: str | None = None) -> Labelled:
    """The labelled patents of ``source`` (see the module docstring), duplicates removed. ``splits``: the dataset
    folder's splits to read (default: all of them)."""
    from cpc_dataset.feedback import is_feedback_folder
    from cpc_dataset.hub import is_repo_id, resolve_dataset

    text = str(source)
    repo = is_repo_id(text)
    path = resolve_dataset(text, revision) if repo else Path(text)
    if not path.exists():
        raise InputError(
            f"{source} does not exist; give a raw CSV, a dataset folder or repo id, a parquet file or a feedback folder"
        )
    if path.is_dir():
        if (path / "labels.json").exists():
            data = Labelled(text, "dataset folder")
            _from_dataset(path, splits, data)
        elif is_feedback_folder(path):
            data = Labelled(text, "feedback folder")
            _from_feedback(path, data)
        else:
            csvs = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
            if not csvs:
                raise InputError(
                    f"{path} is not a dataset folder (no labels.json), a feedback folder (no {'data/train-*.parquet'}) "
                    "or a folder of raw CSVs"
                )
            data = Labelled(text, "raw CSV folder")
            _from_raw(csvs, data)
    elif path.suffix.lower() == ".csv":
        data = Labelled(text, "raw CSV")
        _from_raw([path], data)
    elif path.suffix.lower() == ".parquet":
        data = Labelled(text, "parquet")
        _from_parquet(path, data)
    else:
        raise InputError(f"{path}: give a .csv, a .parquet, a dataset folder or a feedback folder")
    data.source = text if repo else path.name  # what learned.json records: no local folders
    data = dedupe(data)
    if not data.texts:
        reasons = ", ".join(f"{n} {why}" for why, n in data.skipped.items()) or "no rows"
        raise InputError(f"{source} holds no labelled patent to learn ({reasons})")
    return data


def dedupe(data: Labelled) -> Labelled:
    """The same rows with duplicates removed, the last one of each patent kept (at its last position)."""
    last: dict[str, int] = {}
    for i, (number, text) in enumerate(zip(data.publication_numbers, data.texts)):
        for key in duplicate_keys(number, text):
            last[key] = i
    keep = [
        i
        for i, (number, text) in enumerate(zip(data.publication_numbers, data.texts))
        if all(last[k] == i for k in duplicate_keys(number, text))
    ]
    out = Labelled(data.source, data.source_kind, skipped=data.skipped, duplicates=len(data.texts) - len(keep))
    out.publication_numbers = [data.publication_numbers[i] for i in keep]
    out.texts = [data.texts[i] for i in keep]
    out.codes = [data.codes[i] for i in keep]
    return out


def duplicate_keys(number: str, text: str) -> list[str]:
    """What makes two rows the same patent: the publication number, and the normalised text."""
    return ([f"number:{number}"] if number else []) + [f"text:{abstract_key(text)}"]
