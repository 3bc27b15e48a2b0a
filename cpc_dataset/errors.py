"""Errors a user can act on. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class CpcError(Exception):
    """Base class; ``prefix`` is printed before the message."""

    prefix = "Error"

    def __str__(self) -> str:
        return f"{self.prefix}: {super().__str__()}"


class InvalidCodeError(CpcError, ValueError):
    prefix = "Invalid CPC code"


class InputError(CpcError):
    """Input that cannot be used at all (missing folder, wrong columns, bad encoding)."""

    prefix = "Bad input"


class MisconfiguredError(CpcError):
    prefix = "Misconfigured"
