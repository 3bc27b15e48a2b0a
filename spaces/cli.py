"""The root ``cpc`` command, and ``cpc space``, ``cpc serve``, ``cpc webapp``.

The root lives here, in the top layer (serving), so that no lower layer imports a higher one:
``cpc_dataset.cli`` and ``cpc_models.cli`` contribute their groups; each subcommand imports its heavy
libraries only when it runs.
"""

from __future__ import annotations

import logging
import sys

import click

from cpc_dataset.errors import CpcError
from cpc_models.registry import BACKENDS

_model = click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model folder or Hub repo id OWNER/NAME. [CPC_MODEL_ID, CPC_MODEL or the default model]",
)
_backend = click.option("--backend", default=None, type=click.Choice(BACKENDS), help="[CPC_BACKEND or auto]")


def _host(service: str, variables: str):
    """``--host`` of one service: each binds its own address (``spaces.settings``), 127.0.0.1 by default."""
    return click.option("--host", f"{service}_host", default=None, help=f"Address to bind. [{variables} or 127.0.0.1]")


_revision = click.option(
    "--revision",
    "model_revision",
    default=None,
    help="Branch, tag or commit of a Hub model. [CPC_MODEL_REVISION or main]",
)


@click.command("space")
@_model
@_backend
@_host("space", "CPC_SPACE_HOST, GRADIO_SERVER_NAME")
@click.option("--port", "space_port", type=int, default=None, help="[CPC_PORT or 7860]")
@_revision
@click.option(
    "--dataset", "dataset_dir", default=None, help="Dataset folder or Hub repo id for the examples. [CPC_DATASET]"
)
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=None, help="Predictions run at once. [CPC_CONCURRENCY or 2]"
)
@click.option(
    "--feedback-dir",
    default=None,
    help="Folder where the 'Correct these codes' control saves corrections. [CPC_FEEDBACK_DIR; unset: no control]",
)
def space_command(**options) -> None:
    """Launch the Gradio Space (abstract box, batch CSV tab, /predict API) on this machine."""
    from cpc_models.extras import require

    require(("gradio",), "space", "cpc space")
    from spaces.app import main
    from spaces.settings import load_settings

    main(load_settings(**options))


@click.command("serve")
@_model
@_backend
@_host("serve", "CPC_SERVE_HOST")
@click.option("--port", "serve_port", type=int, default=None, help="[CPC_SERVE_PORT or 8000]")
@_revision
@click.option(
    "--max-batch", type=click.IntRange(min=1), default=None, help="Most texts per request and per model call. [32]"
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes, forked after the model is loaded. [CPC_WORKERS or 2; 1 on a one-core machine]",
)
def serve_command(**options) -> None:
    """Serve the model with the Hugging Face Inference API contract (POST /, GET /health)."""
    from cpc_models.extras import require

    require(("fastapi", "uvicorn", "multipart"), "serve", "cpc serve")
    from spaces.server import run_server
    from spaces.settings import load_settings

    run_server(load_settings(**options))


@click.command("webapp")
@_host("webapp", "CPC_WEBAPP_HOST")
@click.option("--port", "webapp_port", type=int, default=None, help="[CPC_WEBAPP_PORT or 5000]")
@click.option("--backend-url", default=None, help="Server or Space to call. [CPC_BACKEND_URL or http://127.0.0.1:8000]")
@click.option(
    "--backend-kind", default=None, type=click.Choice(["inference", "space"]), help="[CPC_BACKEND_KIND or inference]"
)
def webapp_command(**options) -> None:
    """Run the small web app (textarea, codes as bars) against a running server or Space."""
    from cpc_models.extras import require

    require(("flask", "httpx"), "serve", "cpc webapp")
    from spaces.settings import load_settings
    from spaces.webapp import run_webapp

    run_webapp(load_settings(needs_model=False, **options))


_repo_id = click.option("--repo-id", required=True, help="Hub repo OWNER/NAME (created if needed).")
_private = click.option(
    "--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility)."
)
_branch = click.option("--revision", default=None, help="Branch to push to (created from main if needed). [main]")


@click.group("push")
def push_group() -> None:
    """Push the dataset, a model or the Space to the Hugging Face Hub (HF_ENDPOINT; token from HF_TOKEN or `hf auth login`)."""


def _report(result) -> None:
    state = (
        f"commit {result.commit[:12]}"
        if result.changed
        else f"unchanged, no new commit (head {str(result.commit)[:12]})"
    )
    click.echo(f"{result.repo_type} {result.repo_id}@{result.revision}: {state}")


@push_group.command("dataset")
@click.argument("folder", type=click.Path(file_okay=False))
@_repo_id
@_private
@_branch
def push_dataset_command(folder: str, repo_id: str, private: bool, revision: str | None) -> None:
    """Push a dataset folder (cpc data build): card, parquet splits, labels.json, plots."""
    from cpc_dataset.hub import push_dataset

    _report(push_dataset(folder, repo_id, private=private, revision=revision))


@push_group.command("model")
@click.argument("folder", type=click.Path(file_okay=False))
@_repo_id
@click.option(
    "--variant",
    type=click.Choice(["all", "fp32", "int8"]),
    default="all",
    show_default=True,
    help="fp32: without the int8 file; int8: only the int8 ONNX file and what reads it (the quantized twin).",
)
@_private
@_branch
def push_model_command(folder: str, repo_id: str, variant: str, private: bool, revision: str | None) -> None:
    """Push a model folder: weights, tokenizer, onnx/, thresholds, metrics, card (not predictions/ or other leftovers)."""
    from cpc_models.hub import push_model

    _report(push_model(folder, repo_id, private=private, revision=revision, variant=variant))


@push_group.command("space")
@click.argument("folder", type=click.Path(file_okay=False), default="spaces")
@_repo_id
@click.option("--model", "model_id", required=True, help="Model repo OWNER/NAME the Space serves (push it first).")
@click.option("--model-revision", default=None, help="Branch, tag or commit of that model. [main]")
@_private
@_branch
def push_space_command(
    folder: str, repo_id: str, model_id: str, model_revision: str | None, private: bool, revision: str | None
) -> None:
    """Push the Gradio Space (FOLDER: README.md, app.py, requirements.txt; default spaces/) with the project's code."""
    from spaces.publish import push_space

    _report(push_space(folder, repo_id, model_id, model_revision, private=private, revision=revision))


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


def _add_commands() -> None:
    from cpc_dataset.cli import data_group
    from cpc_dataset.scrape.cli import scrape_group
    from cpc_models.cli import MODEL_COMMANDS

    for command in (
        data_group,
        scrape_group,
        *MODEL_COMMANDS,
        space_command,
        serve_command,
        webapp_command,
        push_group,
    ):
        cli.add_command(command)


_add_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: the exit status of the command that ran (``ctx.exit(n)`` gives n); user errors print one line
    and exit 1, never a traceback."""
    try:
        # without standalone mode click returns what ended the command: ctx.exit's code, else the callback's value
        status = cli.main(args=argv, prog_name="cpc", standalone_mode=False)
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
    return status if type(status) is int else 0


if __name__ == "__main__":
    sys.exit(main())
