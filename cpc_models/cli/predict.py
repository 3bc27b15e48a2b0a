"""``cpc predict``: one abstract on the command line, or a batch run (``--input`` a file, folder or glob of
parquet/CSV shards, ``--output`` a file or a folder, ``--engine local|ray``: see ``cpc_models.predict.corpus``)."""

from __future__ import annotations

import json

import click

from cpc_models.predict.job import ENGINES
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
@click.option(
    "--input",
    "input_path",
    default=None,
    help="A .csv/.parquet file, a folder (searched recursively) or a glob of them, with an 'abstract' column.",
)
@click.option(
    "--output", "output_path", default=None, help="A .csv/.parquet file for one input, or a folder (one per input)."
)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="At most this many codes per text.")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="One threshold for all codes (default: the tuned ones).",
)
@click.option(
    "--resume", is_flag=True, help="Keep the complete shards of an earlier run into --output; write the rest."
)
@click.option("--overwrite", is_flag=True, help="Delete an earlier run's output in --output and start again.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one TEXT).")
@click.option(
    "--explain", is_flag=True, help="Per code, the input terms and the training patents behind it (one TEXT)."
)
@click.option(
    "--neighbours",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    help="Similar training patents to list (one TEXT).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="Where --input is classified: this process, or a Ray cluster.",
)
@click.option("--address", default=None, help="Ray cluster to join (auto, ray://host:10001); default: start one here.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Ray actors, each with its own model. [the cluster's CPUs]",
)
@click.option(
    "--batch-size",
    "--chunk-size",
    "batch_size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="Rows per model call (--input).",
)
@click.option(
    "--id-columns",
    default=None,
    help="Comma-separated input columns kept beside the predictions (--input). [all of them]",
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
    """Predict CPC codes for TEXT (an abstract, title first if you have it), or for every row of --input into
    --output (a file, or a folder with one output per input shard; --engine local|ray).

    An output appears under its final name only when complete; an earlier run's output is kept with --resume
    (complete shards skipped) or replaced with --overwrite. CSV cells a spreadsheet would run as a formula
    (starting with = + - @, tab or CR) get a leading single quote (OWASP's advice on CSV injection).
    """
    from cpc_models.predict.predictor import CpcPredictor
    from cpc_models.settings import default_model_dir

    if bool(text) == bool(input_path):
        raise click.UsageError("give either TEXT or --input (with --output)")
    if input_path and not output_path:
        raise click.UsageError("--input needs --output")
    refuse_options(ctx, input_path, engine)
    model = str(model_dir or default_model_dir())
    if input_path:
        from cpc_models.predict.corpus import predict_corpus
        from cpc_models.predict.job import CorpusJob

        job = CorpusJob(
            input=input_path,
            output=output_path,
            model=model,
            backend=backend,
            revision=revision,
            engine=engine,
            address=address,
            workers=workers,
            batch_size=batch_size,
            id_columns=[c.strip() for c in id_columns.split(",") if c.strip()] if id_columns else None,
            top_k=top_k,
            threshold=threshold,
            resume=resume,
            overwrite=overwrite,
            progress=not ctx.obj.get("quiet"),
        )
        click.echo(predict_corpus(job).summary(output_path), err=True)
        return
    predictor = CpcPredictor.from_pretrained(model, backend=backend, revision=revision)
    prediction = predictor.predict([text], top_k=top_k, threshold=threshold, explain=explain, neighbours=neighbours)[0]
    if as_json:
        click.echo(json.dumps(prediction.to_dict(), indent=2))
        return
    if prediction.reason:
        raise click.UsageError(f"no prediction: {prediction.reason}")
    from cpc_models.cli.show import show_prediction

    show_prediction(prediction)


TEXT_ONLY = ("as_json", "explain", "neighbours")
BATCH_ONLY = ("output_path", "resume", "overwrite", "engine", "batch_size", "id_columns", "address", "workers")
RAY_ONLY = ("address", "workers")


def refuse_options(ctx, input_path, engine) -> None:
    """An option given for another mode is refused in one line naming the mode, never silently ignored."""
    from click.core import ParameterSource

    given = [
        p
        for p in ctx.command.params
        if ctx.get_parameter_source(p.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    ]
    for param in given:
        name = "/".join(param.opts)
        if input_path and param.name in TEXT_ONLY:
            raise click.UsageError(f"{name} applies to one TEXT, not to a batch run (--input)")
        if not input_path and param.name in BATCH_ONLY:
            raise click.UsageError(f"{name} applies to a batch run (--input), not to one TEXT")
        if input_path and engine != "ray" and param.name in RAY_ONLY:
            raise click.UsageError(f"{name} applies to --engine ray, not to the local engine")
