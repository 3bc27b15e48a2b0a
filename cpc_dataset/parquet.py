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


def write_splits(data_dir: Path, documents: dict, vocabulary: list[str]) -> dict[str, Path]:
    import datasets

    datasets.disable_progress_bars()  # the build shows its own
    features = dataset_features(vocabulary)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, docs in documents.items():
        columns = {name: [getattr(d, name) for d in docs] for name in features}
        path = data_dir / f"{split}-00000-of-00001.parquet"
        datasets.Dataset.from_dict(columns, features=features, split=split).to_parquet(str(path))
        paths[split] = path
    return paths


def write_split_stream(path: Path, batches, vocabulary: list[str]) -> int:
    """Write record batches (the features' columns) to one parquet file with the features' schema; returns rows.

    Streamed: the build writes splits of millions of rows without holding them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = dataset_features(vocabulary).arrow_schema
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
            writer.write_table(table)
            rows += table.num_rows
    return rows
