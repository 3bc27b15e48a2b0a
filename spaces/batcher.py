"""An asyncio micro-batcher: concurrent requests share one call to the model.

The first request waits up to ``wait_ms`` for others; the batch runs as soon as it holds ``max_texts``
texts or the wait is over, in a worker thread so the event loop keeps accepting requests.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)


@dataclass
class _Job:
    texts: list[str]
    top_k: int
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """``await batcher.ranked(texts, top_k)`` -> one ranked list per text, from ``rank(texts, top_k)`` batched."""

    def __init__(self, rank: Callable[[list[str], int], list[list]], max_texts: int = 32, wait_ms: float = 5.0):
        self.rank = rank
        self.max_texts = max_texts
        self.wait = wait_ms / 1000
        self.batches = 0  # calls to the model so far (for /health and tests)
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._run(), name="cpc-micro-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    async def ranked(self, texts: list[str], top_k: int) -> list[list]:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.start() was not awaited")
        job = _Job(texts, top_k, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + self.wait
            while size < self.max_texts:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                jobs.append(job)
                size += len(job.texts)
            await self._serve(jobs)

    async def _serve(self, jobs: list[_Job]) -> None:
        texts = [t for job in jobs for t in job.texts]
        top_k = max(job.top_k for job in jobs)
        try:
            ranked = await asyncio.to_thread(self.rank, texts, top_k)
        except Exception as exc:  # noqa: BLE001: the waiting requests get the error, the worker goes on
            log.exception("batch of %d texts failed", len(texts))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self.batches += 1
        start = 0
        for job in jobs:
            rows = ranked[start : start + len(job.texts)]
            start += len(job.texts)
            if not job.future.done():  # a cancelled request (client gone) has no one to answer
                job.future.set_result([row[: job.top_k] for row in rows])
