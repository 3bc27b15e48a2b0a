"""Limits the two servers (``cpc serve``, ``cpc webapp``) share: rate-limited log lines, enough open files.

Log lines that a flood of clients cannot multiply: a server refusing thousands of requests a second (503, 400,
connections closed for their deadline) wrote one line each (53,000 lines, 2 MB, for a minute of idle sockets).
``RateLimitFilter`` lets the first ``burst`` records of each message template through in every ``interval``
seconds, drops the rest, and adds to the next one it lets through how many it dropped. Installed by ``cpc serve``
and ``cpc webapp`` on their servers' loggers.
"""

from __future__ import annotations

import logging
import resource
import threading
import time


class RateLimitFilter(logging.Filter):
    """At most ``burst`` records of each message template per ``interval`` seconds; the first record of the next
    interval says how many were dropped."""

    def __init__(self, interval: float = 10.0, burst: int = 5, clock=time.monotonic):
        super().__init__()
        self.interval = interval
        self.burst = burst
        self._clock = clock
        self._windows: dict[tuple, list] = {}  # template -> [window start, records let through, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.interval:
                dropped = window[2] if window else 0
                self._windows[key] = [now, 1, 0]
            elif window[1] < self.burst:
                window[1] += 1
                dropped = 0
            else:
                window[2] += 1
                return False
        if dropped:
            record.msg = f"{record.msg} [and {dropped} more like this in {self.interval:g} s, not logged]"
        return True


def limit_log_rate(*names: str, interval: float = 10.0) -> RateLimitFilter:
    """One filter on each named logger (records logged on a logger itself; a child logger needs its own name)."""
    rate_filter = RateLimitFilter(interval)
    for name in names:
        logging.getLogger(name).addFilter(rate_filter)
    return rate_filter


def allow_open_files(needed: int) -> None:
    """Raise this process's open-file limit (soft, up to the hard one) to what the connection cap needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < needed:
            logging.getLogger(__name__).warning(
                "open files limited to %d: fewer connections than CPC_MAX_CONNECTIONS fit", new
            )
