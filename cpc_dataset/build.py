"""Raw files -> a Hub dataset folder: merge duplicates, split, build the label vocabulary, write parquet and card.

One or more raw folders (a scrape's CSVs, imports' parquet files; ``cpc_dataset.raw``) are read into a DuckDB
scratch database and merged there (``cpc_dataset.merge``), so a corpus of millions of rows is built in bounded
memory; the splits are streamed to parquet. A corpus without family ids builds exactly as the in-memory build
did; with family ids, a family never straddles two splits.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.merge import split_bucket
from cpc_dataset.raw import RawReadStats
from cpc_dataset.vocabulary import SPLITS, label_minimum

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
CONFIG_FILE = "build_config.json"
STATS_FILE = "build_stats.json"
WRITE_BATCH_ROWS = 10_000


@dataclass
class BuildConfig:
    raw: str | list[str]  # one raw folder, or several (a scrape and imports) merged into one dataset
    out: str
    min_label_freq: float = 0.01  # < 1: share of training documents; >= 1: number of training documents
    split_percent: tuple[int, int, int] = (80, 10, 10)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.min_label_freq <= 0:
            raise MisconfiguredError(f"--min-label-freq must be positive, got {self.min_label_freq}")
        if self.min_label_freq >= 1 and self.min_label_freq != int(self.min_label_freq):
            raise MisconfiguredError(f"--min-label-freq above 1 is a document count; got {self.min_label_freq}")
        self.split_percent = tuple(int(p) for p in self.split_percent)
        if sum(self.split_percent) != 100 or any(p < 0 for p in self.split_percent):
            raise MisconfiguredError(f"split percentages must add up to 100, got {self.split_percent}")
        if isinstance(self.raw, (list, tuple)):
            self.raw = list(self.raw) if len(self.raw) != 1 else str(self.raw[0])
            if not self.raw:
                raise MisconfiguredError("give at least one raw folder")

    @property
    def raw_dirs(self) -> list[str]:
        return [self.raw] if isinstance(self.raw, str) else list(self.raw)


@dataclass
class Document:
    publication_number: str
    title: str
    abstract: str
    cpc_codes: list[str]
    other_publication_numbers: list[str] = field(default_factory=list)
    split: str = ""
    labels: list[int] = field(default_factory=list)


@dataclass
class BuildReport:
    config: BuildConfig
    read: RawReadStats
    duplicate_numbers: int
    duplicate_abstracts: int
    stats: dict  # cpc_dataset.vocabulary.corpus_stats, plus documents_split_by_family and seconds
    vocabulary: list[str]
    label_counts: dict[str, int]
    out: Path
    superseded: dict = field(default_factory=dict)  # code -> cpc_dataset.superseded.Superseded (not labels)

    @property
    def split_sizes(self) -> dict[str, int]:
        return dict(self.stats["split_sizes"])

    @cached_property
    def documents(self) -> dict[str, list[Document]]:
        """The written splits read back as Documents (for small datasets and tests: this loads them whole)."""
        import pyarrow.parquet as pq

        docs = {}
        for split in SPLITS:
            rows = pq.read_table(self.out / "data" / f"{split}-00000-of-00001.parquet").to_pylist()
            docs[split] = [Document(**row, split=split) for row in rows]
        return docs

    def summary(self) -> dict:
        s = self.stats
        n = sum(s["split_sizes"].values())
        summary = {
            "files": self.read.files,
            "rows": self.read.rows,
            "rows_dropped": dict(self.read.dropped),
            "codes_dropped": dict(self.read.codes_dropped),
            "duplicate_publication_numbers_merged": self.duplicate_numbers,
            "duplicate_abstracts_merged": self.duplicate_abstracts,
            "documents": n,
            "split_sizes": dict(s["split_sizes"]),
            "labels": len(self.vocabulary),
            "distinct_codes": s["distinct_codes"],
            "mean_codes_per_document": round(s["codes_total"] / max(n, 1), 2),
            "mean_labels_per_document": round(s["labels_total"] / max(n, 1), 2),
            "documents_without_labels": dict(s["documents_without_labels"]),
        }
        if s.get("documents_split_by_family"):
            summary["documents_split_by_family"] = s["documents_split_by_family"]
        return summary


def split_of(key: str, split_percent: tuple[int, int, int] = (80, 10, 10)) -> str:
    """Deterministic split of a key (a normalised abstract, or a family id): it never moves when the corpus grows."""
    bucket = split_bucket(key)
    train, validation, _ = split_percent
    if bucket < train:
        return "train"
    return "validation" if bucket < train + validation else "test"


def build_vocabulary(counts: dict[str, int], n_train: int, min_label_freq: float) -> list[str]:
    minimum = label_minimum(min_label_freq, n_train)
    return sorted(code for code, n in counts.items() if n >= minimum)


def build_dataset(config: BuildConfig) -> BuildReport:
    """Read the raw folder(s) and write the dataset folder; returns what was done, with counts."""
    from cpc_dataset.merge import assign_splits, ingest, merge
    from cpc_dataset.scratch import scratch_database
    from cpc_dataset.vocabulary import corpus_stats, find_superseded_sql, train_code_counts

    t0 = time.perf_counter()
    with (
        scratch_database(ordered=False, in_memory=False) as con,
        tempfile.TemporaryDirectory(prefix="cpc-build-") as scratch,
    ):
        read_stats = ingest(con, config.raw_dirs, Path(scratch), progress=config.progress)
        usable = sum(read_stats.rows_per_file.values())
        log.info("read %d usable rows from %d files (%d rows in all)", usable, read_stats.files, read_stats.rows)
        dup_numbers, dup_abstracts = merge(con)
        by_family = assign_splits(con, config.split_percent)
        log.info(
            "merged %d repeated publication numbers and %d shared abstracts; %d documents split by family",
            dup_numbers,
            dup_abstracts,
            by_family,
        )
        n_train = con.execute("SELECT count(*) FROM docs WHERE split = 'train'").fetchone()[0]
        if not n_train:
            raise MisconfiguredError("no training documents: the raw folder holds too few usable rows")
        counts = train_code_counts(con)
        superseded = find_superseded_sql(con, counts, n_train)
        vocabulary = [c for c in build_vocabulary(counts, n_train, config.min_label_freq) if c not in superseded]
        if not vocabulary:
            raise MisconfiguredError(f"no code reaches --min-label-freq {config.min_label_freq}; lower it")
        log.info("%d labels (%d superseded codes left out)", len(vocabulary), len(superseded))
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out / "data", ignore_errors=True)
        labels_per_split = write_splits(con, out / "data", vocabulary)
        log.info("wrote the splits")
        stats = {**corpus_stats(con, labels_per_split), "documents_split_by_family": by_family}
        report = BuildReport(
            config,
            read_stats,
            dup_numbers,
            dup_abstracts,
            stats,
            vocabulary,
            {c: counts[c] for c in vocabulary},
            out,
            superseded,
        )
        write_dataset_folder(report)
        log.info("wrote %s", out)
    stats["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def write_splits(con, data_dir: Path, vocabulary: list[str]) -> dict[str, Counter]:
    """The documents into one parquet file per split, streamed from one sorted query, their labels added batch
    by batch; returns ``{split: {number of labels: documents}}``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from cpc_dataset.parquet import write_split_streams
    from cpc_dataset.vocabulary import documents_query, label_lists

    vocab = pa.array(vocabulary, pa.string())
    labels_per_split: dict[str, Counter] = {s: Counter() for s in SPLITS}

    def batches():
        for batch in con.sql(documents_query()).to_arrow_reader(WRITE_BATCH_ROWS):
            labels = label_lists(batch.column("cpc_codes"), vocab)
            sizes = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
            batch = pa.RecordBatch.from_arrays([*batch.columns, labels], names=[*batch.schema.names, "labels"])
            splits = batch.column("split")
            for split in pc.unique(splits).to_pylist():
                mask = pc.equal(splits, split)
                labels_per_split[split].update(
                    dict(zip(*np.unique(sizes[mask.to_numpy(zero_copy_only=False)], return_counts=True)))
                )
                yield split, batch.filter(mask)

    # the join as written: the documents (no text) are the hash join's table, the texts stream past it (left to
    # itself, DuckDB may hash the texts, gigabytes that it must then spill)
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    try:
        write_split_streams(data_dir, batches(), vocabulary, SPLITS)
    finally:
        con.execute("RESET disabled_optimizers")
    return {s: Counter({int(n): int(k) for n, k in c.items()}) for s, c in labels_per_split.items()}


def write_dataset_folder(report: BuildReport) -> None:
    """Everything but the splits (``write_splits``): labels, config, stats, plots, card."""
    from cpc_dataset.card import write_card
    from cpc_dataset.plots import write_plots
    from cpc_dataset.titles import vocabulary_titles

    out = report.out
    labels = {
        "labels": report.vocabulary,
        "train_counts": report.label_counts,
        "min_label_freq": report.config.min_label_freq,
    }
    titles = {}
    for raw in report.config.raw_dirs:  # CPC titles saved by `cpc scrape patents` and `cpc data import`
        titles.update({c: t for c, t in vocabulary_titles(raw, report.vocabulary).items() if c not in titles})
    titles = {c: titles[c] for c in report.vocabulary if c in titles}
    labels.update({"titles": titles} if titles else {})
    labels["superseded"] = {code: s.to_dict() for code, s in report.superseded.items()}
    (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n")
    config = {k: v for k, v in asdict(report.config).items() if k != "progress"}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (out / STATS_FILE).write_text(json.dumps(report.summary(), indent=2) + "\n")
    plots = write_plots(out, report)
    write_card(out / "README.md", report, plots, titles)
