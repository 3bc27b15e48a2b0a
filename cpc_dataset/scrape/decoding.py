"""Undo a response's ``Content-Encoding`` in bounded pieces, so that a compression bomb is stopped at the page cap.

httpx decodes each network chunk whole: 1.6 KB of brotli (or of ``Content-Encoding: gzip, gzip``) becomes
gigabytes before any size check can run. Here every layer hands on a bounded piece at a time (zlib's
``max_length``; brotli's ``output_buffer_limit``, which may overshoot by one buffer block), so the caller, which
counts the decoded bytes, stops a bomb with no more than the cap (plus a piece per layer) in memory. A body that
is not what its header says raises ``BadEncoding``, and so does an encoding that is neither asked for nor known.
"""

from __future__ import annotations

import zlib
from typing import Iterable, Iterator

PIECE = 64 * 1024  # bytes a layer hands on at once
ACCEPT_ENCODING = "gzip, deflate"  # what the scraper asks for; brotli is decoded (bounded) if a site sends it anyway


class BadEncoding(Exception):
    """The body cannot be decoded as its ``Content-Encoding`` says; ``reason`` is for the failures file."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def content_encodings(header: str | None) -> list[str]:
    """``"gzip, br"`` -> ``["gzip", "br"]`` (the order they were applied in); identity dropped."""
    names = [part.strip().lower() for part in (header or "").split(",")]
    return [name for name in names if name and name != "identity"]


def decode_body(chunks: Iterable[bytes], encodings: list[str]) -> Iterator[bytes]:
    """The decoded body, in pieces of at most ``PIECE`` bytes per layer; raises BadEncoding."""
    stream: Iterable[bytes] = chunks
    for name in reversed(encodings):  # the last encoding applied is undone first
        stream = _layer(stream, name)
    return iter(stream)


def _layer(chunks: Iterable[bytes], name: str) -> Iterator[bytes]:
    if name in ("gzip", "x-gzip"):
        return _zlib(chunks, name, 16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _zlib(chunks, name, None)
    if name == "br":
        return _brotli(chunks)
    raise BadEncoding(f"unsupported Content-Encoding {name[:40]!r}")


def _zlib(chunks: Iterable[bytes], name: str, wbits: int | None) -> Iterator[bytes]:
    """gzip (several members allowed) or deflate (zlib-wrapped or raw, as browsers accept)."""
    decoder = None
    fed = False
    held = b""  # deflate: a first chunk of one byte, kept until a second tells whether it is zlib-wrapped
    for chunk in chunks:
        data = held + chunk
        held = b""
        while data:
            if decoder is None:
                if wbits is None and len(data) < 2:
                    held, fed = data, True
                    break
                decoder = zlib.decompressobj(wbits if wbits is not None else _deflate_wbits(data))
            fed = True
            try:
                out = decoder.decompress(data, PIECE)
                while True:
                    if out:
                        yield out
                    if decoder.eof or decoder.unconsumed_tail or len(out) < PIECE:
                        break
                    out = decoder.decompress(b"", PIECE)  # output still pending from input already taken
            except zlib.error:
                raise BadEncoding(f"Content-Encoding {name} but the body is not {name}") from None
            data = decoder.unconsumed_tail
            if decoder.eof:
                data = decoder.unused_data + data
                decoder = None
                if name == "deflate":  # nothing may follow a deflate stream; a gzip member may follow another
                    return
    if fed and (decoder is not None or held):
        raise BadEncoding(f"Content-Encoding {name} but the body is cut short")


def _deflate_wbits(head: bytes) -> int:
    """deflate as sent: zlib-wrapped (RFC 1950 header) or, as some servers do, a raw deflate stream."""
    wrapped = len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0
    return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS


def _brotli(chunks: Iterable[bytes]) -> Iterator[bytes]:
    try:
        import brotli
    except ImportError:
        brotli = None
    if brotli is None or not hasattr(brotli.Decompressor, "can_accept_more_data"):
        raise BadEncoding("unsupported Content-Encoding 'br' (not asked for)")
    decoder = brotli.Decompressor()
    try:
        for chunk in chunks:
            out = decoder.process(chunk, output_buffer_limit=PIECE)
            while out:  # at the limit, the decoder keeps output back until asked again with no input
                yield out
                if decoder.is_finished():
                    break
                out = decoder.process(b"", output_buffer_limit=PIECE)
    except brotli.error:
        raise BadEncoding("Content-Encoding br but the body is not br") from None
    if not decoder.is_finished():
        raise BadEncoding("Content-Encoding br but the body is cut short")
