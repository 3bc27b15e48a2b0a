"""Header and body deadlines for ``cpc webapp`` under waitress, like ``spaces.timeouts`` for ``cpc serve``.

waitress closes a connection only when it has been *silent* for ``channel_timeout``, so a client that trickles
one header byte every few seconds holds its connection for ever; 100 such clients took every connection and
the web app answered no one. ``DeadlineChannel`` (waitress's ``HTTPChannel``, pinned in constraints.txt) gives
each request ``header_timeout`` seconds from its first byte to the end of its headers, then ``body_timeout``
seconds for its body; past either, the connection is closed (one INFO line, rate-limited). waitress checks
every open connection at least once a second (its loop timeout), so a deadline is kept to within a second.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def deadline_channel(header_timeout: float, body_timeout: float) -> type:
    """A waitress channel class with these deadlines (``server.channel_class``)."""
    from waitress.channel import HTTPChannel

    class DeadlineChannel(HTTPChannel):
        _started = None  # time.monotonic() of the first byte of the request being read
        _body_since = None  # ... and of the end of its headers

        def received(self, data) -> bool:
            if self.request is None and data:
                self._started, self._body_since = time.monotonic(), None
            done = super().received(data)
            if self.request is None:
                self._started = self._body_since = None
            elif self._body_since is None and self.request.headers_finished:
                self._body_since = time.monotonic()
            return done

        def readable(self) -> bool:
            if self._started is not None and not self.will_close:
                now = time.monotonic()
                late = (
                    ("body", body_timeout)
                    if self._body_since is not None and now - self._body_since > body_timeout
                    else ("headers", header_timeout)
                    if self._body_since is None and now - self._started > header_timeout
                    else None
                )
                if late:
                    log.info("a client sent no complete request %s within %g s; closing", *late)
                    self.will_close = True  # writable() is then True, and waitress closes the channel
                    return False
            return super().readable()

    return DeadlineChannel


def use_deadlines(server, header_timeout: float, body_timeout: float) -> None:
    """Make a server from ``waitress.create_server`` (one socket or several) use ``DeadlineChannel``."""
    from waitress.server import BaseWSGIServer

    channel = deadline_channel(header_timeout, body_timeout)
    dispatchers = [server, *getattr(server, "map", {}).values()]
    for dispatcher in dispatchers:
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel
