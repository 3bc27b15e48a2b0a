"""``cpc train <kind>``: one subcommand per registered model kind, generated from its config dataclass.

Each field of the kind's config is an option (``--field-name``, its default in the help); ``--config FILE``
starts from a JSON config (e.g. a model's ``train_config.json``) that the options override. The names used
before the kinds had their own (``linear``, ``embedding``, ``knn``) still work and say what to type instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from cpc_models.registry import LEGACY_COMMANDS as DEPRECATED


def _type_and_shape(hint) -> tuple[object, dict]:
    """click type and option settings for a config field's type hint."""
    import typing

    from cpc_models.kinds.config import _strip_none

    base = _strip_none(hint)
    origin = typing.get_origin(base)
    if origin is tuple:
        args = typing.get_args(base)
        return args[0], {"nargs": len(args)}
    if origin is list:
        return _strip_none(typing.get_args(base)[0]), {"multiple": True}
    return base, {}


def field_option(f: dataclasses.Field, hint) -> click.Option:
    meta = f.metadata
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    flag = "--" + f.name.replace("_", "-")
    flags = list(meta.get("flags") or ())
    kind, shape = _type_and_shape(hint)
    help_text = meta.get("help") or ""
    if "[" not in help_text:
        shown = (
            "none"
            if default is None
            else " ".join(map(str, default))
            if isinstance(default, (tuple, list))
            else default
        )
        if not (isinstance(default, list) and not default):
            help_text = f"{help_text} [default: {shown}]".strip()
    if kind is bool:
        decls = [flags[0] if flags and "/" in flags[0] else f"{flag}/--no-{flag[2:]}", f.name]
        return click.Option(decls, default=None, help=help_text)
    decls = [flag, *flags, f.name]
    if meta.get("choices"):
        kind = click.Choice(list(meta["choices"]))
    return click.Option(decls, type=kind, default=None, help=help_text, **shape)


def _given(options: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items() if v is not None and v != ()}


def kind_command(name: str) -> click.Command:
    from cpc_models.registry import get_kind

    kind = get_kind(name)
    config_class = kind.config_class()
    hints = config_class.field_types()
    params = [
        click.Option(
            ["--config", "config_file"],
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A JSON config (e.g. a model's train_config.json) to start from; the options override it.",
        )
    ]
    params += [field_option(f, hints[f.name]) for f in dataclasses.fields(config_class) if f.metadata.get("cli", True)]

    def run(config_file: Path | None, **options) -> None:
        start = config_class.read(config_file) if config_file else {}
        config = config_class.from_dict({**config_class.renamed(start), **_given(options)})
        if (click.get_current_context().find_root().obj or {}).get("quiet") and hasattr(config, "progress"):
            config.progress = False
        test = kind.train(config)
        click.echo(
            f"{config.output_dir}: test micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}, P@1 {test['precision_at_1']:.3f}"
        )

    return click.Command(name, params=params, callback=run, help=kind.summary, short_help=kind.summary.split(";")[0])


def deprecated_command(old: str) -> click.Command:
    """``cpc train linear|embedding|knn``: runs the kind that replaced it, after a note saying what to type."""

    def run(args: tuple[str, ...]) -> None:
        args = list(args)
        target = DEPRECATED[old]
        if old == "linear":
            classifier = _pop_option(args, "--classifier") or "svc"
            if f"{old} --classifier {classifier}" in DEPRECATED:
                target = DEPRECATED[f"{old} --classifier {classifier}"]
            else:
                args += ["--classifier", classifier]
            if not any(a.split("=")[0] in ("--out", "--output-dir") for a in args):
                args += ["--out", "hub/models/tfidf-linear"]  # the old default folder
        click.echo(
            f"note: `cpc train {old}` is deprecated; type `cpc train {target}` (see `cpc train {target} --help`)",
            err=True,
        )
        command = kind_command(target)
        parent = click.get_current_context()
        with command.make_context(target, args, parent=parent) as ctx:
            command.invoke(ctx)

    return click.Command(
        old,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        callback=run,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
        help=f"Deprecated: use `cpc train {DEPRECATED[old]}`.",
        hidden=True,
    )


def _pop_option(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            value = args[i + 1]
            del args[i : i + 2]
            return value
        if a.startswith(name + "="):
            del args[i]
            return a.split("=", 1)[1]
    return None


class TrainGroup(click.Group):
    """Subcommands from the registry, built when asked for (``cpc --help`` imports no kind)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from cpc_models.registry import KINDS

        return list(KINDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from cpc_models.registry import KINDS

        if name in KINDS:
            return kind_command(name)
        if name in DEPRECATED:
            return deprecated_command(name)
        return None


@click.group("train", cls=TrainGroup)
def train_group() -> None:
    """Train a model and save it as a Hub model folder (weights, thresholds, metrics, card)."""
