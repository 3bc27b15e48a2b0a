"""A batch job as shards: find the input files, name one output per input, read them typed, write outputs atomically,
and decide what an earlier run's output means (the resume rule).

Shared by both engines (``cpc_models.predict.corpus`` runs them in this process, ``distributed`` on Ray). One input
file is a corpus of one shard. An output file exists only once it is complete (written to a temporary name, then
renamed), so ``--resume`` skips every shard whose output exists and a killed job finishes with the rest.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_models.predict.schema import PREDICTION_COLUMNS, TEXT_COLUMNS, csv_table

log = logging.getLogger(__name__)

FORMATS = {".parquet": "parquet", ".csv": "csv"}
JOB_FILE = "_cpc_job.json"  # what produced the folder; resuming with other settings is refused
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Shard:
    source: Path
    output: Path
    format: str  # "parquet" or "csv" (the input's; the output's format is its own suffix)
    rows: int  # rows the input holds (from parquet metadata, or counted in the CSV)
    error: str = ""  # why the input cannot be read (the shard is reported, the others go on)

    @property
    def done(self) -> bool:
        return self.output.exists()


def find_inputs(spec: str | Path) -> tuple[Path, list[Path]]:
    """The input files named by a file, a folder (searched recursively) or a glob (a path that exists is taken as it
    is), and the folder they sit under.
    A symbolic link to a file is followed, wherever the file is; its output is named after the link."""
    spec = str(spec)
    if _GLOB_CHARS & set(spec) and not Path(spec).exists():  # a file named "a[1].csv" is that file
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


def plan_shards(input_spec: str | Path, output: str | Path) -> list[Shard]:
    """One shard per input file; its output mirrors the input's path under the output folder, same format. An
    output named ``*.parquet`` or ``*.csv`` takes one input file, in either format."""
    root, files = find_inputs(input_spec)
    if is_file_output(output):
        if len(files) != 1:
            raise InputError(f"--output {output} is one file; {len(files)} inputs need an output folder")
        return [_shard(files[0].absolute(), Path(output).absolute())]
    output_dir, root = Path(output).absolute(), root.absolute()
    if root.resolve() == output_dir.resolve():
        raise InputError("--output must be a folder other than the input folder (inputs would be overwritten)")
    if output_dir.is_relative_to(root):  # an output folder inside the input folder: earlier outputs are not inputs
        files = [f for f in files if not f.absolute().is_relative_to(output_dir)]
    shards = [_shard(f.absolute(), output_dir / f.absolute().relative_to(root)) for f in files]
    sources = {s.source.resolve() for s in shards}
    for shard in shards:
        if shard.output.resolve() in sources:
            raise InputError(
                f"--output {output} would put an output on the input {shard.output}; choose another folder"
            )
    return shards


def is_file_output(output: str | Path) -> bool:
    return Path(output).suffix.lower() in FORMATS and not Path(output).is_dir()


def job_file(output: str | Path) -> Path:
    """Where the settings that produced an output are recorded: in the output folder, or beside an output file."""
    output = Path(output)
    return output.with_name(f".{output.name}.cpc_job.json") if is_file_output(output) else output / JOB_FILE


def _shard(source: Path, output: Path) -> Shard:
    if output.resolve() == source.resolve():
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
        return sum(batch.num_rows for batch in _csv_stream(path, InvalidRows(quiet=True)))  # warned when classified
    except (OSError, ValueError, StopIteration) as exc:  # pyarrow's errors derive from OSError / ValueError
        raise InputError(f"not a readable {fmt} file ({first_line(exc)})") from None


def input_schema(shard: Shard):
    """The input's column names and types (a CSV's columns are all text)."""
    import pyarrow as pa

    if shard.format == "parquet":
        import pyarrow.parquet as pq

        return pq.read_schema(shard.source)
    import csv

    with open(shard.source, encoding="utf-8-sig", newline="") as fh:
        return pa.schema([(name, pa.string()) for name in next(csv.reader(fh), [])])


def input_columns(shard: Shard) -> list[str]:
    return list(input_schema(shard).names)


def check_id_columns(id_columns: list[str] | None) -> None:
    """``--id-columns`` cannot name a prediction column (checked before any output is touched)."""
    clash = [c for c in id_columns or [] if c in PREDICTION_COLUMNS]
    if clash:
        raise InputError(f"--id-columns {', '.join(clash)}: names of prediction columns")


def kept_columns(columns: list[str], id_columns: list[str] | None) -> list[str]:
    """The input columns copied beside the predictions: ``id_columns``, or every column (texts included)."""
    if id_columns:
        check_id_columns(id_columns)
        return list(id_columns)
    return [c for c in columns if c not in PREDICTION_COLUMNS]


def shard_problem(shard: Shard, id_columns: list[str] | None) -> str:
    """Why ``shard`` cannot be classified ("" if it can): unreadable, no ``abstract``, a missing id column, or a text
    column that is not text (an ``abstract`` of int64)."""
    if shard.error:
        return shard.error
    try:
        schema = input_schema(shard)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"not a readable {shard.format} file ({first_line(exc)})"
    missing = [c for c in ["abstract", *(id_columns or [])] if c not in schema.names]
    if missing:
        return f"no {', '.join(repr(c) for c in missing)} column (found: {', '.join(schema.names)})"
    for name in TEXT_COLUMNS:
        if name in schema.names and not is_text(schema.field(name).type):
            return f"column {name!r} is {schema.field(name).type}, not text"
    dropped = [c for c in schema.names if c in PREDICTION_COLUMNS]
    if dropped and not id_columns:
        log.warning("%s: input columns %s are left out (the predictions use those names)", shard.source, dropped)
    return ""


def is_text(kind) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_null(kind)
    )


def read_batches(shard: Shard, batch_size: int, columns: list[str] | None = None, invalid: InvalidRows | None = None):
    """Record batches of at most ``batch_size`` rows, text columns as ``string`` (CSV cells are never converted).
    ``invalid`` counts the CSV lines skipped for a wrong number of fields."""
    import pyarrow as pa

    if shard.format == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(shard.source).iter_batches(batch_size=batch_size, columns=columns):
            yield texts_as_strings(pa.Table.from_batches([batch]))
        return
    for batch in _csv_stream(shard.source, invalid):
        table = pa.Table.from_batches([batch])
        if columns is not None:
            table = table.select(columns)
        yield from (pa.Table.from_batches([b], schema=table.schema) for b in table.to_batches(max_chunksize=batch_size))


def texts_as_strings(table):
    import pyarrow as pa

    for name in TEXT_COLUMNS:
        if name in table.column_names and table.schema.field(name).type != pa.string():
            table = table.set_column(table.column_names.index(name), name, table.column(name).cast(pa.string()))
    return table


def csv_options(path: Path | None = None, columns: list[str] | None = None, invalid: InvalidRows | None = None) -> dict:
    """pyarrow CSV options: every column a string, empty cells "", quoted newlines allowed, malformed lines skipped."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = columns if columns is not None else (input_columns(Shard(path, path, "csv", 0)) if path else [])
    return {
        "parse_options": pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=invalid or InvalidRows()),
        "convert_options": pcsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    }


class InvalidRows:
    """pyarrow's invalid-row handler: a CSV line with the wrong number of fields cannot be classified; it is skipped,
    with a warning that shows it, and counted (the count reaches the job's summary)."""

    def __init__(self, quiet: bool = False):
        self.count, self.quiet = 0, quiet

    def __call__(self, row) -> str:
        self.count += 1
        if self.quiet:
            return "skip"
        where = f"CSV line {row.number}" if row.number is not None else "a CSV line"  # no number in quoted mode
        logging.getLogger(__name__).warning(
            "%s skipped: %s fields where the header has %s: %.80r",
            where,
            row.actual_columns,
            row.expected_columns,
            row.text,
        )
        return "skip"


class ShardWriter:
    """Writes one output table by table under a temporary name; ``commit`` renames it to the final name, so an
    output is whole or absent (never a partial file under its final name)."""

    def __init__(self, output: Path):
        self.output, self.rows, self._writer, self._schema = output, 0, None, None
        output.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
        self.csv = FORMATS[output.suffix.lower()] == "csv"

    def write(self, table) -> None:
        if self.csv:
            table = csv_table(table)
        if self._writer is None:
            self._schema = table.schema
            if self.csv:
                import pyarrow.csv as pcsv

                self._writer = pcsv.CSVWriter(str(self.tmp), table.schema)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(str(self.tmp), table.schema)
        self._writer.write_table(table.cast(self._schema))
        self.rows += table.num_rows

    def commit(self) -> None:
        self._writer.close()
        self._writer = None
        with open(self.tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.output)
        log.debug("renamed %s to %s", self.tmp.name, self.output)

    def discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, ValueError):
                pass
        self.tmp.unlink(missing_ok=True)


def prepare_output(output: str | Path, shards: list[Shard], settings: dict, resume: bool, overwrite: bool) -> None:
    """The resume rule, the same for one file and a folder. An earlier run's output (its job record or a complete
    shard) is refused unless ``resume`` (keep its complete shards, which must come from the same settings) or
    ``overwrite`` (delete them and start again). Then the job record is written and stale temporaries removed."""
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    record = job_file(output)
    done = [s for s in shards if s.done]
    if (record.exists() or done) and not (resume or overwrite):
        raise InputError(
            f"{output} holds an earlier run's output: pass --resume to keep its complete shards and write the rest, "
            "or --overwrite to start again"
        )
    if overwrite:
        for shard in done:
            shard.output.unlink()
        record.unlink(missing_ok=True)
        if done:
            log.info("--overwrite: %d earlier outputs removed", len(done))
    elif record.exists():
        try:
            before = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            before = {}
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        if changed:
            raise InputError(
                f"{output} holds predictions made with other settings "
                f"({', '.join(f'{k}: {before.get(k)!r}' for k in changed)}); pass --overwrite or choose a new --output"
            )
    elif done:
        raise InputError(f"cannot resume into {output}: it has no job record ({record.name}); pass --overwrite")
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    for shard in shards:  # left by a killed run (never renamed, so never mistaken for done shards)
        for stale in shard.output.parent.glob(f".{glob.escape(shard.output.name)}.*.tmp"):
            stale.unlink(missing_ok=True)


def _csv_stream(path: Path, invalid: InvalidRows | None = None):
    import pyarrow.csv as pcsv

    return pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 22), **csv_options(path, invalid=invalid))


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
