"""An asyncio micro-batcher: concurrent requests share calls to the model, and big requests don't starve small ones.

The first request waits up to ``wait_ms`` for others. Each model call then takes at most ``max_texts`` texts and
about ``max_chars`` characters: up to half of them from the oldest waiting request (at least one text), the rest
from the others, those with the fewest texts left first. So a request of 32 texts of 19,000 characters is split
into model-sized calls, and the short requests that arrive meanwhile ride along in the next call instead of
waiting for the whole long one. The calls run in a worker thread so the event loop keeps accepting requests;
answers keep each request's order.
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
    done: int = 0  # texts already sent to the model
    rows: list = field(default_factory=list, repr=False)


class MicroBatcher:
    """``await batcher.ranked(texts, top_k)`` -> one ranked list per text, from ``rank(texts, top_k)`` batched."""

    def __init__(
        self,
        rank: Callable[[list[str], int], list[list]],
        max_texts: int = 32,
        wait_ms: float = 5.0,
        max_chars: int | None = None,
        counter=None,
    ):
        self.rank = rank
        self.max_texts = max_texts
        self.max_chars = max_chars  # None: no limit on characters per call
        self.wait = wait_ms / 1000
        self._counter = counter  # a multiprocessing.Value shared by forked workers, or None: this process only
        self._batches = 0
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None

    @property
    def batches(self) -> int:
        """Calls to the model so far (for /health and tests), over every worker sharing ``counter``."""
        return self._counter.value if self._counter is not None else self._batches

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
        job = _Job(list(texts), top_k, asyncio.get_running_loop().create_future())
        await self._queue.put(job)
        return await job.future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        pending: list[_Job] = []
        while True:
            if not pending:
                pending.append(await self._queue.get())
                deadline = loop.time() + self.wait
                while sum(len(j.texts) for j in pending) < self.max_texts:
                    timeout = deadline - loop.time()
                    if timeout <= 0:
                        break
                    try:
                        pending.append(await asyncio.wait_for(self._queue.get(), timeout))
                    except asyncio.TimeoutError:
                        break
            while not self._queue.empty():  # arrived while the model ran: they share the next call
                pending.append(self._queue.get_nowait())
            pending = [job for job in pending if not job.future.done()]  # cancelled: client gone
            if pending:
                await self._serve(self._take(pending))
                pending = [job for job in pending if not job.future.done()]

    def _take(self, pending: list[_Job]) -> list[tuple[_Job, int, int]]:
        """(job, start, stop) slices for one model call, within ``max_texts`` and ``max_chars``.

        The oldest request goes first with at most half the characters (always one text), so a long request
        advances in every call; the others fill the rest, those with the fewest texts left first, so short
        requests never wait behind a long one.
        """
        budget = self.max_chars
        taken: list[tuple[_Job, int, int]] = []
        texts = chars = 0
        oldest, others = pending[0], sorted(pending[1:], key=lambda j: len(j.texts) - j.done)
        for job, limit in [(oldest, None if budget is None else budget // 2), *((job, budget) for job in others)]:
            stop = job.done
            while stop < len(job.texts) and texts < self.max_texts:
                size = len(job.texts[stop])
                if limit is not None and stop > job.done and chars + size > limit:
                    break
                if budget is not None and job is not oldest and texts and chars + size > budget:
                    break
                texts, chars, stop = texts + 1, chars + size, stop + 1
            if stop > job.done:
                taken.append((job, job.done, stop))
        return taken

    async def _serve(self, parts: list[tuple[_Job, int, int]]) -> None:
        texts = [t for job, start, stop in parts for t in job.texts[start:stop]]
        top_k = max(job.top_k for job, _, _ in parts)
        for job, _, stop in parts:
            job.done = stop
        try:
            ranked = await asyncio.to_thread(self.rank, texts, top_k)
        except Exception as exc:  # noqa: BLE001 - the waiting requests get the error, the worker goes on
            log.exception("batch of %d texts failed", len(texts))
            for job, _, _ in parts:
                if not job.future.done():
                    job.future.set_exception(exc)
            return
        self._batches += 1
        if self._counter is not None:
            with self._counter.get_lock():
                self._counter.value += 1
        offset = 0
        for job, start, stop in parts:
            rows = ranked[offset : offset + stop - start]
            offset += stop - start
            job.rows.extend(None if row is None else row[: job.top_k] for row in rows)  # None: no codes (a reason)
            if job.done == len(job.texts) and not job.future.done():  # a cancelled request has no one to answer
                job.future.set_result(job.rows)
