"""``cpc data refresh``: options -> a RefreshConfig -> ``refresh_dataset``."""

from __future__ import annotations

import json

import click

from cpc_dataset.scrape.cli import date_options, echo_search_summary


@click.command("refresh")
@click.argument("queries_file", required=False, type=click.Path(dir_okay=False))
@click.option("--out", required=True, help="Dataset folder to (re)build.")
@click.option(
    "--raw", default="raw", show_default=True, help="Raw folder: exports, the raw CSV of pages, what resume reads."
)
@click.option(
    "--base-url", default="https://patents.google.com", show_default=True, help="Google Patents (or a copy of it)."
)
@date_options
@click.option(
    "--max-rate",
    type=float,
    default=2.0,
    show_default=True,
    help="At most this many requests (exports, pages) per second.",
)
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Pages fetched at once. [8]")
@click.option("--timeout", default=60.0, show_default=True, type=float, help="Seconds per export or page.")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(min=0), help="Tries after the first.")
@click.option("--backoff", default=1.0, show_default=True, type=float, help="Seconds before the first retry; doubles.")
@click.option(
    "--min-label-freq", type=float, default=None, help="As `cpc data build` (default: what the dataset was built with)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def refresh_command(ctx: click.Context, queries_file: str | None, as_json: bool, **options) -> None:
    """Search the queries of QUERIES_FILE (one per line; default: the corpus' 20), scrape the new pages, rebuild.

    Resumable: run the same command again after a kill. A later run fetches only patents it does not have yet and
    reports what changed (new patents, new labels, split sizes).
    """
    from cpc_dataset.queries import QUERIES
    from cpc_dataset.refresh import RefreshConfig, RefreshIncomplete, refresh_dataset
    from cpc_dataset.scrape.search_config import read_queries

    queries = read_queries(queries_file) if queries_file else list(QUERIES)
    report = refresh_dataset(RefreshConfig(queries, progress=not ctx.obj.get("quiet"), **options))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        echo_refresh_report(report)
    if report.failed:
        raise RefreshIncomplete(" ".join(report.notes))


def echo_refresh_report(report) -> None:
    echo_search_summary(report.search)
    if report.pages:
        p = report.pages
        click.echo(
            f"pages: {p['done']} new, {p['skipped']} had already, {p['failed']} failed "
            f"({p['pages_per_second']} pages/s) -> {p['out']}"
        )
        for reason, n in sorted(p["failed_by_reason"].items()):
            click.echo(f"  failed: {reason}: {n} (tried again by the next run)")
    if not report.built:
        return
    c = report.changes()
    docs = c["documents"]
    click.echo(f"dataset: {docs['before']} -> {docs['after']} documents")
    click.echo(
        f"  labels: {c['labels']['before']} -> {c['labels']['after']}"
        f" (new: {', '.join(c['new_labels']) or 'none'}; dropped: {', '.join(c['dropped_labels']) or 'none'})"
    )
    click.echo("  splits: " + ", ".join(f"{s} {v['before']} -> {v['after']}" for s, v in c["split_sizes"].items()))
