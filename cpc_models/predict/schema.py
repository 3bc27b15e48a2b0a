"""The batch output schema: the prediction columns every ``cpc predict --input`` output carries, their types in
parquet and their encoding in CSV, and the neutralisation of CSV cells. Every engine (local, Ray) and every output
(one file, a folder of shards, the Space's batch tab) writes through this module.

=============  ==================  ====================================  ============================================
column         parquet             CSV                                   meaning
=============  ==================  ====================================  ============================================
(input)        as read             as read                               the input's columns (``--id-columns``)
codes          list<string>        ``;``-joined                          decided CPC codes, best first
scores         list<double>        ``;``-joined, aligned with codes      each code's score
subclasses     list<string>        ``;``-joined                          roll-up of the codes to subclasses
sections       list<string>        ``;``-joined                          roll-up of the codes to sections
truncated      bool                ``true`` / ``false``                  the text was cut to the model's length
out_of_scope   bool                ``true`` / ``false``                  unlike the training patents
reason         string              text                                  why a row has no codes ("" if it has)
=============  ==================  ====================================  ============================================

Cells are neutralised against CSV (formula) injection the way OWASP recommends: every CSV cell, input columns and
column names included, whatever its parquet type (lists, dictionaries, structs, large or view strings), that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading single quote, so a spreadsheet
shows it as text instead of running it. The model reads the original text; parquet outputs keep it as is.
"""

from __future__ import annotations

import json

from cpc_dataset.text import has_words, model_input

TEXT_COLUMNS = ("title", "abstract")
PREDICTION_COLUMNS = ("codes", "scores", "subclasses", "sections", "truncated", "out_of_scope", "reason")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV Injection"
NO_WORDS = "no word to classify (only symbols, emoji, punctuation or invisible characters)"
LIST_SEPARATOR = ";"
JSON_BLOCK_BYTES = 1 << 30  # the JSON reader's block size is an int32, a string array's data under 2 GiB


def prediction_arrays(predictions) -> dict:
    """The prediction columns of ``predictions`` as pyarrow arrays, in schema order."""
    import pyarrow as pa

    strings = pa.list_(pa.string())
    schema = pa.schema(
        [
            ("codes", strings),
            ("scores", pa.list_(pa.float64())),
            ("subclasses", strings),
            ("sections", strings),
            ("truncated", pa.bool_()),
            ("out_of_scope", pa.bool_()),
            ("reason", pa.string()),
        ]
    )
    rows = (
        {
            "codes": [c.code for c in p.codes],
            "scores": [c.score for c in p.codes],
            "subclasses": [c.code for c in p.subclasses],
            "sections": [c.code for c in p.sections],
            "truncated": p.truncated,
            "out_of_scope": p.out_of_scope,
            "reason": p.reason,
        }
        for p in predictions
    )
    return arrays_from_rows(rows, schema)


def arrays_from_rows(rows, schema) -> dict:
    """Columns (name -> pyarrow array of ``schema``'s type) of ``rows`` (dictionaries of Python values), built by
    Arrow's JSON reader from orjson lines: ``pa.array`` on Python objects imports pandas (in every process that
    classifies, each Ray actor included: ``benchmarks/results/ray_batch.md``), which nothing here needs. Lines past ``JSON_BLOCK_BYTES``
    are read as further blocks, each a chunk of the columns (a chunked array then, as ``pa.array`` gives one past
    2 GiB of strings)."""
    import orjson

    tables, block, size = [], [], 0
    for line in map(orjson.dumps, rows):
        if block and size + len(line) > JSON_BLOCK_BYTES:
            tables.append(_read_json_block(block, schema))
            block, size = [], 0
        block.append(line)
        size += len(line) + 1
    if block:
        tables.append(_read_json_block(block, schema))
    if len(tables) > 1:
        return {name: _chunked([t.column(name) for t in tables], schema.field(name).type) for name in schema.names}
    table = tables[0] if tables else schema.empty_table()
    return {name: table.column(name).combine_chunks() for name in schema.names}


def _read_json_block(lines: list[bytes], schema):
    import io

    import pyarrow.json as pj

    data = b"\n".join(lines)
    return pj.read_json(
        io.BytesIO(data),
        read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
        parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"),
    )


def _chunked(columns, kind):
    import pyarrow as pa

    return pa.chunked_array([chunk for column in columns for chunk in column.chunks], kind)


def texts_to_classify(titles, abstracts) -> list[str]:
    """What the model reads per row; "" (not classified) where the abstract has no word."""
    return [model_input(t, a) if has_words(a) else "" for t, a in zip(titles, abstracts)]


def mark_wordless(predictions, abstracts) -> None:
    """Rows whose abstract is not blank but has no word get ``NO_WORDS`` as their reason."""
    for prediction, abstract in zip(predictions, abstracts):
        if abstract.strip() and not has_words(abstract):
            prediction.reason = NO_WORDS


def neutralise_cell(value):
    """``value`` with a leading ``'`` if a spreadsheet would read it as a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_table(table):
    """``table`` as CSV cells: numbers and booleans as they are, lists ``;``-joined, dictionaries decoded, structs
    and maps as JSON, every other type as text; every text cell and column name neutralised."""
    import pyarrow as pa

    columns = {}
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if pa.types.is_dictionary(kind):
            column, kind = column.cast(kind.value_type), kind.value_type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            cells = ({"v": neutralise_cell(_cell_text(v))} for v in column.to_pylist())
            column = arrays_from_rows(cells, pa.schema([("v", pa.string())]))["v"]
        columns[neutralise_cell(str(name))] = column
    return pa.table(columns)


def _cell_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join("" if v is None else _cell_text(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)
