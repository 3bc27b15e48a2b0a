"""Deadlines and limits for slow and idle clients under uvicorn: request headers within ``header_timeout``, the
body within ``body_timeout`` after them, at most ``max_header_bytes`` of request line and headers, and at most
``max_connections`` open connections, of which idle ones cannot starve the others.

uvicorn closes idle kept-alive connections (``timeout_keep_alive``), but waits forever for headers or a body that
never finish, and its ``limit_concurrency`` counts idle connections: 200 sockets held open by a client that sends
nothing made it answer 503 to everyone else. This subclass of its httptools protocol (uvicorn and httptools are
pinned in constraints.txt):

- arms one timer per request: from the connection (or the end of the previous response) to the end of the
  headers, then to the end of the body; a connection past its deadline is closed with one INFO line (for a body,
  the application's line about the disconnect);
- counts the bytes before the end of the headers as they arrive, whatever the network's chunking (a 117 KB
  header block in one chunk was let through), and refuses more than ``max_header_bytes`` with a JSON 400;
- at ``max_connections``, makes room for a new connection by closing the one that has waited longest for a
  request (an idle socket, a client trickling headers), connections that were never answered before kept-alive
  ones; only when every connection is busy with a request is the new one refused, with a JSON 503. A busy
  request is never cut. Against clients that reopen more idle sockets than the cap as fast as they are closed,
  a new connection may be closed before its first request arrives: the cap, not this policy, must exceed them.

Requests it cannot parse get a JSON 400, like every other refusal of ``cpc serve``. Log lines go through
``spaces.limits`` so that a flood of refusals is a few lines, not one per request.
"""

from __future__ import annotations

import json
import logging
import time

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


def deadline_protocol(
    header_timeout: float, body_timeout: float, max_header_bytes: int = 65536, max_connections: int | None = None
) -> type:
    """An ``HttpToolsProtocol`` class with these limits, for ``uvicorn.run(..., http=...)``."""

    class DeadlineProtocol(HttpToolsProtocol):
        _timer = None
        _stage = "headers"
        _since = 0.0  # when the current stage began (time.monotonic())
        _header_bytes = 0
        _served = False  # a response was sent on this connection (a client that made a real request)
        _tail = b""  # the last bytes of the headers so far (an end of headers split across two chunks)

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm("headers", header_timeout)
            if max_connections and len(self.connections) > max_connections:
                live = sum(not c.transport.is_closing() for c in self.connections)  # closed ones leave next tick
                if live > max_connections:
                    self._make_room()

        def _make_room(self) -> None:
            """Close the connection that has waited longest for a request, else refuse this one with a 503."""
            waiting = [
                c
                for c in self.connections
                if c is not self and getattr(c, "_stage", None) == "headers" and not c.transport.is_closing()
            ]
            if waiting:  # strangers first (no request answered yet), then kept-alive clients; the longest idle first
                oldest = min(waiting, key=lambda c: (c._served, c._since))
                log.info("%d connections open; closing the longest idle one (%s)", len(self.connections), oldest._who())
                oldest._disarm()
                oldest.transport.close()
                return
            log.warning("%d connections open, all busy; refusing a new one with 503", len(self.connections))
            self._disarm()
            self._send_json(503, "Service Unavailable", "Service unavailable: too many requests at once; try again")

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._stage == "headers" and self._timer is None and not self.transport.is_closing():
                self._arm("headers", header_timeout)  # the first byte of a request on a kept-alive connection
            if self._stage == "headers" and not self.transport.is_closing():
                seen = self._tail + data
                end = seen.find(b"\r\n\r\n")
                counted = len(data) if end < 0 else max(0, end + 4 - len(self._tail))
                self._header_bytes += counted
                self._tail = seen[-3:]
                if self._header_bytes > max_header_bytes:
                    log.info("client %s sent more than %d bytes of headers; closing", self._who(), max_header_bytes)
                    self._disarm()
                    self.send_400_response("Request headers too large.")
                    return
            super().data_received(data)

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to an unparsable request (bad framing, oversized headers), as JSON like the rest."""
            self._send_json(400, "Bad Request", f"Bad request: {msg}")

        def _send_json(self, status: int, phrase: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            head = [
                b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode()),
                *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
            ]
            self.transport.write(b"".join(head) + body)
            self.transport.close()

        def on_headers_complete(self) -> None:
            self._arm("body", body_timeout)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            self._served = True
            super().on_response_complete()
            if not self.transport.is_closing():
                # a kept-alive connection: uvicorn closes it after timeout_keep_alive without a byte (the same
                # expiry as clients' pools, so a request is seldom sent just as it closes); the header deadline
                # starts with the next request's first byte
                self._arm("headers", None)

        def _arm(self, stage: str, seconds: float | None) -> None:
            self._disarm()
            self._stage = stage
            self._since = time.monotonic()
            if stage == "headers":
                self._header_bytes, self._tail = 0, b""
            if seconds is not None:
                self._timer = self.loop.call_later(seconds, self._expired, stage, seconds)

        def _disarm(self) -> None:
            self._stage = "app"
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self, stage: str, seconds: float) -> None:
            self._timer = None
            if not self.transport.is_closing():
                # a body cut short is logged by the application (one INFO line per disconnect), headers here
                level = logging.INFO if stage == "headers" else logging.DEBUG
                log.log(
                    level, "client %s sent no complete request %s within %g s; closing", self._who(), stage, seconds
                )
                self.transport.close()

        def _who(self) -> str:
            return "%s:%d" % self.client if self.client else "?"

    return DeadlineProtocol
