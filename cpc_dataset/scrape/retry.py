"""When to try a page again and how long to wait: exponential backoff with jitter, ``Retry-After``, a rate limit."""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass

_SECONDS = re.compile(r"[0-9]+")
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})  # and any other 5xx


class FetchError(Exception):
    """A fetch that got no usable answer; ``reason`` goes to the failures file.

    Retried (timeout, refused connection, browser error) unless ``retryable`` is False: what the same request
    would get again (a redirect loop, a body that is not what its encoding says, a page over the size cap).
    """

    def __init__(self, reason: str, retryable: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or 500 <= status < 600


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):  # ASCII digits only: "²".isdigit() is True, float("²") is not a number
        return min(float(value), 1e12)  # a huge number of digits is inf, not an error
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    retries: int = 3  # attempts after the first
    backoff: float = 1.0  # seconds before the first retry; doubles each time
    max_backoff: float = 60.0
    max_retry_after: float = 300.0  # a server asking for longer is waited for this long, then tried again
    rng: random.Random | None = None

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        ``backoff * 2**(attempt-1)`` capped at ``max_backoff``, with "equal jitter" (half fixed, half random) so
        that workers that failed together do not come back together; never less than ``Retry-After``.
        """
        rng = self.rng or random
        base = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        wait = base / 2 + rng.uniform(0, base / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class RateLimiter:
    """At most ``rate`` requests per second across all workers (None: no limit); thread-safe."""

    def __init__(self, rate: float | None, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / rate if rate else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


@dataclass
class Fetched:
    """What ``fetch_with_retries`` got: a 200 ``response``, or no response and why (``reason``, or ``error``: an
    exception no one foresaw, which ends this URL, never the run)."""

    response: object | None
    attempts: int
    reason: str = ""
    status: int | None = None  # the last HTTP status, where a server answered
    error: Exception | None = None
    exhausted: bool = False  # every attempt failed with something worth retrying


def fetch_with_retries(
    url: str, fetcher, policy: RetryPolicy, limiter: RateLimiter, sleep=time.sleep, log=None
) -> Fetched:
    """``url`` fetched until a 200 answer, at most ``policy.retries + 1`` times (the page scraper's and the export
    search's one retry loop).

    Timeouts, connection errors, 429 and 5xx are retried (``Retry-After`` honoured, within the rate limit); any other
    status, and a fetch error the fetcher calls final, are not.
    """
    attempts = 0
    while True:
        attempts += 1
        limiter.wait()
        retry_after = None
        try:
            response = fetcher.fetch(url)
        except FetchError as exc:
            if not getattr(exc, "retryable", True):  # what the same request would get again
                return Fetched(None, attempts, exc.reason)
            reason, status = exc.reason, None
        except Exception as exc:  # noqa: BLE001 - a fault no one foresaw ends this URL, never the run
            return Fetched(None, attempts, error=exc)
        else:
            status = response.status
            if status == 200:
                return Fetched(response, attempts, status=status)
            reason = f"HTTP {status}"
            if not is_retryable_status(status):
                return Fetched(None, attempts, reason, status)
            retry_after = parse_retry_after(response.header("retry-after"))
        if attempts > policy.retries:
            return Fetched(None, attempts, reason, status, exhausted=True)
        delay = policy.delay(attempts, retry_after)
        if log is not None:
            log.debug("%s: %s; attempt %d, next in %.2f s", url, reason, attempts, delay)
        sleep(delay)
