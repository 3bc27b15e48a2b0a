"""``cpc data ...``: each command turns options into a config and calls one function."""

from __future__ import annotations

import json

import click


@click.group("data")
def data_group() -> None:
    """Build and publish the CPC dataset."""


@data_group.command("build")
@click.option(
    "--raw",
    multiple=True,
    default=["../shared/data/google-patents-ai/scraped"],
    show_default=True,
    help="Raw folder (scraper CSVs, imported parquet); repeat to merge several into one dataset.",
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
def build_command(ctx: click.Context, raw: tuple[str, ...], out: str, min_label_freq: float, as_json: bool) -> None:
    """Raw files -> Hub dataset folder (parquet, card, labels, plots)."""
    from cpc_dataset.build import BuildConfig, build_dataset

    report = build_dataset(
        BuildConfig(raw=list(raw), out=out, min_label_freq=min_label_freq, progress=not ctx.obj.get("quiet"))
    )
    summary = report.summary()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"Dataset written to {out}")
    for key, value in summary.items():
        click.echo(f"  {key.replace('_', ' ')}: {value}")


@data_group.group("import")
def import_group() -> None:
    """Bulk sources -> raw files of the one raw schema (RAW_DIR/<name>.parquet), for `cpc data build`."""


def _filter_options(command):
    options = [
        click.option("--out", required=True, help="Raw folder to write (RAW_DIR)."),
        click.option(
            "--cpc-prefix",
            multiple=True,
            help="Keep a patent if any of its codes starts with this (repeatable); it keeps all its codes.",
        ),
        click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Publication date from (YYYY-MM-DD)."),
        click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Publication date until (YYYY-MM-DD)."),
        click.option("--limit", type=int, help="Stop after this many rows written."),
        click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _filters(cpc_prefix, since, until, limit):
    from cpc_dataset.imports.writer import ImportFilters

    return ImportFilters(tuple(cpc_prefix), since and since.date(), until and until.date(), limit)


def _echo_reports(reports, as_json: bool) -> None:
    summaries = [r.summary() for r in reports]
    if as_json:
        click.echo(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
        return
    for r, s in zip(reports, summaries):
        click.echo(f"{r.out}: {s['rows_written']} rows from {s['patents_read']} patents ({s['source']})")
        for key in ("skipped", "filtered", "codes_dropped"):
            if s[key]:
                click.echo(f"  {key.replace('_', ' ')}: {s[key]}")
        click.echo(f"  code titles: {s['code_titles']}; {s['rows_per_second'] or 0} patents/s")


@import_group.command("patentsview")
@click.argument("paths", nargs=-1, required=True)
@_filter_options
def import_patentsview_command(paths, out, cpc_prefix, since, until, limit, as_json) -> None:
    """PatentsView bulk tables (g_patent, g_patent_abstract, g_cpc_current, g_cpc_title; pg_ tables), .tsv or
    .tsv.zip files or folders of them."""
    from cpc_dataset.imports.patentsview import import_patentsview

    _echo_reports(import_patentsview(list(paths), out, _filters(cpc_prefix, since, until, limit)), as_json)


@import_group.command("bigquery")
@click.argument("files", nargs=-1, required=True)
@_filter_options
@click.option("--language", default="en", show_default=True, help="Language of the title and abstract to keep.")
@click.option("--name", default="bigquery", show_default=True, help="Raw file name (RAW_DIR/NAME.parquet).")
def import_bigquery_command(files, out, cpc_prefix, since, until, limit, as_json, language, name) -> None:
    """Exports of patents-public-data.patents.publications: JSONL, JSONL.gz or parquet files (or globs)."""
    from cpc_dataset.imports.bigquery import import_bigquery

    report = import_bigquery(list(files), out, _filters(cpc_prefix, since, until, limit), language, name)
    _echo_reports([report], as_json)


@import_group.command("table")
@click.argument("files", nargs=-1, required=True)
@_filter_options
@click.option(
    "--column",
    "columns",
    multiple=True,
    required=True,
    help="FIELD=COLUMN: publication_number, abstract, codes (required); title, family_id, country_code, dates.",
)
@click.option("--codes-separator", help="Separator of codes given as text [default: any of , ; |].")
@click.option("--name", default="table", show_default=True, help="Raw file name (RAW_DIR/NAME.parquet).")
def import_table_command(files, out, cpc_prefix, since, until, limit, as_json, columns, codes_separator, name) -> None:
    """Any CSV, TSV, parquet or JSONL table, its columns mapped with --column."""
    from cpc_dataset.imports.table import import_table

    filters = _filters(cpc_prefix, since, until, limit)
    _echo_reports([import_table(list(files), out, list(columns), filters, codes_separator, name)], as_json)


def _add_refresh() -> None:
    from cpc_dataset.refresh_cli import refresh_command

    data_group.add_command(refresh_command)


_add_refresh()
