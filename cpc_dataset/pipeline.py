"""Ordered work on a few threads: for batch work whose heavy parts (numpy, pyarrow, hashing) release the GIL."""

from __future__ import annotations


def in_threads(work, items, threads: int = 2, ahead: int = 4):
    """``work(item)`` for each item, on ``threads`` threads, yielded in the items' order, with at most ``ahead``
    items in flight (bounded memory). Stopping early waits for the ones in flight."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
