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
