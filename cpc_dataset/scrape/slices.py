"""Date slices of one search, and the folder that keeps their exports until the search is finished.

A search whose export comes back full (the cap) is cut in two by date, each half searched, and so on down to
single days (``halves``). Every export fetched is saved at once in ``<out>/<query-slug>.slices/`` under the name
of its slice, beside ``search.json`` (the query, the date field and the range, so that a resumed search cuts the
same slices). A killed search therefore starts again from the slices already saved; the folder is removed when
the query's export file is written.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from cpc_dataset.scrape.export import Export, ExportError, parse_export, write_export

log = logging.getLogger(__name__)

EARLIEST = date(1790, 1, 1)  # no patent document is older: the open start of a range, once it must be cut
PLAN_FILE = "search.json"


@dataclass(frozen=True)
class Slice:
    """Days ``lo`` to ``hi``, both included; None leaves that side open (the search as the user gave it)."""

    lo: date | None
    hi: date | None

    def name(self, date_field: str) -> str:
        if self.lo is None and self.hi is None:
            return "all.csv"
        lo = f"{self.lo:%Y%m%d}" if self.lo else "start"
        hi = f"{self.hi:%Y%m%d}" if self.hi else "end"
        return f"{date_field}-{lo}-{hi}.csv"

    def is_one_day(self) -> bool:
        return self.lo is not None and self.lo == self.hi

    def describe(self) -> str:
        if self.is_one_day():
            return f"{self.lo:%Y-%m-%d}"
        return f"{self.lo or '...'} to {self.hi or '...'}"

    def halves(self, until: date) -> tuple[Slice, Slice]:
        """The first and second half of the days (an open side closed at EARLIEST or ``until``)."""
        lo, hi = self.lo or EARLIEST, self.hi or until
        if hi <= lo:
            raise ValueError(f"a slice of one day cannot be cut: {self.describe()}")
        mid = lo + timedelta(days=(hi - lo).days // 2)
        return Slice(lo, mid), Slice(mid + timedelta(days=1), hi)


@dataclass(frozen=True)
class SearchPlan:
    """What decides the slices of a search; a saved folder is reused only for the same plan."""

    query: str
    date_field: str
    since: str | None  # ISO dates as given (None: open)
    until: str | None
    cut_until: str  # where an open end is closed when the range must be cut (the day the search started)

    def root(self) -> Slice:
        return Slice(_day(self.since), _day(self.until))

    def same_search(self, other: SearchPlan) -> bool:
        return (self.query, self.date_field, self.since, self.until) == (
            other.query,
            other.date_field,
            other.since,
            other.until,
        )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class SliceStore:
    """The exports of an unfinished search, by slice."""

    def __init__(self, folder: Path, plan: SearchPlan):
        self.folder = Path(folder)
        self.plan = plan
        saved = self._saved_plan()
        if saved is not None and saved.same_search(plan):
            self.plan = saved  # keeps the day the interrupted search started, so the slices are the same
        elif saved is not None or self.folder.exists():
            log.info("%s: saved slices are from another search; starting again", self.folder)
            self.discard()
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / PLAN_FILE).write_text(json.dumps(asdict(self.plan), indent=1) + "\n", encoding="utf-8")

    def _saved_plan(self) -> SearchPlan | None:
        path = self.folder / PLAN_FILE
        if not path.exists():
            return None
        try:
            plan = SearchPlan(**json.loads(path.read_text(encoding="utf-8")))
            date.fromisoformat(plan.cut_until)  # what the search cuts an open end at
            return plan
        except (ValueError, TypeError):  # not JSON, not UTF-8, not a plan, not a day
            log.warning("%s: unreadable; the saved slices are not used", path)
            return None

    def get(self, piece: Slice) -> Export | None:
        path = self.folder / piece.name(self.plan.date_field)
        if not path.exists():
            return None
        try:
            return parse_export(path.read_text(encoding="utf-8"))
        except (ExportError, UnicodeDecodeError):
            log.warning("%s: unreadable; fetched again", path)
            return None

    def put(self, piece: Slice, export: Export) -> None:
        write_export(self.folder / piece.name(self.plan.date_field), export)

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
