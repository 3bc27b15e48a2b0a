"""Write the splits as parquet shards with Hugging Face features in their schema."""

from __future__ import annotations

from pathlib import Path


def dataset_features(vocabulary: list[str]):
    import datasets

    return datasets.Features(
        {
            "publication_number": datasets.Value("string"),
            "title": datasets.Value("string"),
            "abstract": datasets.Value("string"),
            "cpc_codes": datasets.List(datasets.Value("string")),
            "labels": datasets.List(datasets.ClassLabel(names=vocabulary)),
            "other_publication_numbers": datasets.List(datasets.Value("string")),
        }
    )


def write_split_streams(
    data_dir: Path, batches, vocabulary: list[str], splits: tuple[str, ...], rows_per_group: int = 10_000
) -> dict[str, int]:
    """Write ``(split, record batch)`` pairs (the features' columns) to one parquet file per split, with the
    features' schema, in row groups of ``rows_per_group``; returns rows per split. Streamed: the build writes
    splits of millions of rows without holding them. Every split gets its file, an empty one included."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = dataset_features(vocabulary).arrow_schema
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = dict.fromkeys(splits, 0)
    pending: dict[str, list] = {s: [] for s in splits}
    writers = {s: pq.ParquetWriter(data_dir / f"{s}-00000-of-00001.parquet", schema) for s in splits}

    def flush(split: str, everything: bool) -> None:
        table = pa.concat_tables(pending[split]).combine_chunks()
        start = 0
        while table.num_rows - start >= rows_per_group or (everything and start < table.num_rows):
            writers[split].write_table(table.slice(start, rows_per_group))
            start += rows_per_group
        pending[split] = [table.slice(start)]

    try:
        for split, batch in batches:
            pending[split].append(pa.Table.from_batches([batch]).select(schema.names).cast(schema))
            rows[split] += batch.num_rows
            if sum(t.num_rows for t in pending[split]) >= rows_per_group:
                flush(split, everything=False)
        for split in splits:
            if pending[split]:
                flush(split, everything=True)
    finally:
        for writer in writers.values():
            writer.close()
    return rows
