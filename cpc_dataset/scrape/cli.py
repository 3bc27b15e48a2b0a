"""``cpc scrape search`` and ``cpc scrape patents``: options -> a config -> one function."""

from __future__ import annotations

import json

import click


@click.group("scrape")
def scrape_group() -> None:
    """Scrape Google Patents: search exports, then patent pages (raw CSVs for `cpc data build`)."""


@scrape_group.command("search")
@click.argument("queries", nargs=-1)
@click.option("--from-file", type=click.Path(dir_okay=False), help="Queries, one per line (instead of arguments).")
@click.option("--out", default="search_results", show_default=True, help="Folder for the exports (<query-slug>.csv).")
@click.option(
    "--base-url", default="https://patents.google.com", show_default=True, help="Google Patents (or a copy of it)."
)
@click.option(
    "--timeout", default=60.0, show_default=True, type=float, help="Seconds to wait for the link and the file."
)
@click.pass_context
def search_command(
    ctx: click.Context, queries: tuple[str, ...], from_file: str | None, out: str, base_url: str, timeout: float
) -> None:
    """Save Google Patents' "Download CSV" export of each query (default: the corpus' 20 queries)."""
    from cpc_dataset.errors import InputError
    from cpc_dataset.queries import QUERIES
    from cpc_dataset.scrape.search import read_queries, search_exports

    if queries and from_file:
        raise InputError("give queries as arguments or with --from-file, not both")
    chosen = list(queries) or (read_queries(from_file) if from_file else list(QUERIES))
    summary = search_exports(chosen, out, base_url=base_url, timeout=timeout, progress=not ctx.obj.get("quiet"))
    for query, path in summary.saved.items():
        click.echo(f"{query}: {summary.results[query]} results -> {path}")
    for query, reason in summary.failed.items():
        click.echo(f"{query}: FAILED ({reason})", err=True)
    if summary.failed:
        ctx.exit(1)


@scrape_group.command("patents")
@click.option(
    "--urls",
    "urls",
    multiple=True,
    required=True,
    help="Search CSV(s), a text file of URLs, or a folder of them (repeatable).",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Raw CSV to append to (resumes if it exists)."
)
@click.option("--backend", default="http", show_default=True, type=click.Choice(["http", "browser"]))
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Pages fetched at once. [8 for http, 4 for browser]"
)
@click.option("--max-rate", type=float, default=None, help="At most this many pages per second (default: no limit).")
@click.option("--timeout", default=30.0, show_default=True, type=float, help="Seconds per page.")
@click.option(
    "--retries",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Tries after the first (timeouts, connection errors, 429, 5xx).",
)
@click.option(
    "--backoff",
    default=1.0,
    show_default=True,
    type=float,
    help="Seconds before the first retry; doubles, with jitter.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def patents_command(ctx: click.Context, as_json: bool, **options) -> None:
    """Scrape patent pages into a raw CSV (+ <out>.codes.json, <out>.failures.csv)."""
    from cpc_dataset.scrape.run import ScrapeConfig, scrape_patents

    options["urls"] = list(options["urls"])
    summary = scrape_patents(ScrapeConfig(**options, progress=not ctx.obj.get("quiet"))).as_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(
            f"{summary['out']}: {summary['done']} done, {summary['skipped']} skipped (done before), "
            f"{summary['duplicates']} duplicates, {summary['failed']} failed "
            f"in {summary['seconds']} s ({summary['pages_per_second']} pages/s)"
        )
        for reason, n in sorted(summary["failed_by_reason"].items()):
            click.echo(f"  failed: {reason}: {n}")
        if summary["failures_file"]:
            click.echo(f"  failures listed in {summary['failures_file']} (tried again by the next run)")
