"""``cpc_dataset.text``'s clean-up on whole Arrow string arrays at once, for the imports and the build at scale.

Most patent text is ASCII; for it, ``clean_text`` and ``abstract_key`` are byte maps followed by collapsing runs
of separators into one space and trimming, which numpy does on the array's data buffer in one pass. Strings
that are not ASCII go through the functions themselves, so every result equals theirs.
"""

from __future__ import annotations

import hashlib

import numpy as np

from cpc_dataset.text import abstract_key, clean_text

SPACE = 32
CHUNK_ROWS = 4096


def _parts(array):
    """(data bytes as uint8, int64 offsets from 0) of a string array without nulls' content."""
    import pyarrow as pa

    array = array.cast(pa.large_string()) if array.type != pa.large_string() else array
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    base = int(offsets[0]) if len(offsets) else 0
    end = int(offsets[-1]) if len(offsets) else 0
    raw = np.frombuffer(data, np.uint8, count=end - base, offset=base) if data is not None and end > base else None
    return (raw if raw is not None else np.zeros(0, np.uint8)), offsets - base


def _squeeze(raw: np.ndarray, offsets: np.ndarray, key: bool) -> tuple[np.ndarray, np.ndarray]:
    """``clean_text`` (``key=False``) or ``abstract_key`` (``key=True``) of each ASCII string: (bytes, offsets).

    Word bytes are kept (lower-cased for a key); a separator (clean: controls and whitespace; key: anything but
    a letter or digit) is kept, as one space, only after a word byte of the same string; a string's trailing
    space is dropped. Non-ASCII bytes come out as garbage: callers redo those strings.
    """
    if key:
        source = raw | 0x20  # ASCII letters of either case -> lower case; digits are unchanged by it
        word = ((source >= 97) & (source <= 122)) | ((raw >= 48) & (raw <= 57))
    else:
        source = raw
        word = (raw > SPACE) & (raw != 127)
    keep = word.copy()
    keep[1:] |= word[:-1]
    starts = offsets[:-1][offsets[:-1] < len(raw)]
    keep[starts] = word[starts]
    dropped = np.flatnonzero(~keep)
    if len(dropped):
        source, word = source[keep], word[keep]
        offsets = offsets - np.searchsorted(dropped, offsets)
    data = np.where(word, source, np.uint8(SPACE))
    # a string may end in the one space kept after its last word: drop it
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    trailing = nonempty[data[offsets[1:][nonempty] - 1] == SPACE]
    if len(trailing):
        drop = np.ones(len(data), bool)
        drop[offsets[trailing + 1] - 1] = False
        data = data[drop]
        removed = np.zeros(len(offsets), np.int64)
        removed[trailing + 1] = 1
        offsets = offsets - np.cumsum(removed)
    return data, offsets


def _squeezed(array, key: bool):
    """``_squeeze`` over a whole array, a few thousand strings at a time (small buffers stay in the allocator's
    reach: fewer fresh pages to fault in): (bytes, offsets)."""
    datas, offsets, base = [], [np.zeros(1, np.int64)], 0
    for start in range(0, len(array), CHUNK_ROWS):
        data, chunk_offsets = _squeeze(*_parts(array.slice(start, CHUNK_ROWS)), key=key)
        datas.append(data)
        offsets.append(chunk_offsets[1:] + base)
        base += len(data)
    return (np.concatenate(datas) if datas else np.zeros(0, np.uint8)), np.concatenate(offsets)


def _string_array(data: np.ndarray, offsets: np.ndarray):
    import pyarrow as pa

    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data)).cast(
        pa.string()
    )


def _not_ascii(array) -> np.ndarray:
    import pyarrow.compute as pc

    return ~pc.fill_null(pc.string_is_ascii(array), True).to_numpy(zero_copy_only=False)


def clean_texts(array):
    """``clean_text`` of each string of a pyarrow string array (null -> ``""``), as a string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pc.fill_null(array.cast(pa.string()), "")
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    result = _string_array(*_squeezed(array, key=False))
    other = np.flatnonzero(_not_ascii(array))
    if len(other):
        values = [clean_text(t) for t in array.take(pa.array(other)).to_pylist()]
        result = _replace(result, other, values)
    return result


def abstract_digests(array) -> list[bytes]:
    """SHA-256 of ``abstract_key`` of each string (its UTF-8 bytes), as ``cpc_dataset.merge`` keys abstracts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = pc.fill_null(array.cast(pa.string()), "")
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    data, offsets = _squeezed(array, key=True)
    view = data.tobytes()
    sha = hashlib.sha256
    bounds = offsets.tolist()
    digests = [sha(view[a:b]).digest() for a, b in zip(bounds, bounds[1:])]
    for i in np.flatnonzero(_not_ascii(array)).tolist():
        digests[i] = sha(abstract_key(array[i].as_py()).encode("utf-8")).digest()
    return digests


def _replace(array, positions: np.ndarray, values: list[str]):
    import pyarrow as pa
    import pyarrow.compute as pc

    mask = np.zeros(len(array), bool)
    mask[positions] = True
    return pc.replace_with_mask(array, pa.array(mask), pa.array(values, pa.string()))
