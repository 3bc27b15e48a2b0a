"""``cpc data refresh``: search -> patent pages -> dataset folder, in one resumable command.

What it keeps in the raw folder (``--raw``), each step resuming from it:

- ``search/<query-slug>.csv``: each query's export (``cpc scrape search``, http backend: cut by date past the
  site's cap; a killed search resumes from ``search/<query-slug>.slices/``); a later run adds new results only;
- ``patents.csv`` (+ ``.journal.jsonl``, ``.failures.csv``, ``.codes.json``): one raw CSV of the patent pages of
  every export (``cpc scrape patents``); a later run fetches only the pages it does not have (and the failed ones);
- the dataset folder (``--out``) is then built from the raw folder (``cpc data build``).

The report says what changed in the dataset: documents, labels gained and lost, the split sizes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from cpc_dataset.errors import CpcError
from cpc_dataset.scrape.search_config import EXPORT_CAP, SearchConfig, SearchSummary

log = logging.getLogger(__name__)

SEARCH_FOLDER = "search"
PAGES_FILE = "patents.csv"


class RefreshIncomplete(CpcError):
    prefix = "Refresh incomplete"


@dataclass
class RefreshConfig:
    queries: list[str]
    out: str  # the dataset folder
    raw: str  # the raw folder (exports, raw CSV, and what resume reads)
    base_url: str = "https://patents.google.com"
    since: date | str | None = None
    until: date | str | None = None
    date_field: str = "priority"
    cap: int = EXPORT_CAP
    max_rate: float | None = 2.0  # requests per second, exports and pages alike
    workers: int | None = None
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 1.0
    min_label_freq: float | None = None  # None: as the dataset folder was built before, else the build's default
    progress: bool = True

    def search_config(self) -> SearchConfig:
        return SearchConfig(
            self.queries,
            out=str(Path(self.raw) / SEARCH_FOLDER),
            base_url=self.base_url,
            since=self.since,
            until=self.until,
            date_field=self.date_field,
            cap=self.cap,
            max_rate=self.max_rate,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            progress=self.progress,
        )


@dataclass
class DatasetState:
    documents: int
    split_sizes: dict[str, int]
    labels: list[str]

    @classmethod
    def read(cls, folder: Path) -> DatasetState | None:
        """What a built dataset folder holds (None if there is none, or it cannot be read)."""
        from cpc_dataset.build import LABELS_FILE, STATS_FILE

        try:
            stats = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
            labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))["labels"]
            return cls(int(stats["documents"]), dict(stats["split_sizes"]), list(labels))
        except (OSError, ValueError, KeyError, TypeError):
            return None


@dataclass
class RefreshReport:
    search: SearchSummary
    pages: dict | None = None  # `cpc scrape patents` summary
    before: DatasetState | None = None
    after: DatasetState | None = None
    built: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.search.failed) or not self.built

    def changes(self) -> dict:
        before = self.before or DatasetState(0, {}, [])
        after = self.after or before
        return {
            "new_patents": self.pages["done"] if self.pages else 0,
            "documents": {"before": before.documents, "after": after.documents},
            "new_labels": sorted(set(after.labels) - set(before.labels)),
            "dropped_labels": sorted(set(before.labels) - set(after.labels)),
            "labels": {"before": len(before.labels), "after": len(after.labels)},
            "split_sizes": {
                split: {"before": before.split_sizes.get(split, 0), "after": n}
                for split, n in after.split_sizes.items()
            },
        }

    def as_dict(self) -> dict:
        return {
            "search": self.search.as_dict(),
            "pages": self.pages,
            "built": self.built,
            "changes": self.changes(),
            "notes": self.notes,
        }


def build_config(raw: Path, out: Path, min_label_freq: float | None, progress: bool):
    """The dataset build's config (``min_label_freq`` None: what ``out`` was built with, else the build's default)."""
    from cpc_dataset.build import CONFIG_FILE, BuildConfig

    if min_label_freq is None:
        try:
            min_label_freq = float(json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))["min_label_freq"])
        except (OSError, ValueError, KeyError, TypeError):
            min_label_freq = BuildConfig.min_label_freq
    return BuildConfig(raw=str(raw), out=str(out), min_label_freq=min_label_freq, progress=progress)


def build_from_raw(raw: Path, out: Path, min_label_freq: float | None, progress: bool) -> None:
    """The dataset build, through its public function (the one place refresh depends on it)."""
    from cpc_dataset.build import build_dataset

    build_dataset(build_config(raw, out, min_label_freq, progress))


def refresh_dataset(config: RefreshConfig) -> RefreshReport:
    """Search, scrape the pages not scraped yet, rebuild; a failed search leaves the dataset as it was."""
    from cpc_dataset.scrape.run import ScrapeConfig, scrape_patents
    from cpc_dataset.scrape.search import search_exports

    raw, out = Path(config.raw), Path(config.out)
    search_config = config.search_config()  # bad options are reported before anything is fetched
    build_config(raw, out, config.min_label_freq, config.progress)
    pages_config = ScrapeConfig(
        urls=[],
        out=str(raw / PAGES_FILE),
        workers=config.workers,
        max_rate=config.max_rate,
        timeout=config.timeout,
        retries=config.retries,
        backoff=config.backoff,
        progress=config.progress,
    )
    report = RefreshReport(search_exports(search_config), before=DatasetState.read(out))
    exports = [str(path) for path in report.search.saved.values()]
    if exports:
        pages_config.urls = exports
        report.pages = scrape_patents(pages_config).as_dict()
    if report.search.failed:
        failed = ", ".join(report.search.failed)
        report.notes.append(
            f"the search of {failed} failed, so the dataset was not rebuilt; run the same command again to resume"
        )
        return report
    build_from_raw(raw, out, config.min_label_freq, config.progress)
    report.built, report.after = True, DatasetState.read(out)
    return report
