"""The ``cpc`` command. Subcommands import their heavy libraries only when they run."""

from __future__ import annotations

import logging
import sys

import click

from cpc_dataset.cli import data_group
from cpc_dataset.errors import CpcError
from cpc_models.export_cli import export_command
from cpc_models.predict_cli import predict_command
from cpc_models.evaluate_cli import evaluate_command
from cpc_models.train_cli import train_group
from spaces.cli import serve_command, space_command, webapp_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
@click.version_option(package_name="patent-cpc")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """patent-cpc: predict CPC codes from patent abstracts."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)["quiet"] = quiet


cli.add_command(data_group)
cli.add_command(evaluate_command)
cli.add_command(predict_command)
cli.add_command(export_command)
cli.add_command(train_group)
cli.add_command(space_command)
cli.add_command(serve_command)
cli.add_command(webapp_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line and exit 1, never a traceback."""
    try:
        cli.main(args=argv, prog_name="cpc", standalone_mode=False)
    except CpcError as exc:
        click.echo(str(exc), err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
