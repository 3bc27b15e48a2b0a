"""``cpc_models.predict.schema``: the output columns built by Arrow's JSON reader, in blocks."""

from __future__ import annotations

import pyarrow as pa

from cpc_models.predict import schema


def test_rows_over_one_json_block_are_read_block_by_block(monkeypatch):
    """A batch whose JSON lines pass the reader's block limit (an int32: 2 GiB; here 64 bytes) is read in several
    blocks, one chunk each, with every value as given (a row longer than a block included)."""
    monkeypatch.setattr(schema, "JSON_BLOCK_BYTES", 64)
    values = [f'row {i} "quoted" \\ é\n' * (1 + i % 7) for i in range(40)] + [None, "x" * 500, ""]
    column = schema.arrays_from_rows(({"v": v} for v in values), pa.schema([("v", pa.string())]))["v"]
    assert column.type == pa.string() and column.to_pylist() == values
    assert isinstance(column, pa.ChunkedArray) and column.num_chunks > 1
