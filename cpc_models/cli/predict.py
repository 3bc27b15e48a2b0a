"""``cpc predict``: one abstract on the command line, a CSV file in chunks, or a corpus of parquet/CSV shards
(``--output`` a folder, ``--engine local|ray``: see ``cpc_models.predict.corpus``)."""

from __future__ import annotations

import json

import click

from cpc_models.registry import BACKENDS


@click.command("predict")
@click.argument("text", required=False)
@click.option(
    "--model",
    "model_dir",
    default=None,
    help="Model folder or Hub repo id OWNER/NAME (default: the committed default model).",
)
@click.option("--revision", default=None, help="Branch, tag or commit of a Hub model (default: main).")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(BACKENDS))
@click.option("--input", "input_path", default=None, help="CSV with an 'abstract' column (and optional 'title').")
@click.option("--output", "output_path", default=None, help="CSV to write (with --input).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="At most this many codes per text.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="One threshold for all codes (default: the tuned ones).",
)
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted --input run from its last complete chunk.")
@click.option(
    "--overwrite", is_flag=True, help="Replace an existing --output (or the leftovers of an interrupted run)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--explain", is_flag=True, help="Per code, the input terms and the training patents behind it.")
@click.option(
    "--neighbours", type=click.IntRange(min=0), default=5, show_default=True, help="Similar training patents to list."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Classify a corpus (--input: file, folder or glob of .parquet/.csv; --output: folder, one file per input). [local]",
)
@click.option("--address", default=None, help="Ray cluster to join (auto, ray://host:10001); default: start one here.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Ray actors, each with its own model. [the cluster's CPUs]",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Rows per model call (corpus)."
)
@click.option(
    "--id-columns",
    default=None,
    help="Comma-separated input columns kept beside the codes (corpus). [all but title, abstract]",
)
@click.pass_context
def predict_command(
    ctx,
    text,
    model_dir,
    revision,
    backend,
    input_path,
    output_path,
    top_k,
    threshold,
    chunk_size,
    resume,
    overwrite,
    as_json,
    explain,
    neighbours,
    engine,
    address,
    workers,
    batch_size,
    id_columns,
) -> None:
    """Predict CPC codes for TEXT (an abstract, title first if you have it), for a CSV (--input/--output), or for a
    corpus of shards (--output a folder, --engine local|ray; a re-run skips shards already written).

    The CSV is written to OUTPUT.partial and renamed when complete; cells a spreadsheet would run as a formula
    (starting with = + - @, tab or CR) get a leading single quote (OWASP's advice on CSV injection).
    """
    from cpc_models.predict.batch import predict_csv
    from cpc_models.predict.predictor import CpcPredictor
    from cpc_models.settings import default_model_dir

    if bool(text) == bool(input_path):
        raise click.UsageError("give either TEXT or --input CSV (with --output)")
    if input_path and not output_path:
        raise click.UsageError("--input needs --output")
    if input_path and (engine or _is_corpus(input_path, output_path)):
        if overwrite:
            raise click.UsageError("a corpus run resumes by itself; to start over, give a new --output")
        _predict_corpus(
            ctx,
            input_path,
            output_path,
            model_dir or default_model_dir(),
            backend,
            engine or "local",
            address,
            workers,
            batch_size,
            id_columns,
            top_k,
            threshold,
        )
        return
    predictor = CpcPredictor.from_pretrained(model_dir or default_model_dir(), backend=backend, revision=revision)
    if input_path:
        rows = predict_csv(
            predictor,
            input_path,
            output_path,
            chunk_size,
            top_k,
            threshold,
            progress=not ctx.obj.get("quiet"),
            resume=resume,
            overwrite=overwrite,
        )
        click.echo(f"{rows} rows written to {output_path}", err=True)
        return
    prediction = predictor.predict([text], top_k=top_k, threshold=threshold, explain=explain, neighbours=neighbours)[0]
    if as_json:
        click.echo(json.dumps(prediction.to_dict(), indent=2))
        return
    if prediction.reason:
        raise click.UsageError(f"no prediction: {prediction.reason}")
    from cpc_models.cli.show import show_prediction

    show_prediction(prediction)


def _is_corpus(input_path: str, output_path: str) -> bool:
    """Anything but one CSV to one CSV (``predict_csv``): a folder or glob, parquet in or out, an output folder."""
    from pathlib import Path

    return (
        Path(output_path).is_dir()
        or output_path.endswith(("/", "\\"))
        or Path(input_path).is_dir()
        or any(ch in input_path for ch in "*?[")
        or input_path.lower().endswith(".parquet")
        or output_path.lower().endswith(".parquet")
    )


def _predict_corpus(
    ctx, input_path, output_path, model, backend, engine, address, workers, batch_size, id_columns, top_k, threshold
) -> None:
    from cpc_models.predict.corpus import CorpusJob, predict_corpus

    if (address or workers) and engine != "ray":
        raise click.UsageError("--address and --workers need --engine ray")
    job = CorpusJob(
        input=input_path,
        output=output_path,
        model=str(model),
        backend=backend,
        engine=engine,
        address=address,
        workers=workers,
        batch_size=batch_size,
        id_columns=[c.strip() for c in id_columns.split(",") if c.strip()] if id_columns else None,
        top_k=top_k,
        threshold=threshold,
        progress=not ctx.obj.get("quiet"),
    )
    report = predict_corpus(job)
    click.echo(
        f"{report.rows} rows in {len(report.written)} shards written to {output_path} ({report.rows_per_second:.0f} rows/s); "
        f"{report.skipped} shards already there",
        err=True,
    )
