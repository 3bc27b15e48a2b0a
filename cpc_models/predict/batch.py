"""Classify a CSV in chunks: bounded memory, a progress bar, rows written as they are done."""

from __future__ import annotations

import json
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.text import model_input

OUTPUT_COLUMNS = ("cpc_codes", "cpc_scores", "subclasses", "sections", "truncated", "reason")


def predict_csv(predictor, input_path: str | Path, output_path: str | Path, chunk_size: int = 256, top_k: int | None = None,
                threshold: float | None = None, progress: bool = True) -> int:
    """Read ``input_path`` (column ``abstract``, optional ``title``), write it back with predictions. Returns rows."""
    import pandas as pd
    from tqdm.auto import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    if not input_path.is_file():
        raise InputError(f"input file {input_path} does not exist")
    if input_path.resolve() == output_path.resolve():
        raise InputError("--output must differ from --input (the input would be overwritten)")
    try:
        reader = pd.read_csv(input_path, chunksize=chunk_size, dtype=str, keep_default_na=False, encoding="utf-8")
        rows = 0
        with tqdm(desc="classifying", unit="abstract", disable=not progress) as bar:
            for number, chunk in enumerate(reader):
                if "abstract" not in chunk.columns:
                    raise InputError(f"{input_path}: no 'abstract' column (found: {', '.join(chunk.columns)})")
                titles = chunk["title"] if "title" in chunk.columns else [""] * len(chunk)
                texts = [model_input(t, a) if a.strip() else "" for t, a in zip(titles, chunk["abstract"])]
                predictions = predictor.predict(texts, top_k=top_k, threshold=threshold)
                chunk = chunk.assign(
                    cpc_codes=[";".join(c.code for c in p.codes) for p in predictions],
                    cpc_scores=[json.dumps({c.code: c.score for c in p.codes}) for p in predictions],
                    subclasses=[";".join(c.code for c in p.subclasses) for p in predictions],
                    sections=[";".join(c.code for c in p.sections) for p in predictions],
                    truncated=[p.truncated for p in predictions],
                    reason=[p.reason for p in predictions],
                )
                chunk.to_csv(output_path, mode="w" if number == 0 else "a", header=number == 0, index=False)
                rows += len(chunk)
                bar.update(len(chunk))
    except UnicodeDecodeError:
        raise InputError(f"{input_path}: not UTF-8 text") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{input_path}: not a readable CSV ({exc}); rows done so far are in {output_path}") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{input_path} is empty") from None
    return rows
