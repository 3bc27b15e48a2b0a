"""patent-cpc: the CPC dataset stage (codes, raw scrape, Hub dataset build)."""

from cpc_dataset.codes import CpcCode, code_level, is_valid_code, normalise_code, parse_code
from cpc_dataset.errors import CpcError, InputError, InvalidCodeError, MisconfiguredError

__all__ = [
    "CpcCode",
    "CpcError",
    "InputError",
    "InvalidCodeError",
    "MisconfiguredError",
    "code_level",
    "is_valid_code",
    "normalise_code",
    "parse_code",
]
