"""``cpc space``, ``cpc serve`` and ``cpc webapp``: options become settings, then one call each."""

from __future__ import annotations

import click

_model = click.option("--model", "model_dir", default=None, help="Model folder. [CPC_MODEL or hub/models/cpc-default]")
_backend = click.option("--backend", default=None, type=click.Choice(["auto", "onnx", "torch", "native"]), help="[CPC_BACKEND or auto]")
_host = click.option("--host", default=None, help="Address to bind. [CPC_HOST or 127.0.0.1]")


@click.command("space")
@_model
@_backend
@_host
@click.option("--port", "space_port", type=int, default=None, help="[CPC_PORT or 7860]")
@click.option("--dataset", "dataset_dir", default=None, help="Dataset folder for the examples. [CPC_DATASET]")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Predictions run at once. [CPC_CONCURRENCY or 2]")
def space_command(**options) -> None:
    """Launch the Gradio Space (abstract box, batch CSV tab, /predict API) on this machine."""
    from spaces.app import main
    from spaces.settings import load_settings

    main(load_settings(**options))


@click.command("serve")
@_model
@_backend
@_host
@click.option("--port", "serve_port", type=int, default=None, help="[CPC_SERVE_PORT or 8000]")
@click.option("--max-batch", type=click.IntRange(min=1), default=None, help="Most texts per request and per model call. [32]")
def serve_command(**options) -> None:
    """Serve the model with the Hugging Face Inference API contract (POST /, GET /health)."""
    from spaces.server import run_server
    from spaces.settings import load_settings

    run_server(load_settings(**options))


@click.command("webapp")
@_host
@click.option("--port", "webapp_port", type=int, default=None, help="[CPC_WEBAPP_PORT or 5000]")
@click.option("--backend-url", default=None, help="Server or Space to call. [CPC_BACKEND_URL or http://127.0.0.1:8000]")
@click.option("--backend-kind", default=None, type=click.Choice(["inference", "space"]), help="[CPC_BACKEND_KIND or inference]")
def webapp_command(**options) -> None:
    """Run the small web app (textarea, codes as bars) against a running server or Space."""
    from spaces.settings import load_settings
    from spaces.webapp import run_webapp

    run_webapp(load_settings(**options))
