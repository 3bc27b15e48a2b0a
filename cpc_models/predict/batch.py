"""Classify a CSV in chunks: bounded memory, a progress bar, crash-safe and resumable output.

Rows go to ``OUTPUT.partial`` as each chunk is done (flushed to disk, with its row count and byte size in
``OUTPUT.partial.json``); the file takes its final name only when every row is written, so a crash never
leaves a valid-looking partial ``OUTPUT``. ``resume=True`` (``cpc predict --resume``) cuts the partial file
back to its last complete chunk and goes on from there; an existing ``OUTPUT`` is replaced only with
``overwrite=True``.

Cells are neutralised against CSV (formula) injection the way OWASP recommends: every cell, input columns
and column names included, that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
leading single quote, so a spreadsheet shows it as text instead of running it (``=HYPERLINK(...)``,
``=cmd|' /C calc'!A0``). The model reads the original text.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.text import has_words, model_input

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("cpc_codes", "cpc_scores", "subclasses", "sections", "truncated", "out_of_scope", "reason")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV Injection"
NO_WORDS = "no word to classify (only symbols, emoji, punctuation or invisible characters)"


def neutralise_cell(value):
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def predict_csv(
    predictor,
    input_path: str | Path,
    output_path: str | Path,
    chunk_size: int = 256,
    top_k: int | None = None,
    threshold: float | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
) -> int:
    """Read ``input_path`` (column ``abstract``, optional ``title``), write it back with predictions. Returns rows."""
    import pandas as pd
    from tqdm.auto import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise InputError(f"input file {input_path} does not exist")
    if input_path.resolve() == output_path.resolve():
        raise InputError("--output must differ from --input (the input would be overwritten)")
    if output_path.exists() and not overwrite:
        raise InputError(f"{output_path} exists: pass --overwrite to replace it")
    partial = output_path.with_name(output_path.name + ".partial")
    state_path = output_path.with_name(output_path.name + ".partial.json")
    identity = {
        "input": str(input_path.resolve()),
        "input_bytes": input_path.stat().st_size,
        "input_mtime_ns": input_path.stat().st_mtime_ns,
        "top_k": top_k,
        "threshold": threshold,
    }
    done = _resume_point(partial, state_path, identity, resume, overwrite)
    rows = done
    try:
        reader = pd.read_csv(input_path, chunksize=chunk_size, dtype=str, keep_default_na=False, encoding="utf-8")
        seen = 0
        with (
            open(partial, "a" if done else "w", encoding="utf-8", newline="") as out,
            tqdm(desc="classifying", unit="abstract", initial=done, disable=not progress) as bar,
        ):
            for chunk in reader:
                if "abstract" not in chunk.columns:
                    raise InputError(f"{input_path}: no 'abstract' column (found: {', '.join(chunk.columns)})")
                skip, seen = max(0, min(len(chunk), done - seen)), seen + len(chunk)
                chunk = chunk.iloc[skip:]
                if chunk.empty:
                    continue
                chunk = _classify(predictor, chunk, top_k, threshold)
                chunk.to_csv(
                    out, header=rows == 0, index=False, lineterminator="\r\n"
                )  # RFC 4180: a CR in a cell is quoted
                out.flush()
                os.fsync(out.fileno())
                rows += len(chunk)
                _write_json(state_path, {**identity, "rows": rows, "bytes": out.tell()})
                bar.update(len(chunk))
    except UnicodeDecodeError:
        raise InputError(f"{input_path}: not UTF-8 text{_kept(rows, partial)}") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{input_path}: not a readable CSV ({exc}){_kept(rows, partial)}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{input_path} is empty") from None
    os.replace(partial, output_path)
    state_path.unlink(missing_ok=True)
    return rows


def texts_to_classify(titles, abstracts) -> list[str]:
    """What the model reads per row; "" (not classified) where the abstract has no word."""
    return [model_input(t, a) if has_words(a) else "" for t, a in zip(titles, abstracts)]


def mark_wordless(predictions, abstracts) -> None:
    """Rows whose abstract is not blank but has no word get ``NO_WORDS`` as their reason."""
    for prediction, abstract in zip(predictions, abstracts):
        if abstract.strip() and not has_words(abstract):
            prediction.reason = NO_WORDS


def _classify(predictor, chunk, top_k, threshold):
    titles = chunk["title"] if "title" in chunk.columns else [""] * len(chunk)
    predictions = predictor.predict(texts_to_classify(titles, chunk["abstract"]), top_k=top_k, threshold=threshold)
    mark_wordless(predictions, chunk["abstract"])
    chunk = chunk.assign(
        cpc_codes=[";".join(c.code for c in p.codes) for p in predictions],
        cpc_scores=[json.dumps({c.code: c.score for c in p.codes}) for p in predictions],
        subclasses=[";".join(c.code for c in p.subclasses) for p in predictions],
        sections=[";".join(c.code for c in p.sections) for p in predictions],
        truncated=[p.truncated for p in predictions],
        out_of_scope=[p.out_of_scope for p in predictions],
        reason=[p.reason for p in predictions],
    )
    chunk = chunk.apply(lambda column: column.map(neutralise_cell))
    chunk.columns = [neutralise_cell(name) for name in chunk.columns]
    return chunk


def _resume_point(partial: Path, state_path: Path, identity: dict, resume: bool, overwrite: bool) -> int:
    """Rows already in ``partial`` to continue from (0: start afresh), with the file cut to its last whole chunk."""
    if not partial.exists():
        state_path.unlink(missing_ok=True)
        return 0
    if not resume:
        if overwrite:
            partial.unlink()
            state_path.unlink(missing_ok=True)
            return 0
        raise InputError(
            f"an interrupted run left {partial}: pass --resume to continue it or --overwrite to start again"
        )
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(
            f"cannot resume: {state_path} is missing or unreadable; pass --overwrite to start again"
        ) from None
    changed = [key for key, value in identity.items() if state.get(key) != value]
    if changed:
        raise InputError(
            f"cannot resume: {', '.join(changed)} differ from the interrupted run; pass --overwrite to start again"
        )
    with open(partial, "r+b") as f:
        f.truncate(int(state["bytes"]))  # drop a chunk that was being written when the run stopped
    log.info("resuming after %d rows already in %s", state["rows"], partial)
    return int(state["rows"])


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _kept(rows: int, partial: Path) -> str:
    return f"; the {rows} rows done so far are kept in {partial}" if rows else ""
