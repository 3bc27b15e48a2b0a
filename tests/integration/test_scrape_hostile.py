"""`cpc scrape patents` against the hostile site (a real process on 127.0.0.1): 20 good pages mixed with a redirect
loop, a cross-host redirect, a false gzip, ``Retry-After: ²``, trickled headers, a brotli bomb, a double-gzip bomb
and a 10,000-code page. The run ends, writes the 20 good rows, lists every bad page with its reason, stays under
500 MB; the same command again neither fails nor duplicates a row."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.hostile_site import HostileSite
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, running_server

pytestmark = pytest.mark.integration

MAX_RSS_MB = 500
# runs a command and prints its peak resident memory (KB, Linux) once it has exited
PEAK_RSS = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)"
)


def _scrape(urls: Path, out: Path) -> tuple[dict, float]:
    argv = cpc_command("-q", "scrape", "patents", "--urls", str(urls), "--out", str(out), "--json")
    argv += ["--timeout", "3", "--retries", "1", "--backoff", "0.1", "--workers", "4"]
    # a hang guard, not a timing assert: the run is bounded by its deadlines (about 2 x 3 s for the trickle)
    result = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    peak_mb = int(result.stderr.strip().splitlines()[-1]) / 1024
    return json.loads(result.stdout), peak_mb


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["cpc_codes"] = ast.literal_eval(row["cpc_codes"])
    return sorted(rows, key=lambda r: r["publication_number"])


def _failures(out: Path) -> dict[str, str]:
    with out.with_name(out.name + ".failures.csv").open(encoding="utf-8", newline="") as fh:
        return {row["url"]: row["reason"] for row in csv.DictReader(fh)}


def test_a_hostile_site_costs_its_bad_pages_only(tmp_path):
    port = free_port()
    site = HostileSite(good=20)
    site.base_url = f"http://{LOCALHOST}:{port}"
    command = [sys.executable, "-m", "tests.fixtures.hostile_site", "--port", str(port), "--good", "20"]
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(site.urls()) + "\n")
    out = tmp_path / "raw" / "hostile.csv"
    with running_server("hostile-site", command, site.base_url, tmp_path / "site.log", timeout=120):
        first, peak_mb = _scrape(urls, out)
        assert (first["done"], first["failed"]) == (20, len(site.expected_failures()))
        assert _rows(out) == sorted(site.expected_rows(), key=lambda r: r["publication_number"])
        assert _failures(out) == site.expected_failures()
        assert peak_mb <= MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"

        again, _ = _scrape(urls, out)  # the bad pages are tried again and fail again; nothing is written twice
        assert (again["done"], again["skipped"], again["failed"]) == (0, 20, len(site.expected_failures()))
        assert len(_rows(out)) == 20
        assert _failures(out) == site.expected_failures()
