"""``cpc evaluate``: options -> ``cpc_models.scoring.evaluate.evaluate``; a table or one JSON object."""

from __future__ import annotations

import json
import math

import click


def _json_safe(result: dict) -> dict:
    """NaN (e.g. LRAP with no labelled document) is not JSON: write null."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}


@click.command("evaluate")
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model folder or Hub repo id OWNER/NAME. [default: $CPC_MODEL or the default model]",
)
@click.option("--revision", default=None, help="Branch, tag or commit of a Hub model (default: main).")
@click.option(
    "--data",
    "data_path",
    required=True,
    help="Dataset folder or Hub dataset repo id (its test split is scored), or raw scrape CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--all-docs", is_flag=True, help="Also score documents with no code in the model's labels.")
@click.option("--report", "report_dir", default=None, help="Write plots and report.md into this folder.")
@click.pass_context
def evaluate_command(
    ctx: click.Context,
    model_dir: str | None,
    revision: str | None,
    data_path: str,
    as_json: bool,
    all_docs: bool,
    report_dir: str | None,
) -> None:
    """Score a model on a test split or a raw CSV.

    Uses the thresholds saved beside the model; by default only documents with a code among its labels.
    """
    from cpc_dataset.hub import is_repo_id, resolve_dataset
    from cpc_models.hub import resolve_model
    from cpc_models.scoring.evaluate import evaluate
    from cpc_models.scoring.report import format_table, level_table
    from cpc_models.settings import default_model_dir

    quiet = (ctx.obj or {}).get("quiet", False)
    model_dir = resolve_model(model_dir or default_model_dir(), revision)
    data_path = resolve_dataset(data_path) if is_repo_id(data_path) else data_path
    result = evaluate(
        model_dir, data_path, all_docs=all_docs, report_dir=report_dir, progress=not quiet and not as_json
    )
    if as_json:
        click.echo(json.dumps(_json_safe(result), indent=2))
        return
    skipped = f", {result['rows_skipped']} raw rows skipped" if result["rows_skipped"] else ""
    click.echo(
        f"{result['model']} on {result['data']} ({result['source']}): {result['n_docs']} of {result['n_docs_read']} documents scored"
        f"{'' if all_docs else ' (with a code among the labels)'}{skipped}; {result['n_labels']} labels, thresholds {result['thresholds_mode']}"
    )
    click.echo(format_table(*level_table(result)))
    if result.get("report"):
        click.echo(f"Report written to {result['report']}")
