"""What the benchmarks measure alike: prediction speed (one batch call, then one-abstract calls), a process's peak
resident memory, and size on disk."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np


def speed(predictor, texts: list[str], n_single: int) -> tuple[float, float]:
    """(abstracts per second of one batch call, p50 ms of one-abstract calls over the first ``n_single``)."""
    start = time.perf_counter()
    predictor.predict(texts)
    per_s = len(texts) / (time.perf_counter() - start)
    single = []
    for t in texts[:n_single]:
        start = time.perf_counter()
        predictor.predict([t])
        single.append(1000 * (time.perf_counter() - start))
    return per_s, float(np.percentile(single, 50))


def peak_rss_mb() -> int:
    """This process's peak resident memory, MB (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def folder_mb(*paths: Path) -> float:
    """Size on disk of files and folders (every file under them), MB."""
    files = [f for p in map(Path, paths) for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)
