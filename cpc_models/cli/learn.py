"""``cpc learn``: options -> ``cpc_models.learn.learn.learn_model``; one summary line per bank."""

from __future__ import annotations

import click


@click.command("learn")
@click.option("--model", "model_dir", default=None, help="Model folder or Hub repo id OWNER/NAME. [the default model]")
@click.option("--revision", default=None, help="Branch, tag or commit of a Hub model. [main]")
@click.option(
    "--data",
    "source",
    default=None,
    help="Labelled patents: raw CSV (or a folder of them), dataset folder or Hub repo id, parquet file, or a "
    "feedback folder (what the Space saves with CPC_FEEDBACK_DIR).",
)
@click.option("--split", "splits", multiple=True, help="Dataset split to learn (repeat). [every split]")
@click.option("--out", default=None, help="New model folder to write (the base folder is left untouched).")
@click.option(
    "--in-place", is_flag=True, help="Change the model folder itself; the files changed are kept in learn_previous/."
)
@click.option(
    "--new-labels",
    is_flag=True,
    help="Codes outside the model's labels become labels the kNN vote may predict (open vocabulary).",
)
@click.option(
    "--new-label-threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Threshold of those new labels (on the calibrated kNN vote). [0.7; see benchmarks/results/learn.md]",
)
@click.option("--undo", is_flag=True, help="Put back what the last --in-place learn changed in --model.")
def learn_command(
    model_dir: str | None,
    revision: str | None,
    source: str | None,
    splits: tuple[str, ...],
    out: str | None,
    in_place: bool,
    new_labels: bool,
    new_label_threshold: float | None,
    undo: bool,
) -> None:
    """Add labelled patents to the model's neighbour banks, without retraining.

    Patents with the same publication number or the same normalised text replace the older row. Codes outside
    the model's labels are counted (the patents still show as similar patents, with all their codes).
    """
    from cpc_dataset.errors import InputError
    from cpc_dataset.hub import is_repo_id
    from cpc_models.hub import resolve_model
    from cpc_models.learn.learn import NEW_LABEL_THRESHOLD, learn_model, undo_learn
    from cpc_models.learn.sources import read_labelled
    from cpc_models.settings import default_model_dir

    if (in_place or undo) and model_dir and is_repo_id(model_dir):
        raise InputError("--in-place and --undo change a local model folder, not a Hub repo id")
    model = resolve_model(model_dir or default_model_dir(), revision)
    if undo:
        names = undo_learn(model)
        click.echo(f"{model}: {len(names)} files put back as they were before the last learn")
        return
    if not source:
        raise InputError("give --data: the labelled patents to learn")
    data = read_labelled(source, list(splits) or None)
    threshold = NEW_LABEL_THRESHOLD if new_label_threshold is None else new_label_threshold
    record = learn_model(model, data, out=out, in_place=in_place, new_labels=new_labels, new_label_threshold=threshold)
    skipped = sum(record["rows_skipped"].values())
    click.echo(
        f"{out or model}: learned {record['count']} patents from {record['source_kind']} {source} "
        f"({record['duplicates_in_source']} duplicates in the source, {skipped} rows skipped) in {record['seconds']} s"
    )
    outside = record["codes_outside_labels"]
    added = record.get("new_labels")
    if added:
        click.echo(
            f"{added['added']} new labels; "
            + (
                f"the model predicts them at threshold {added['threshold']}"
                if added["predicted_by_the_model"]
                else "only the neighbour index knows them (the model has no kNN member to vote for them)"
            )
        )
    elif outside["codes"]:
        click.echo(
            f"{outside['codes']} codes ({outside['distinct']} distinct) are outside the model's labels; "
            f"{record['without_a_model_code']} patents have none of its codes (shown as similar patents, never predicted)"
        )
    for bank in record["banks"]:
        click.echo(
            f"  {bank['path']} ({bank['kind']}): {bank['rows_before']} rows, {bank['rows_replaced']} replaced, "
            f"now {bank['rows_after']}"
        )
