"""What a scrape leaves on disk, written so that a killed run loses at most the pages in flight.

- ``<out>``: the raw CSV (``publication_number,title,abstract,cpc_codes``), one row appended and flushed per page;
  code lists as Python list literals (``ast.literal_eval`` reads them), as the original scraper wrote them.
- ``<out>.journal.jsonl``: one line per scraped page, ``{"url", "publication_number", "titles"}``, written
  *before* its row. A URL is done when its journal line names a publication number that has a row: a run
  killed between the two writes redoes that page, and never writes a row twice.
- ``<out>.failures.csv``: ``url,reason,attempts,time``; appended as failures happen, rewritten at the end of a
  run with what is still failing. Its URLs are tried again by the next run.
- ``<out>.codes.json``: ``{code: title}`` of every CPC code seen on the pages of ``<out>`` (written at the end).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cpc_dataset.errors import InputError
from cpc_dataset.raw import RAW_COLUMNS
from cpc_dataset.scrape.urls import patent_key

log = logging.getLogger(__name__)

FAILURE_COLUMNS = ("url", "reason", "attempts", "time")


def side_file(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def failures_path(out: Path) -> Path:
    return side_file(out, ".failures.csv")


def codes_path(out: Path) -> Path:
    return side_file(out, ".codes.json")


def journal_path(out: Path) -> Path:
    return side_file(out, ".journal.jsonl")


@dataclass
class Failure:
    url: str
    reason: str
    attempts: int
    time: str = ""


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _drop_partial_line(path: Path) -> None:
    """A run killed in the middle of a write leaves a last line without its newline: cut it off."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s: dropped a partial last line (%d bytes) left by an interrupted run", path, len(data) - keep)
        with path.open("r+b") as fh:
            fh.truncate(keep)


class ScrapeOutput:
    """The output files of one ``--out``: what is done already, and appending what gets done now."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.numbers: set[str] = set()  # publication numbers with a row in <out>
        self.urls_done: set[str] = set()
        self.titles: dict[str, str] = {}
        self.previous_failures: dict[str, Failure] = {}
        self._read_rows()
        self._read_journal()
        self._read_failures()
        self._rows = self.out.open("a", encoding="utf-8", newline="")
        if self.out.stat().st_size == 0:
            self._append(self._rows, _csv_line(RAW_COLUMNS))
        self._journal = journal_path(self.out).open("a", encoding="utf-8")
        self._failures = failures_path(self.out).open("a", encoding="utf-8", newline="")
        if failures_path(self.out).stat().st_size == 0:
            self._append(self._failures, _csv_line(FAILURE_COLUMNS))
        self.new_failures: dict[str, Failure] = {}

    # -- reading what an earlier run left --------------------------------------------------------------
    def _read_rows(self) -> None:
        if not self.out.exists() or self.out.stat().st_size == 0:
            self.out.touch()
            return
        _drop_partial_line(self.out)
        with self.out.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                return
            if tuple(header) != RAW_COLUMNS:
                raise InputError(
                    f"{self.out} exists and is not a raw scrape CSV (header {','.join(header)}); choose another --out"
                )
            unreadable = 0
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:  # one bad row (a cell over the field limit ...) never refuses the file
                    unreadable += 1
                    log.debug("%s line %d: unreadable row (%s)", self.out, reader.line_num, exc)
                    continue
                if row:
                    self.numbers.add(row[0])
            if unreadable:
                log.warning("%s: %d unreadable row(s) skipped (their pages are scraped again)", self.out, unreadable)

    def _read_journal(self) -> None:
        path = journal_path(self.out)
        if not path.exists():
            return
        _drop_partial_line(path)
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                entry = None
            if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
                log.warning("%s: skipped an unreadable line", path)
                continue
            if entry.get("publication_number") in self.numbers:
                self.urls_done.add(entry["url"])
                titles = entry.get("titles")
                self.titles.update(titles if isinstance(titles, dict) else {})
        codes = codes_path(self.out)
        if codes.exists():  # titles written by earlier runs stay (the journal may have been removed)
            try:
                self.titles = {**json.loads(codes.read_text(encoding="utf-8")), **self.titles}
            except (json.JSONDecodeError, TypeError):
                log.warning("%s: unreadable, rebuilt from the journal", codes)

    def _read_failures(self) -> None:
        path = failures_path(self.out)
        if not path.exists():
            return
        _drop_partial_line(path)
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    continue  # an unreadable line: its page, if any, is simply not retried from here
                attempts = row.get("attempts") or "0"
                if row.get("url"):
                    self.previous_failures[row["url"]] = Failure(
                        row["url"],
                        row.get("reason") or "",
                        int(attempts) if attempts.isascii() and attempts.isdigit() else 0,
                        row.get("time") or "",
                    )

    def is_done(self, url: str) -> bool:
        return url in self.urls_done or patent_key(url) in self.numbers

    # -- appending ---------------------------------------------------------------------------------------
    @staticmethod
    def _append(fh, text: str) -> None:
        fh.write(text)
        fh.flush()

    def add_page(self, url: str, page) -> bool:
        """Append a scraped page; False (nothing written) if its publication number already has a row."""
        self.new_failures.pop(url, None)
        entry = {"url": url, "publication_number": page.publication_number, "titles": page.code_titles}
        self._append(self._journal, json.dumps(entry, ensure_ascii=False) + "\n")
        self.urls_done.add(url)
        self.titles.update(page.code_titles)
        if page.publication_number in self.numbers:
            return False
        self._append(
            self._rows, _csv_line([page.publication_number, page.title, page.abstract, repr(list(page.cpc_codes))])
        )
        self.numbers.add(page.publication_number)
        return True

    def add_failure(self, url: str, reason: str, attempts: int) -> None:
        failure = Failure(url, reason, attempts, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.new_failures[url] = failure
        self._append(self._failures, _csv_line([failure.url, failure.reason, failure.attempts, failure.time]))

    def close(self, attempted: set[str]) -> None:
        """Flush everything; rewrite the failures file with what still fails; write ``<out>.codes.json``."""
        for fh in (self._rows, self._journal, self._failures):
            fh.close()
        still = {u: f for u, f in self.previous_failures.items() if u not in attempted and not self.is_done(u)}
        still.update(self.new_failures)
        path = failures_path(self.out)
        if still:
            _write_atomically(
                path,
                _csv_line(FAILURE_COLUMNS)
                + "".join(_csv_line([f.url, f.reason, f.attempts, f.time]) for f in still.values()),
            )
        else:
            path.unlink(missing_ok=True)
        if self.titles:
            _write_atomically(
                codes_path(self.out), json.dumps(dict(sorted(self.titles.items())), indent=1, ensure_ascii=False) + "\n"
            )


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
