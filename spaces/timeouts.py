"""Deadlines for slow clients under uvicorn: request headers within ``header_timeout``, the body within
``body_timeout`` after them, and at most ``max_header_bytes`` of request line and headers.

uvicorn closes idle kept-alive connections (``timeout_keep_alive``) and caps them (``limit_concurrency``), but
waits forever for headers or a body that never finish. This subclass of its httptools protocol (uvicorn and
httptools are pinned in constraints.txt) arms one timer per request: from the connection (or the end of the
previous response) to the end of the headers, then to the end of the body. A connection past its deadline is
closed with one INFO line (for a body, the application's line about the disconnect). Requests it cannot parse
get a JSON 400, like every other refusal of ``cpc serve``.
"""

from __future__ import annotations

import json
import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)


def deadline_protocol(header_timeout: float, body_timeout: float, max_header_bytes: int = 65536) -> type:
    """An ``HttpToolsProtocol`` class with these limits, for ``uvicorn.run(..., http=...)``."""

    class DeadlineProtocol(HttpToolsProtocol):
        _timer = None
        _stage = "headers"
        _header_bytes = 0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm("headers", header_timeout)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            reading_headers = self._stage == "headers"
            super().data_received(data)
            if reading_headers and self._stage == "headers":  # still no end of headers after this data
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes and not self.transport.is_closing():
                    log.info("client %s sent more than %d bytes of headers; closing", self._who(), max_header_bytes)
                    self._disarm()
                    self.send_400_response("Request headers too large.")

        def send_400_response(self, msg: str) -> None:
            """uvicorn's answer to an unparsable request (bad framing, oversized headers), as JSON like the rest."""
            body = json.dumps({"error": f"Bad request: {msg}"}).encode()
            head = [
                b"HTTP/1.1 400 Bad Request\r\n",
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
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm("headers", header_timeout)  # the next request on this kept-alive connection

        def _arm(self, stage: str, seconds: float) -> None:
            self._disarm()
            self._stage = stage
            if stage == "headers":
                self._header_bytes = 0
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
