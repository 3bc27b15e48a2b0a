"""The feedback dataset folder: corrections of predicted codes, written by the Space, read by ``cpc learn``.

Layout (a Hub dataset repo, readable by ``datasets.load_dataset(folder)``, published by ``cpc push dataset``):

- ``README.md``: the card (YAML ``configs`` naming the one ``train`` split, and what each row holds);
- ``data/train-<UTC time>-<id>.parquet``: one file per correction, written to a temporary name and renamed, so
  two Space workers never write the same file and a crash never leaves half a row.

A row: ``id``, ``created_at`` (UTC, ISO 8601), ``text`` (what was classified, as typed), ``predicted_codes``
(what the model decided), ``corrected_codes`` (what the analyst says is right), ``model`` (the model folder's
name or repo id), ``publication_number`` (optional, empty when not given).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from cpc_dataset.codes import parse_code
from cpc_dataset.errors import InputError, InvalidCodeError
from cpc_dataset.text import clean_text

log = logging.getLogger(__name__)

SPLIT = "train"
DATA_GLOB = f"data/{SPLIT}-*.parquet"
COLUMNS = ("id", "created_at", "text", "predicted_codes", "corrected_codes", "model", "publication_number")
MAX_CODES = 50
_SLASH = re.compile(r"\s*/\s*")
_INNER_SPACE = re.compile(r"\b([A-Ha-hYy]\d\d[A-Za-z])\s+(\d)")
_SEPARATOR = re.compile(r"[\s,;]+")

CARD = """---
pretty_name: Corrected CPC codes (patent-cpc feedback)
task_categories:
- text-classification
tags:
- patents
- cpc
- feedback
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
# Corrected CPC codes

Corrections of predicted CPC codes, saved by the patent-cpc Space's "Correct these codes" control (on only where
`CPC_FEEDBACK_DIR` is set). One row per correction:

| column | what |
|---|---|
| `id` | random id of the correction |
| `created_at` | when it was saved (UTC, ISO 8601) |
| `text` | the text that was classified, exactly as typed (title first, then the abstract) |
| `predicted_codes` | the codes the model decided |
| `corrected_codes` | the codes the analyst says are right |
| `model` | the model that predicted them (folder name or Hub repo id) |
| `publication_number` | the patent's number where the analyst gave one, else empty |

Nothing else is stored: no IP address, no user name, no cookie. `cpc learn --model M --data <this folder>
--out M2` adds the corrected patents to the model's neighbour banks (the latest correction of a text wins).
"""


@dataclass
class FeedbackRow:
    text: str
    predicted_codes: list[str]
    corrected_codes: list[str]
    model: str = ""
    publication_number: str = ""
    id: str = ""
    created_at: str = ""


def parse_codes(text: str | list[str]) -> list[str]:
    """CPC symbols from a comma-, semicolon- or space-separated string (or a list), in order, without repeats.

    Raises InputError naming the first code that is not a CPC code."""
    if isinstance(text, list):
        parts = text
    else:  # "G06N 3/08" and "G06N3 / 08" are one code
        parts = _SEPARATOR.split(_INNER_SPACE.sub(r"\1\2", _SLASH.sub("/", str(text or ""))))
    codes: list[str] = []
    for part in parts:
        part = str(part).strip()
        if not part:
            continue
        try:
            symbol = parse_code(part).symbol
        except InvalidCodeError:
            raise InputError(f"{part[:40]!r} is not a CPC code (e.g. G06N3/08)") from None
        if symbol not in codes:
            codes.append(symbol)
    if len(codes) > MAX_CODES:
        raise InputError(f"{len(codes)} codes given; at most {MAX_CODES}")
    return codes


def _schema():
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return pa.schema(
        [
            ("id", pa.string()),
            ("created_at", pa.string()),
            ("text", pa.string()),
            ("predicted_codes", strings),
            ("corrected_codes", strings),
            ("model", pa.string()),
            ("publication_number", pa.string()),
        ]
    )


def write_feedback(folder: str | Path, row: FeedbackRow) -> Path:
    """Append one correction to the feedback folder (created with its card if needed); returns the file written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    if not clean_text(row.text):
        raise InputError("there is no text to save a correction for")
    if not row.corrected_codes:
        raise InputError("give at least one corrected code")
    (folder / "data").mkdir(parents=True, exist_ok=True)
    card = folder / "README.md"
    if not card.exists():
        card.write_text(CARD)
    now = dt.datetime.now(dt.timezone.utc)
    row.id = row.id or uuid.uuid4().hex
    row.created_at = row.created_at or now.isoformat(timespec="microseconds")
    table = pa.Table.from_pylist([{c: getattr(row, c) for c in COLUMNS}], schema=_schema())
    path = folder / "data" / f"{SPLIT}-{now.strftime('%Y%m%dT%H%M%S%f')}-{row.id[:12]}.parquet"
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
    log.info("correction %s saved to %s", row.id, path)
    return path


def is_feedback_folder(folder: str | Path) -> bool:
    return Path(folder).is_dir() and any(Path(folder).glob(DATA_GLOB)) and not (Path(folder) / "labels.json").exists()


def read_feedback(folder: str | Path) -> list[FeedbackRow]:
    """Every correction in the folder, oldest first."""
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(Path(folder).glob(DATA_GLOB)):
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file it cannot read
            raise InputError(f"{path}: not a readable parquet file ({str(exc)[:120]})") from None
        missing = [c for c in ("text", "corrected_codes") if c not in table.column_names]
        if missing:
            raise InputError(f"{path}: not a feedback file (no {', '.join(missing)} column)")
        for record in table.to_pylist():
            rows.append(FeedbackRow(**{c: record.get(c) or ([] if c.endswith("codes") else "") for c in COLUMNS}))
    return sorted(rows, key=lambda r: r.created_at)
