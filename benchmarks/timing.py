"""Prediction speed as the benchmarks time it: one batch call, then one-abstract calls."""

from __future__ import annotations

import time

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
