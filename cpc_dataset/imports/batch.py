"""``RawWriter.add``'s rules on a whole Arrow batch at once: numbers, codes, dates and text, vectorised.

Each function gives what ``cpc_dataset.imports.writer`` computes for one patent, for every row of a batch, with
pyarrow.compute and numpy; the few values the vectorised path does not cover (text that is not ASCII) go
through the row functions themselves, so the results are the same.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from cpc_dataset.raw import normalise_publication_number


def _filled(array):
    import pyarrow as pa
    import pyarrow.compute as pc

    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    return pc.fill_null(array.cast(pa.string()), "")


def numbers(array):
    """``normalise_publication_number`` of each value (null -> ``""``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = _filled(array)
    ascii_ = pc.string_is_ascii(array)
    plain = pc.and_(ascii_, pc.utf8_is_alnum(array))  # the usual case: nothing to remove
    result = pc.if_else(plain, array, pc.replace_substring_regex(array, r"[\x00-\x20\x7f-]+", ""))
    result = pc.ascii_upper(result)
    other = np.flatnonzero(~ascii_.to_numpy(zero_copy_only=False))
    if len(other):
        values = [normalise_publication_number(v) for v in array.take(pa.array(other)).to_pylist()]
        mask = np.zeros(len(array), bool)
        mask[other] = True
        result = pc.replace_with_mask(result, pa.array(mask), pa.array(values, pa.string()))
    return result


def dates(array):
    """``to_date`` of each value as a date32 array: ``YYYY-MM-DD`` (or longer) text, ``YYYYMMDD`` text or
    integers, dates and timestamps; 0, empty and unreadable values are null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if array is None:
        return None
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    if pa.types.is_date32(array.type):
        return array
    if pa.types.is_date(array.type) or pa.types.is_timestamp(array.type):
        return array.cast(pa.date32())
    if pa.types.is_null(array.type):
        return pa.nulls(len(array), pa.date32())
    text = pc.utf8_trim_whitespace(array.cast(pa.string()))
    compact = pc.match_substring_regex(text, r"^[0-9]{8}$")
    head = pc.utf8_slice_codeunits(text, 0, 10)
    iso = _strict_date(head, "%Y-%m-%d")
    basic = _strict_date(text, "%Y%m%d")
    return pc.if_else(pc.fill_null(compact, False), basic, iso).cast(pa.date32())


def _strict_date(text, fmt: str):
    """``strptime`` of ``text``, null unless the date reads back as the text: strptime rolls a day past the
    month's end over (``2021-02-29`` -> March 1st) and takes unpadded parts, where ``to_date`` gives None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    same = pc.fill_null(pc.equal(pc.strftime(parsed, format=fmt), text), False)
    return pc.if_else(same, parsed, pa.scalar(None, parsed.type))


class CodeLists:
    """The codes of a batch normalised as ``RawWriter._normalise_codes`` does a row's: ``symbols`` (a list array:
    each row's valid symbols, first occurrence only, in order), ``invalid`` (per row: codes that are not CPC
    symbols), ``given`` (per row: codes given), ``n_symbols`` (per row)."""

    def __init__(self, codes, normalise_code):
        import pyarrow as pa
        import pyarrow.compute as pc

        codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
        if pa.types.is_null(codes.type):
            codes = pa.nulls(len(codes), pa.list_(pa.string()))
        n = len(codes)
        flat = pc.list_flatten(codes).cast(pa.string())
        parents = pc.list_parent_indices(codes).to_numpy(zero_copy_only=False)
        distinct = pc.unique(flat)
        symbols = pa.array([normalise_code(v) for v in distinct.to_pylist()], pa.string())
        flat_symbols = symbols.take(pc.index_in(flat, value_set=distinct))
        valid = flat_symbols.is_valid().to_numpy(zero_copy_only=False)
        ids = pc.dictionary_encode(flat_symbols).indices.to_numpy(zero_copy_only=False)
        keep = np.zeros(len(flat), bool)
        positions = np.flatnonzero(valid)
        if len(positions):
            width = int(ids[positions].max()) + 1
            _, first = np.unique(parents[positions].astype(np.int64) * width + ids[positions], return_index=True)
            keep[positions[first]] = True
        self.n_symbols = np.bincount(parents[keep], minlength=n)
        self.invalid = np.bincount(parents[~valid], minlength=n)
        self.given = pc.fill_null(pc.list_value_length(codes), 0).to_numpy(zero_copy_only=False)
        offsets = np.concatenate([[0], np.cumsum(self.n_symbols)]).astype(np.int32)
        self.symbols = pa.ListArray.from_arrays(pa.array(offsets), flat_symbols.filter(pa.array(keep)))
        self._parents, self._keep = parents, keep

    def any_startswith(self, prefixes: tuple[str, ...]) -> np.ndarray:
        """Per row: whether one of its symbols starts with one of ``prefixes``."""
        import pyarrow.compute as pc

        flat = pc.list_flatten(self.symbols)
        hit = np.zeros(len(flat), bool)
        for prefix in prefixes:
            hit |= pc.starts_with(flat, prefix).to_numpy(zero_copy_only=False)
        return np.bincount(self._parents[self._keep][hit], minlength=len(self.n_symbols)) > 0


def date_mask(published, since: dt.date | None, until: dt.date | None) -> dict[str, np.ndarray]:
    """Per row, the date filter a row fails first: ``{reason: mask}`` (rows may be in several; callers take the first)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = published.is_null().to_numpy(zero_copy_only=False)
    masks = {"no publication date": missing}
    if since:
        masks["before --since"] = pc.fill_null(pc.less(published, pa.scalar(since, pa.date32())), False).to_numpy(
            zero_copy_only=False
        )
    if until:
        masks["after --until"] = pc.fill_null(pc.greater(published, pa.scalar(until, pa.date32())), False).to_numpy(
            zero_copy_only=False
        )
    return masks
