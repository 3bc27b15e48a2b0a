"""Fetch patent pages over HTTP with one pooled httpx client shared by all workers (the default backend)."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field

from cpc_dataset.errors import MisconfiguredError
from cpc_dataset.scrape.retry import FetchError

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 patent-cpc"
)
MAX_PAGE_BYTES = 20 * 2**20


@dataclass
class Response:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class HttpFetcher:
    """``fetch(url)`` -> Response; timeouts and connection errors raise FetchError. Thread-safe."""

    def __init__(self, workers: int, timeout: float, user_agent: str = USER_AGENT):
        if importlib.util.find_spec("httpx") is None:
            raise MisconfiguredError("the http backend needs httpx: pip install 'patent-cpc[scrape]'")
        import httpx

        self.timeout = timeout
        self._httpx = httpx
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=workers, max_keepalive_connections=workers),
            follow_redirects=True,
            headers={"User-Agent": user_agent, "Accept-Language": "en"},
        )

    def fetch(self, url: str) -> Response:
        """The whole page within ``timeout`` seconds (connect, wait and read together), else FetchError."""
        httpx = self._httpx
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url) as response:
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if time.monotonic() > deadline:
                        raise FetchError("timeout")
                    if size > MAX_PAGE_BYTES:
                        raise FetchError(f"page larger than {MAX_PAGE_BYTES // 2**20} MB")
                encoding = response.encoding or "utf-8"
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Response(response.status_code, b"".join(chunks).decode(encoding, errors="replace"), headers)
        except httpx.TimeoutException:
            raise FetchError("timeout") from None
        except httpx.TransportError as exc:
            raise FetchError(f"connection error ({type(exc).__name__})") from None

    def close(self) -> None:
        self._client.close()
