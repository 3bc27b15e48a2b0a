"""Fetch patent pages over HTTP with one pooled httpx client shared by all workers (the default backend).

What a site can do to one fetch, and what it gets (``FetchError``; ``retryable`` False where trying again cannot
help, so the page goes to the failures file at once):

- no answer, headers or body trickled byte by byte: one **total** deadline per attempt (``timeout``) covers
  connect, TLS, request, headers, redirects and body. httpx's own timeouts are per socket operation, so each
  socket operation here gets at most what is left of the deadline (a thread-local deadline read by a wrapped
  httpcore network backend);
- a body larger than the cap, or a compression bomb: the body is decoded here in bounded pieces
  (``decoding.py``) and the fetch stops once the **decoded** size passes ``max_bytes``;
- a body that is not what its ``Content-Encoding`` says, an unknown encoding, a redirect loop (more than
  ``max_redirects``), a redirect to another host (unless ``follow_other_hosts``) or to another scheme: not retried;
- an unknown charset: read as UTF-8 with replacement characters.
"""

from __future__ import annotations

import codecs
import importlib.util
import threading
import time
from dataclasses import dataclass, field

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.scrape.decoding import ACCEPT_ENCODING, BadEncoding, content_encodings, decode_body
from cpc_dataset.scrape.retry import FetchError

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 patent-cpc"
)
MAX_PAGE_BYTES = 20 * 2**20  # decoded
MAX_REDIRECTS = 5

_deadline = threading.local()  # .at: time.monotonic() by which the current attempt of this thread must end


@dataclass
class Response:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    url: str = ""  # where the page was finally read (after redirects)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class HttpFetcher:
    """``fetch(url)`` -> Response; timeouts and connection errors raise FetchError. Thread-safe."""

    def __init__(
        self,
        workers: int,
        timeout: float,
        user_agent: str = USER_AGENT,
        *,
        follow_other_hosts: bool = False,
        max_bytes: int = MAX_PAGE_BYTES,
        max_redirects: int = MAX_REDIRECTS,
    ):
        if importlib.util.find_spec("httpx") is None:
            raise MisconfiguredError("the http backend needs httpx: pip install 'patent-cpc[scrape]'")
        import httpx

        self.timeout = timeout
        self.follow_other_hosts = follow_other_hosts
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._httpx = httpx
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        self._client = httpx.Client(
            transport=_deadline_transport(httpx, limits),
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # followed here: each hop checked, all of them inside one deadline
            headers={"User-Agent": user_agent, "Accept-Language": "en", "Accept-Encoding": ACCEPT_ENCODING},
        )

    def fetch(self, url: str) -> Response:
        """The whole page within ``timeout`` seconds (connect, headers, redirects and body together), else FetchError."""
        httpx = self._httpx
        _deadline.at = time.monotonic() + self.timeout
        try:
            return self._fetch(url)
        except BadEncoding as exc:
            raise FetchError(exc.reason, retryable=False) from None
        except httpx.TimeoutException:
            raise FetchError("timeout") from None
        except httpx.TransportError as exc:
            raise FetchError(f"connection error ({type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a URL httpx cannot use, a malformed redirect ...
            raise FetchError(f"bad request or response ({type(exc).__name__}: {str(exc)[:120]})", False) from None
        finally:
            _deadline.at = None

    def _fetch(self, url: str) -> Response:
        request = self._client.build_request("GET", url)
        host = request.url.host
        for _ in range(self.max_redirects + 1):
            response = self._client.send(request, stream=True)
            try:
                target = response.next_request  # set for a 3xx with a usable Location (follow_redirects=False)
                if target is None:
                    text = self._read_text(response) if response.status_code == 200 else ""
                    headers = {k.lower(): v for k, v in response.headers.items()}
                    return Response(response.status_code, text, headers, str(request.url))
            finally:
                response.close()
            if target.url.host != host and not self.follow_other_hosts:
                raise FetchError(f"redirected to another host ({target.url.host[:80]})", retryable=False)
            if target.url.scheme not in ("http", "https"):
                raise FetchError(f"redirected to a {target.url.scheme[:20]}: URL", retryable=False)
            request = target
        raise FetchError(f"more than {self.max_redirects} redirects (a loop?)", retryable=False)

    def _read_text(self, response) -> str:
        pieces, size = [], 0
        for piece in decode_body(response.iter_raw(), content_encodings(response.headers.get("content-encoding"))):
            size += len(piece)
            if size > self.max_bytes:
                raise FetchError(f"page larger than {self.max_bytes // 2**20} MB (decoded)", retryable=False)
            pieces.append(piece)
        return b"".join(pieces).decode(_charset(response.charset_encoding), errors="replace")

    def close(self) -> None:
        self._client.close()


def _charset(name: str | None) -> str:
    try:
        return codecs.lookup(name).name if name else "utf-8"
    except LookupError:
        return "utf-8"


def _remaining(timeout: float | None, expired: type) -> float | None:
    """What a socket operation may take: its own timeout, cut to what is left of this thread's deadline."""
    at = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the deadline of this attempt has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """An httpcore network stream whose reads and writes end by the thread's deadline."""

    def __init__(self, stream):
        import httpcore

        self._stream = stream
        self._errors = httpcore

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _remaining(timeout, self._errors.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _remaining(timeout, self._errors.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _remaining(timeout, self._errors.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend:
    """httpcore's sync network backend, with every connection's operations bounded by the deadline."""

    def __init__(self, backend):
        import httpcore

        self._backend = backend
        self._expired = httpcore.ConnectTimeout

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _remaining(timeout, self._expired)
        return _DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout = _remaining(timeout, self._expired)
        return _DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _deadline_transport(httpx, limits):
    """httpx's transport with its connection pool on the deadline backend (httpx and httpcore are pinned)."""
    transport = httpx.HTTPTransport(limits=limits)
    pool = transport._pool
    pool._network_backend = _DeadlineBackend(pool._network_backend)
    return transport
