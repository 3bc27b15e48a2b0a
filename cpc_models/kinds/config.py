"""The one base of every model kind's training configuration.

A kind's config is a dataclass deriving from ``KindConfig``; each field is one ``cpc train <kind>`` option
(``--field-name``, its default shown in ``--help``; ``option(...)`` adds a help line, choices or other flags).
``from_dict`` is strict: an unknown key is one-line ``InputError``, so a typo in ``--config FILE`` never trains
silently with a default.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from cpc_dataset.errors import InputError

# what trainers record in train_config.json beside the configuration (ignored when a file is read back as --config)
# (and what older trainers wrote beside it at the top level)
RECORDED_KEYS = frozenset(
    {
        "kind",
        "model_type",
        "run",
        "train_seconds",
        "train_seconds_head",
        "n_features",
        "nonzero_weights",
        "bank_nonzeros",
        "tuned_weights",
        "seconds",
    }
)


def option(
    default=dataclasses.MISSING,
    help: str = "",
    choices: tuple[str, ...] | None = None,
    flags: tuple[str, ...] = (),
    default_factory=dataclasses.MISSING,
    cli: bool = True,
):
    """A config field with its command-line help (``flags``: extra option names, e.g. ``--out``)."""
    meta = {"help": help, "choices": choices, "flags": flags, "cli": cli}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _default_dataset() -> str:
    from cpc_models.settings import default_dataset_dir

    return str(default_dataset_dir())


@dataclass
class KindConfig:
    """Fields every kind shares: where the dataset is read from and where the model folder is written."""

    dataset_dir: str = option(
        default_factory=_default_dataset, flags=("--dataset",), help="Dataset folder (cpc data build)."
    )
    output_dir: str = option("hub/models/model", flags=("--out",), help="Model folder to write.")

    # old key -> field, for train_config.json files written before the names were shared
    RENAMED: typing.ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def field_types(cls) -> dict[str, object]:
        return typing.get_type_hints(cls)

    @classmethod
    def renamed(cls, data: dict) -> dict:
        """``data`` with old key names replaced by the fields' (a field given under both names keeps the new one)."""
        out = {cls.RENAMED[k]: v for k, v in data.items() if k in cls.RENAMED}
        out.update({k: v for k, v in data.items() if k not in cls.RENAMED})
        return out

    @classmethod
    def from_dict(cls, data: dict) -> KindConfig:
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in cls.renamed(data).items():
            if key in RECORDED_KEYS:
                continue
            if key not in known:
                raise InputError(f"unknown config key {key!r}; known: {', '.join(known)}")
            values[key] = value
        hints = cls.field_types()
        for key, value in values.items():
            if value is not None and typing.get_origin(_strip_none(hints[key])) is tuple:
                values[key] = tuple(value)
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> dict:
        """A JSON config file as a dict (e.g. a model's train_config.json); one-line errors for what cannot be read."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: a config is one JSON object")
        return data


def _strip_none(hint):
    """``X | None`` -> ``X``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return hint
