"""Raw CSVs -> a Hub dataset folder: clean, dedupe, split by content hash, build the label vocabulary."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.raw import RawReadStats, RawRecord, read_raw_dir
from cpc_dataset.superseded import find_superseded
from cpc_dataset.text import abstract_key

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
LABELS_FILE = "labels.json"
CONFIG_FILE = "build_config.json"
STATS_FILE = "build_stats.json"


@dataclass
class BuildConfig:
    raw: str
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
    documents: dict[str, list[Document]]
    vocabulary: list[str]
    label_counts: dict[str, int]
    out: Path
    superseded: dict = field(default_factory=dict)  # code -> cpc_dataset.superseded.Superseded (not labels)

    def summary(self) -> dict:
        docs = [d for split in SPLITS for d in self.documents[split]]
        return {
            "files": self.read.files,
            "rows": self.read.rows,
            "rows_dropped": dict(self.read.dropped),
            "codes_dropped": dict(self.read.codes_dropped),
            "duplicate_publication_numbers_merged": self.duplicate_numbers,
            "duplicate_abstracts_merged": self.duplicate_abstracts,
            "documents": len(docs),
            "split_sizes": {s: len(self.documents[s]) for s in SPLITS},
            "labels": len(self.vocabulary),
            "distinct_codes": len({c for d in docs for c in d.cpc_codes}),
            "mean_codes_per_document": round(sum(len(d.cpc_codes) for d in docs) / max(len(docs), 1), 2),
            "mean_labels_per_document": round(sum(len(d.labels) for d in docs) / max(len(docs), 1), 2),
            "documents_without_labels": {s: sum(not d.labels for d in self.documents[s]) for s in SPLITS},
        }


def split_of(key: str, split_percent: tuple[int, int, int] = (80, 10, 10)) -> str:
    """Deterministic split from the normalised abstract: a document never moves when the corpus grows."""
    bucket = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 100
    train, validation, _ = split_percent
    if bucket < train:
        return "train"
    return "validation" if bucket < train + validation else "test"


def _merge(into: Document, other_number: str, codes: list[str]) -> None:
    if other_number != into.publication_number and other_number not in into.other_publication_numbers:
        into.other_publication_numbers.append(other_number)
    into.cpc_codes.extend(c for c in codes if c not in into.cpc_codes)


def dedupe(records: list[RawRecord]) -> tuple[list[Document], int, int]:
    """Merge rows of one publication number, then publications that share a normalised abstract.

    A family's representative is its member with the most codes; the family's codes are united and
    the other members' numbers are kept in ``other_publication_numbers``.
    """
    by_number: dict[str, Document] = {}
    duplicate_numbers = 0
    for rec in records:
        if rec.publication_number in by_number:
            duplicate_numbers += 1
            _merge(by_number[rec.publication_number], rec.publication_number, rec.cpc_codes)
        else:
            by_number[rec.publication_number] = Document(
                rec.publication_number, rec.title, rec.abstract, list(rec.cpc_codes)
            )
    families: dict[str, list[Document]] = {}
    for doc in by_number.values():
        families.setdefault(abstract_key(doc.abstract), []).append(doc)
    documents, duplicate_abstracts = [], 0
    for key, members in families.items():
        head = max(members, key=lambda d: len(d.cpc_codes))  # max keeps the first of equals
        for other in members:
            if other is not head:
                duplicate_abstracts += 1
                _merge(head, other.publication_number, other.cpc_codes)
                for number in other.other_publication_numbers:
                    _merge(head, number, [])
        head.split = key  # placeholder: replaced by the split name below
        documents.append(head)
    return documents, duplicate_numbers, duplicate_abstracts


def build_vocabulary(train: list[Document], min_label_freq: float) -> tuple[list[str], dict[str, int]]:
    counts = Counter(code for doc in train for code in doc.cpc_codes)
    minimum = math.ceil(min_label_freq * len(train) - 1e-9) if min_label_freq < 1 else int(min_label_freq)
    vocabulary = sorted(code for code, n in counts.items() if n >= max(minimum, 1))
    return vocabulary, {code: counts[code] for code in vocabulary}


def build_dataset(config: BuildConfig) -> BuildReport:
    """Read the raw folder and write the dataset folder; returns what was done, with counts."""
    records, read_stats = read_raw_dir(Path(config.raw), progress=config.progress)
    log.info("read %d usable rows from %d files (%d rows in all)", len(records), read_stats.files, read_stats.rows)
    documents, dup_numbers, dup_abstracts = dedupe(records)
    log.info(
        "merged %d repeated publication numbers and %d shared abstracts: %d documents",
        dup_numbers,
        dup_abstracts,
        len(documents),
    )
    by_split: dict[str, list[Document]] = {s: [] for s in SPLITS}
    for doc in documents:
        doc.split = split_of(doc.split, config.split_percent)
        by_split[doc.split].append(doc)
    for split in SPLITS:
        by_split[split].sort(key=lambda d: d.publication_number)
    if not by_split["train"]:
        raise MisconfiguredError("no training documents: the raw folder holds too few usable rows")
    vocabulary, label_counts = build_vocabulary(by_split["train"], config.min_label_freq)
    superseded = find_superseded([d.cpc_codes for d in by_split["train"]])
    vocabulary = [c for c in vocabulary if c not in superseded]
    label_counts = {c: n for c, n in label_counts.items() if c not in superseded}
    if not vocabulary:
        raise MisconfiguredError(f"no code reaches --min-label-freq {config.min_label_freq}; lower it")
    index = {code: i for i, code in enumerate(vocabulary)}
    for doc in documents:
        doc.labels = [index[c] for c in doc.cpc_codes if c in index]
    report = BuildReport(
        config, read_stats, dup_numbers, dup_abstracts, by_split, vocabulary, label_counts, Path(config.out), superseded
    )
    write_dataset_folder(report)
    return report


def write_dataset_folder(report: BuildReport) -> None:
    from cpc_dataset.card import write_card
    from cpc_dataset.parquet import write_splits
    from cpc_dataset.plots import write_plots
    from cpc_dataset.titles import vocabulary_titles

    out = report.out
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "data", ignore_errors=True)
    write_splits(out / "data", report.documents, report.vocabulary)
    labels = {
        "labels": report.vocabulary,
        "train_counts": report.label_counts,
        "min_label_freq": report.config.min_label_freq,
    }
    titles = vocabulary_titles(report.config.raw, report.vocabulary)  # CPC titles saved by `cpc scrape patents`
    labels.update({"titles": titles} if titles else {})
    labels["superseded"] = {code: s.to_dict() for code, s in report.superseded.items()}
    (out / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n")
    config = {k: v for k, v in asdict(report.config).items() if k != "progress"}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    (out / STATS_FILE).write_text(json.dumps(report.summary(), indent=2) + "\n")
    plots = write_plots(out, report)
    write_card(out / "README.md", report, plots, titles)
