"""A corpus as shards: find the input files, name one output per input, read them, write outputs atomically.

Shared by both engines (``cpc_models.predict.corpus`` runs them in this process, ``distributed`` on Ray).
An output file exists only once it is complete (written to a temporary name, then renamed), so a re-run
skips every shard whose output exists and a killed job finishes with the rest.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cpc_dataset.errors import InputError

log = logging.getLogger(__name__)

FORMATS = {".parquet": "parquet", ".csv": "csv"}
TEXT_COLUMNS = ("title", "abstract")
PREDICTION_COLUMNS = ("codes", "scores", "subclasses", "sections", "truncated", "reason")
JOB_FILE = "_cpc_job.json"  # what produced the folder; a re-run with other settings is refused
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Shard:
    source: Path
    output: Path
    format: str  # "parquet" or "csv", for the input and its output alike
    rows: int  # rows the input holds (from parquet metadata, or counted in the CSV)
    error: str = ""  # why the input cannot be read (the shard is reported, the others go on)

    @property
    def done(self) -> bool:
        return self.output.exists()


def find_inputs(spec: str | Path) -> tuple[Path, list[Path]]:
    """The input files named by a file, a folder (searched recursively) or a glob, and the folder they sit under."""
    spec = str(spec)
    if _GLOB_CHARS & set(spec):
        parts = Path(spec).parts
        static = [p for p in parts[: next(i for i, p in enumerate(parts) if _GLOB_CHARS & set(p))]]
        root = Path(*static) if static else Path(".")
        files = [Path(p) for p in sorted(glob.glob(spec, recursive=True))]
    elif Path(spec).is_dir():
        root = Path(spec)
        files = sorted(
            p for p in root.rglob("*") if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
        )
    elif Path(spec).is_file():
        root, files = Path(spec).parent, [Path(spec)]
        if Path(spec).suffix.lower() not in FORMATS:
            raise InputError(f"{spec}: not a .parquet or .csv file")
    else:
        raise InputError(f"input {spec} does not exist")
    files = [f for f in files if f.is_file() and f.suffix.lower() in FORMATS]
    if not files:
        raise InputError(f"no .parquet or .csv files in {spec}")
    return root, files


def plan_shards(input_spec: str | Path, output_dir: str | Path) -> list[Shard]:
    """One shard per input file; its output mirrors the input's path under ``output_dir``, same format. An output
    named ``*.parquet`` or ``*.csv`` takes one input file, in either format."""
    root, files = find_inputs(input_spec)
    if is_file_output(output_dir):
        if len(files) != 1:
            raise InputError(f"--output {output_dir} is one file; {len(files)} inputs need an output folder")
        return [_shard(files[0].resolve(), Path(output_dir).resolve())]
    output_dir = Path(output_dir).resolve()
    files = [f for f in files if not f.resolve().is_relative_to(output_dir)]  # earlier outputs are not inputs
    if root.resolve() == output_dir:
        raise InputError("--output must be a folder other than the input folder (inputs would be overwritten)")
    return [_shard(f.resolve(), output_dir / f.resolve().relative_to(root.resolve())) for f in files]


def is_file_output(output: str | Path) -> bool:
    return Path(output).suffix.lower() in FORMATS and not Path(output).is_dir()


def job_file(output: str | Path) -> Path:
    """Where the settings that produced an output are recorded: in the output folder, or beside an output file."""
    output = Path(output)
    return output.with_name(f".{output.name}.cpc_job.json") if is_file_output(output) else output / JOB_FILE


def _shard(source: Path, output: Path) -> Shard:
    if output == source:
        raise InputError("--output must differ from --input (the input would be overwritten)")
    fmt = FORMATS[source.suffix.lower()]
    try:
        return Shard(source, output, fmt, count_rows(source, fmt))
    except InputError as exc:
        return Shard(source, output, fmt, 0, error=str(exc))


def count_rows(path: Path, fmt: str) -> int:
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        return sum(batch.num_rows for batch in _csv_stream(path))
    except (OSError, ValueError, StopIteration) as exc:  # pyarrow's errors derive from OSError / ValueError
        raise InputError(f"{path}: not a readable {fmt} file ({_first_line(exc)})") from None


def input_columns(shard: Shard) -> list[str]:
    """Column names of an input shard (the header of a CSV, the schema of a parquet file)."""
    if shard.format == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(shard.source).names)
    import csv

    with open(shard.source, encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh), [])


def kept_columns(columns: list[str], id_columns: list[str] | None) -> list[str]:
    """The input columns copied beside the predictions: ``id_columns``, or every column but the texts."""
    if id_columns:
        clash = [c for c in id_columns if c in PREDICTION_COLUMNS or c in TEXT_COLUMNS]
        if clash:
            raise InputError(f"--id-columns {', '.join(clash)}: names of text or prediction columns")
        return list(id_columns)
    return [c for c in columns if c not in TEXT_COLUMNS and c not in PREDICTION_COLUMNS]


def check_columns(shards: list[Shard], id_columns: list[str] | None) -> None:
    """Every shard must have an ``abstract`` column and the ``id_columns`` asked for."""
    for shard in shards:
        if shard.error:
            continue
        columns = input_columns(shard)
        missing = [c for c in ["abstract", *(id_columns or [])] if c not in columns]
        if missing:
            raise InputError(
                f"{shard.source}: no {', '.join(repr(c) for c in missing)} column (found: {', '.join(columns)})"
            )
        dropped = [c for c in columns if c in PREDICTION_COLUMNS]
        if dropped and not id_columns:
            log.warning("%s: input columns %s are left out (the predictions use those names)", shard.source, dropped)


def read_batches(shard: Shard, batch_size: int, columns: list[str] | None = None):
    """Record batches of at most ``batch_size`` rows, strings as read (CSV cells are never converted)."""
    import pyarrow as pa

    if shard.format == "parquet":
        import pyarrow.parquet as pq

        yield from pq.ParquetFile(shard.source).iter_batches(batch_size=batch_size, columns=columns)
        return
    for batch in _csv_stream(shard.source):
        table = pa.Table.from_batches([batch])
        if columns is not None:
            table = table.select(columns)
        yield from table.to_batches(max_chunksize=batch_size)


def csv_options(path: Path | None = None, columns: list[str] | None = None) -> dict:
    """pyarrow CSV options: every column a string, empty cells "", quoted newlines allowed, malformed lines skipped."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = columns if columns is not None else (input_columns(Shard(path, path, "csv", 0)) if path else [])
    return {
        "parse_options": pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip_invalid_row),
        "convert_options": pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    }


def skip_invalid_row(row) -> str:
    """A CSV line with the wrong number of fields cannot be classified: it is skipped, with a warning."""
    logging.getLogger(__name__).warning(
        "CSV line %s skipped: %s fields where the header has %s", row.number, row.actual_columns, row.expected_columns
    )
    return "skip"


def write_shard(shard: Shard, table) -> None:
    """Write ``table`` to ``shard.output`` under a temporary name, then rename it: the output is whole or absent."""
    shard.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = shard.output.with_name(f".{shard.output.name}.{os.getpid()}.tmp")
    try:
        if FORMATS[shard.output.suffix.lower()] == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(_flatten_for_csv(table), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, shard.output)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("wrote %s (%d rows)", shard.output, table.num_rows)


def remove_stale_temporaries(shards: list[Shard]) -> None:
    """Temporary files left by a killed run (never renamed, so never mistaken for done shards)."""
    for shard in shards:
        for stale in shard.output.parent.glob(f".{glob.escape(shard.output.name)}.*.tmp"):
            stale.unlink(missing_ok=True)


def check_job_file(output: Path, settings: dict) -> None:
    """Record what produces this output; refuse to resume into one written with other settings."""
    path = job_file(output)
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            raise InputError(
                f"{output} holds predictions made with other settings ({', '.join(f'{k}: {before.get(k)!r}' for k in changed)}); "
                "choose a new --output or delete it"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def _csv_stream(path: Path):
    import pyarrow.csv as pcsv

    return pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22), **csv_options(path))


def _flatten_for_csv(table):
    """List columns become ``;``-joined cells (scores aligned with codes); text cells that a spreadsheet would run
    as a formula get a leading apostrophe."""
    import pyarrow as pa

    from cpc_models.predict.batch import neutralise_cell

    columns = {}
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pa.array(
                [None if v is None else ";".join(str(x) for x in v) for v in column.to_pylist()], pa.string()
            )
        elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pa.array([neutralise_cell(v) for v in column.to_pylist()], pa.string())
        columns[neutralise_cell(name)] = column
    return pa.table(columns)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
