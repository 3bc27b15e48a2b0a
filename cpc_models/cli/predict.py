"""``cpc predict``: one abstract on the command line, or a CSV file in chunks."""

from __future__ import annotations

import json

import click


@click.command("predict")
@click.argument("text", required=False)
@click.option("--model", "model_dir", default=None, help="Model folder (default: the committed default model).")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "onnx", "torch", "native"]))
@click.option("--input", "input_path", default=None, help="CSV with an 'abstract' column (and optional 'title').")
@click.option("--output", "output_path", default=None, help="CSV to write (with --input).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="At most this many codes per text.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="One threshold for all codes (default: the tuned ones).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=256, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted --input run from its last complete chunk.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --output (or the leftovers of an interrupted run).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--explain", is_flag=True, help="Per code, the input terms and the training patents behind it.")
@click.option("--neighbours", type=click.IntRange(min=0), default=5, show_default=True, help="Similar training patents to list.")
@click.pass_context
def predict_command(ctx, text, model_dir, backend, input_path, output_path, top_k, threshold, chunk_size, resume, overwrite,
                    as_json, explain, neighbours) -> None:
    """Predict CPC codes for TEXT (an abstract, title first if you have it) or for a CSV (--input/--output).

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
    predictor = CpcPredictor.from_pretrained(model_dir or default_model_dir(), backend=backend)
    if input_path:
        rows = predict_csv(predictor, input_path, output_path, chunk_size, top_k, threshold, progress=not ctx.obj.get("quiet"),
                           resume=resume, overwrite=overwrite)
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
