from __future__ import annotations

import csv
import os
import shutil
import tempfile
from pathlib import Path

# Offline, and nothing written outside temporary folders: set before any Hugging Face import.
_HF_HOME = tempfile.mkdtemp(prefix="cpc-test-hf-")
os.environ.setdefault("HF_HOME", _HF_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest

pytest_plugins = ["tests.fixtures.ci"]  # browser tests: a header line where Chromium is missing, never skipped under CI

REPO = Path(__file__).resolve().parents[1]
SHARED_RAW = REPO.parent / "shared" / "data" / "google-patents-ai" / "scraped"
DATASET = REPO / "hub" / "datasets" / "patent-cpc-ai"


def pytest_unconfigure(config) -> None:
    shutil.rmtree(_HF_HOME, ignore_errors=True)


def write_raw_csv(
    path: Path, rows: list[dict], header: tuple[str, ...] = ("publication_number", "title", "abstract", "cpc_codes")
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_rows(n: int, start: int = 0) -> list[dict]:
    """Synthetic raw rows: distinct abstracts, codes drawn from a small pool so some pass 1%."""
    pool = ["G06N3/08", "G06N3/045", "G06F40/30", "G06V10/82", "H04L9/40"]
    rows = []
    for i in range(start, start + n):
        codes = [pool[i % 5], pool[(i * 3 + 1) % 5], f"G06F{16 + i % 7}/{10 + i % 50}"]
        if i % 10 == 9:  # only a rare code: outside any frequency-based vocabulary
            codes = [f"A01B{1 + i % 90}/{10 + i % 80}"]
        rows.append(
            {
                "publication_number": f"US{1000000 + i}B2",
                "title": f"Method number {i} for learning",
                "abstract": f"A system {i} trains a model with data batch {i * 7} and evaluates it on task {i % 13}.",
                "cpc_codes": repr(sorted(set(codes))),
            }
        )
    return rows


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    write_raw_csv(folder / "patent_details_1.csv", make_rows(120))
    write_raw_csv(folder / "patent_details_2.csv", make_rows(80, start=100))  # 20 repeats of file 1
    return folder
