"""``cpc data ...``: each command turns options into a config and calls one function."""

from __future__ import annotations

import json

import click


@click.group("data")
def data_group() -> None:
    """Build and publish the CPC dataset."""


@data_group.command("build")
@click.option(
    "--raw", default="../shared/data/google-patents-ai/scraped", show_default=True, help="Folder of raw scraper CSVs."
)
@click.option("--out", default="hub/datasets/patent-cpc-ai", show_default=True, help="Dataset folder to write.")
@click.option(
    "--min-label-freq",
    default=0.01,
    show_default=True,
    type=float,
    help="A code becomes a label if it is in this share (<1) or number (>=1) of training documents.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def build_command(ctx: click.Context, raw: str, out: str, min_label_freq: float, as_json: bool) -> None:
    """Raw CSVs -> Hub dataset folder (parquet, card, labels, plots)."""
    from cpc_dataset.build import BuildConfig, build_dataset

    report = build_dataset(
        BuildConfig(raw=raw, out=out, min_label_freq=min_label_freq, progress=not ctx.obj.get("quiet"))
    )
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Dataset written to {out}")
    for key, value in summary.items():
        click.echo(f"  {key.replace('_', ' ')}: {value}")


def _add_refresh() -> None:
    from cpc_dataset.refresh_cli import refresh_command

    data_group.add_command(refresh_command)


_add_refresh()
