"""Arithmetic shared by several model kinds: the sigmoid, the per-label logistic regressions, the neighbour vote."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray, dtype=np.float32) -> np.ndarray:
    """1 / (1 + exp(-x)), computed in ``dtype`` (float32 unless asked), written with tanh so large |x| do not overflow."""
    return (0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=dtype)))).astype(dtype)


def fit_platt(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One sigmoid(a * x + b) for all the values of ``x``, by logistic regression of ``y > 0`` on them."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=100.0).fit(
        np.asarray(x, dtype=np.float64).reshape(-1, 1), (np.asarray(y).reshape(-1) > 0).astype(int)
    )
    return float(model.coef_[0, 0]), float(model.intercept_[0])


_SHARED: tuple | None = None  # (x, y, make_model) for the forked fit workers: inherited, never pickled


def _fit_one(j: int) -> tuple[int, np.ndarray, float]:
    x, y, make_model = _SHARED
    model = make_model().fit(x, y[:, j])
    return j, np.asarray(model.coef_[0], dtype=np.float32), float(model.intercept_[0])


def fit_per_label(
    x, y: np.ndarray, make_model, desc: str = "fitting", n_jobs: int | None = None, processes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One binary scikit-learn model per label column of ``y`` (``make_model()`` makes a fresh one), fitted in
    ``n_jobs`` threads (all cores by default), or forked processes with ``processes`` (threads where there is no fork).

    liblinear's solvers need ``processes``: liblinear draws from one random generator per process, so fits running
    in threads interleave their draws and the weights change (slightly) from run to run; each process has its own,
    so the weights do not depend on ``n_jobs``. The workers read ``x`` and ``y`` from the parent's memory (fork, no
    copy). Each fit makes its own solver copy of ``x``, so memory grows with ``n_jobs``, not with the labels.

    Returns coefficients (n_features, n_labels) and intercepts. A label with one class only (tiny subsets)
    gets no weights and an intercept of -10 (never predicted) or +10 (always).
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    global _SHARED
    coef = np.zeros((x.shape[1], y.shape[1]), dtype=np.float32)
    intercept = np.zeros(y.shape[1], dtype=np.float32)
    todo = []
    for j in range(y.shape[1]):
        if y[:, j].min() == y[:, j].max():
            intercept[j] = -10.0 if y[0, j] == 0 else 10.0
        else:
            todo.append(j)
    workers = max(1, min(n_jobs or os.cpu_count() or 1, len(todo) or 1))
    _SHARED = (x, y, make_model)
    try:
        if workers == 1:
            pool = ThreadPoolExecutor(1)  # in this process, one fit at a time
        elif processes and "fork" in multiprocessing.get_all_start_methods():
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        else:
            pool = ThreadPoolExecutor(workers)
        with pool, tqdm(total=y.shape[1], desc=desc, unit="label") as bar:
            bar.update(y.shape[1] - len(todo))
            futures = [pool.submit(_fit_one, j) for j in todo]
            try:
                for future in as_completed(futures):
                    j, coef[:, j], intercept[j] = future.result()
                    bar.update(1)
            except BaseException:  # a failed fit or Ctrl-C: the fits not started are dropped, not run to the end
                for future in futures:
                    future.cancel()
                raise
    except BrokenProcessPool:  # a worker killed (out of memory, a signal): one line, not the pool's traceback
        from cpc_dataset.errors import CpcError

        raise CpcError(
            f"a process {desc} died (killed, out of memory?); fewer --n-jobs hold fewer copies of the features"
        ) from None
    finally:
        _SHARED = None
    return coef, intercept


def neighbour_vote(sim: np.ndarray, labels: np.ndarray, k: int, temperature: float) -> np.ndarray:
    """Per query row of ``sim`` (queries x bank): the exp(temperature * (sim - best))-weighted share of the
    ``k`` most similar bank rows carrying each label."""
    k = min(k, sim.shape[1])
    idx = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sim, idx, axis=1)
    w = np.exp(temperature * (s - s.max(axis=1, keepdims=True)))
    votes = np.einsum("nk,nkl->nl", w, labels[idx].astype(np.float32))
    return (votes / w.sum(axis=1, keepdims=True)).astype(np.float32)


def top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values of ``row``, largest first (ties: lower index first), without sorting it all."""
    k = min(k, len(row))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-row, k - 1)[:k] if k < len(row) else np.arange(len(row))
    return idx[np.lexsort((idx, -row[idx]))]


def no_truncation(texts: list[str]) -> list[bool]:
    """For kinds that read the whole text."""
    return [False] * len(texts)
