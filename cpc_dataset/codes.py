"""CPC symbols: parse the forms people paste, validate them, and give every level.

A CPC symbol such as ``G06N3/084`` has five levels::

    section     G
    class       G06
    subclass    G06N
    main group  G06N3/00
    subgroup    G06N3/084

Accepted spellings: ``G06N3/084``, ``G06N 3/084``, ``G06N  3/084``, lower case, and the
fixed-width form used in bulk files, ``G06N0003084000`` (4-digit main group, 6-digit subgroup).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cpc_dataset.errors import InvalidCodeError

SECTIONS = "ABCDEFGHY"
LEVELS = ("section", "class", "subclass", "main_group", "subgroup")

_SPACED = re.compile(r"^([A-HY])(\d{2})([A-Z])\s*(\d{1,4})\s*/\s*(\d{2,6})$")
_FIXED = re.compile(r"^([A-HY])(\d{2})([A-Z])(\d{4})(\d{6})$")
_SUBCLASS = re.compile(r"^([A-HY])(\d{2})([A-Z])$")


@dataclass(frozen=True, order=True)
class CpcCode:
    """One CPC symbol, normalised: no leading zeros in the main group, subgroup of 2-6 digits."""

    section: str
    class_: str  # two digits, e.g. "06"
    subclass_letter: str
    group: int  # main group number, 1..9999
    subgroup_digits: str  # "00" for a main group, else 2..6 digits, no trailing zeros past two

    @property
    def symbol(self) -> str:
        return f"{self.subclass}{self.group}/{self.subgroup_digits}"

    @property
    def class_symbol(self) -> str:
        return f"{self.section}{self.class_}"

    @property
    def subclass(self) -> str:
        return f"{self.section}{self.class_}{self.subclass_letter}"

    @property
    def main_group(self) -> str:
        return f"{self.subclass}{self.group}/00"

    @property
    def is_main_group(self) -> bool:
        return self.subgroup_digits == "00"

    @property
    def fixed_width(self) -> str:
        return f"{self.subclass}{self.group:04d}{self.subgroup_digits.ljust(6, '0')}"

    def level(self, name: str) -> str:
        """The symbol at one level: section, class, subclass, main_group or subgroup."""
        values = {
            "section": self.section,
            "class": self.class_symbol,
            "subclass": self.subclass,
            "main_group": self.main_group,
            "subgroup": self.symbol,
        }
        try:
            return values[name]
        except KeyError:
            raise ValueError(f"unknown CPC level {name!r}; choose one of {', '.join(LEVELS)}") from None

    def __str__(self) -> str:
        return self.symbol


def _normalise_subgroup(digits: str) -> str:
    stripped = digits.rstrip("0")
    return stripped.ljust(2, "0") if len(stripped) <= 2 else stripped


def parse_code(text: str) -> CpcCode:
    """Parse one CPC symbol in any accepted spelling; raise InvalidCodeError naming it otherwise."""
    if not isinstance(text, str):
        raise InvalidCodeError(f"not a CPC symbol: {text!r} (expected a string)")
    raw = text.strip().upper()
    match = _SPACED.match(raw) or _FIXED.match(raw)
    if match is None:
        raise InvalidCodeError(f"not a CPC symbol: {text!r} (expected e.g. 'G06N3/08')")
    section, class_, letter, group, subgroup = match.groups()
    group_number = int(group)
    if group_number == 0:
        raise InvalidCodeError(f"not a CPC symbol: {text!r} (main group 0 does not exist)")
    subgroup = _normalise_subgroup(subgroup)
    if len(subgroup) > 6:
        raise InvalidCodeError(f"not a CPC symbol: {text!r} (subgroup longer than 6 digits)")
    return CpcCode(section, class_, letter, group_number, subgroup)


def normalise_code(text: str) -> str:
    """The canonical spelling of a symbol, e.g. ``'g06n 0003/0800'`` -> ``'G06N3/08'``."""
    return parse_code(text).symbol


def is_valid_code(text: str) -> bool:
    try:
        parse_code(text)
    except InvalidCodeError:
        return False
    return True


def code_level(symbol: str, level: str) -> str:
    """The ancestor of ``symbol`` at ``level``; accepts subclass symbols for the upper three levels."""
    sub = _SUBCLASS.match(symbol.strip().upper()) if level in ("section", "class", "subclass") else None
    if sub:
        s, c, letter = sub.groups()
        return {"section": s, "class": s + c, "subclass": s + c + letter}[level]
    return parse_code(symbol).level(level)
