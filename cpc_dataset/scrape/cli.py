"""``cpc scrape search`` and ``cpc scrape patents``: options -> a config -> one function."""

from __future__ import annotations

import json

import click


@click.group("scrape")
def scrape_group() -> None:
    """Scrape Google Patents: search exports, then patent pages (raw CSVs for `cpc data build`)."""


def date_options(command):
    """``--since``, ``--until``, ``--date-field``, ``--export-cap``: shared by ``cpc scrape search`` and ``cpc data refresh``."""
    for option in reversed(
        (
            click.option("--since", default=None, help="Only results from this day on (YYYY-MM-DD)."),
            click.option("--until", default=None, help="Only results up to this day (YYYY-MM-DD), included."),
            click.option(
                "--date-field",
                default="priority",
                show_default=True,
                type=click.Choice(["priority", "filing", "publication"]),
                help="The date --since/--until and the date slices refer to.",
            ),
            click.option(
                "--export-cap",
                "cap",
                default=1000,
                show_default=True,
                type=click.IntRange(min=2),
                help="Rows of a full export (the site's cap); a full export is cut in two by date.",
            ),
        )
    ):
        command = option(command)
    return command


@scrape_group.command("search")
@click.argument("queries", nargs=-1)
@click.option("--from-file", type=click.Path(dir_okay=False), help="Queries, one per line (instead of arguments).")
@click.option("--out", default="search_results", show_default=True, help="Folder for the exports (<query-slug>.csv).")
@click.option(
    "--backend",
    default="http",
    show_default=True,
    type=click.Choice(["http", "browser"]),
    help="http: the export endpoint, cut by date past the cap; browser: click Download CSV in Chromium (no cut).",
)
@click.option(
    "--base-url", default="https://patents.google.com", show_default=True, help="Google Patents (or a copy of it)."
)
@date_options
@click.option("--max-rate", type=float, default=2.0, show_default=True, help="At most this many exports per second.")
@click.option(
    "--timeout",
    default=60.0,
    show_default=True,
    type=float,
    help="Seconds per export (browser: for the link and file).",
)
@click.option("--retries", default=3, show_default=True, type=click.IntRange(min=0), help="Tries after the first.")
@click.option("--backoff", default=1.0, show_default=True, type=float, help="Seconds before the first retry; doubles.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def search_command(
    ctx: click.Context, queries: tuple[str, ...], from_file: str | None, as_json: bool, **options
) -> None:
    """Save Google Patents' export of each query (default: the corpus' 20 queries), past the 1,000-result cap.

    A killed search resumes from the slices it saved; a later run adds only results its file does not hold.
    """
    from cpc_dataset.errors import InputError
    from cpc_dataset.queries import QUERIES
    from cpc_dataset.scrape.search import search_exports
    from cpc_dataset.scrape.search_config import SearchConfig, read_queries

    if queries and from_file:
        raise InputError("give queries as arguments or with --from-file, not both")
    chosen = list(queries) or (read_queries(from_file) if from_file else list(QUERIES))
    summary = search_exports(SearchConfig(chosen, progress=not ctx.obj.get("quiet"), **options))
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        echo_search_summary(summary)
    if summary.failed:
        ctx.exit(1)


def echo_search_summary(summary) -> None:
    for query, r in summary.queries.items():
        if r.failed:
            click.echo(f"{query}: FAILED ({r.failed}); {r.fetched + r.reused} slices kept for the next run", err=True)
            continue
        click.echo(
            f"{query}: {r.results} results ({r.new} new) from {r.slices} slices "
            f"({r.reused} from an interrupted run), {len(r.capped)} capped -> {r.file}"
        )
        for capped in r.capped:
            click.echo(f"  capped: {capped} (results past the cap are missing)")


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
@click.option(
    "--timeout", default=30.0, show_default=True, type=float, help="Seconds per attempt at a page, all of it."
)
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
@click.option(
    "--follow-other-hosts",
    is_flag=True,
    help="Follow a redirect to another host (by default such a page fails with its reason).",
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
