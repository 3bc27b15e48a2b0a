"""Classify rows and shards: what every engine runs, in this process or in a Ray actor, so their outputs agree
row for row with ``CpcPredictor.predict``.

``classify_table`` turns one batch of input rows into kept columns + prediction columns (``schema``);
``classify_shard`` streams one input shard through it into its output (temporary name, then renamed).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from cpc_models.predict.schema import mark_wordless, prediction_arrays, texts_to_classify
from cpc_models.predict.shards import (
    InvalidRows,
    Shard,
    ShardWriter,
    first_line,
    input_schema,
    kept_columns,
    read_batches,
    texts_as_strings,
)

log = logging.getLogger(__name__)


class ShardFailed(Exception):
    """One shard could not be read or written; the job reports it and goes on with the others."""


class Written(NamedTuple):
    rows: int  # rows written
    bad_lines: int  # CSV lines skipped for a wrong number of fields


def classify_shard(predictor, shard: Shard, job, on_rows=None) -> Written:
    """Classify ``shard`` in batches of ``job.batch_size`` and write its output. A shard that cannot be read (corrupt
    pages, a bad type) raises ``ShardFailed`` and leaves no output, not even a temporary one."""
    writer, invalid = ShardWriter(shard.output), InvalidRows()
    try:
        for table in read_batches(shard, job.batch_size, invalid=invalid):
            writer.write(classify_table(predictor, table, job.id_columns, job.top_k, job.threshold))
            if on_rows is not None:
                on_rows(table.num_rows)
        if writer.rows == 0:
            writer.write(empty_output(shard, job.id_columns))
        writer.commit()
    except (OSError, ValueError, TypeError) as exc:  # pyarrow's errors derive from these
        writer.discard()
        raise ShardFailed(first_line(exc)) from None
    except BaseException:
        writer.discard()
        raise
    return Written(writer.rows, invalid.count)


def classify_table(
    predictor,
    table,
    id_columns: list[str] | None = None,
    top_k: int | None = None,
    threshold: float | None = None,
):
    """Input rows (``abstract``, optional ``title``, anything else) -> kept columns + the prediction columns. A row
    that cannot be classified gets a reason, never an error."""
    import pyarrow as pa

    n = table.num_rows
    abstracts = _strings(table, "abstract", n)
    titles = _strings(table, "title", n)
    predictions = predict_safely(predictor, texts_to_classify(titles, abstracts), top_k, threshold)
    mark_wordless(predictions, abstracts)  # an abstract of symbols only is not classified
    keep = kept_columns(table.column_names, id_columns)
    columns = {c: table.column(c) for c in keep if c in table.column_names}
    columns.update(prediction_arrays(predictions))
    return pa.table(columns)


def predict_safely(predictor, texts: list[str], top_k: int | None, threshold: float | None) -> list:
    """``predictor.predict``; if a batch fails, row by row, and a row that still fails gets its error as the reason."""
    from cpc_models.predict.predictor import Prediction

    if not texts:
        return []
    try:
        return predictor.predict(texts, top_k=top_k, threshold=threshold)
    except Exception as exc:  # noqa: BLE001 - one bad row must not stop a corpus
        log.warning(
            "a batch of %d rows failed (%s: %s); classifying it row by row", len(texts), type(exc).__name__, exc
        )
    results = []
    for text in texts:
        try:
            results.extend(predictor.predict([text], top_k=top_k, threshold=threshold))
        except Exception as exc:  # noqa: BLE001
            results.append(Prediction(reason=f"could not classify: {type(exc).__name__}: {exc}"[:300]))
    return results


def empty_output(shard: Shard, id_columns: list[str] | None):
    """The output of a shard with no rows: its kept columns and the prediction columns, no rows."""
    return classify_table(None, texts_as_strings(input_schema(shard).empty_table()), id_columns)


def _strings(table, name: str, n: int) -> list[str]:
    if name not in table.column_names:
        return [""] * n
    return [v if isinstance(v, str) else "" for v in table.column(name).to_pylist()]
