"""``cpc train ...``: one subcommand per model type; each turns its options into a config and calls one function."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("train")
def train_group() -> None:
    """Train a model and save it as a Hub model folder (weights, thresholds, metrics, card)."""


def _given(options: dict) -> dict:
    return {k: v for k, v in options.items() if v is not None}


@train_group.command("transformer")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A train_config.json to start from; the options below override it.")
@click.option("--base", help="Hub id, local checkpoint folder, or a short name (minilm-l6).")
@click.option("--dataset", type=click.Path(file_okay=False), help="Dataset folder (cpc data build).")
@click.option("--out", type=click.Path(file_okay=False), help="Model folder to write.")
@click.option("--max-length", type=int, help="Tokens per text (title + abstract). [256]")
@click.option("--batch-size", type=int, help="[32]")
@click.option("--epochs-frozen", type=int, help="Stage 0 epochs: the head only. [1]")
@click.option("--epochs-unfrozen", type=int, help="Stage 1 epochs: all layers, discriminative learning rates. [4]")
@click.option("--lr", type=float, help="Stage 0 peak learning rate. [1e-3]")
@click.option("--lr-unfrozen", type=float, help="Stage 1 peak learning rate (head). [5e-5]")
@click.option("--lr-mult", type=float, help="Stage 1: the embeddings get lr-unfrozen / lr-mult. [100]")
@click.option("--weight-decay", type=float, help="[0.01]")
@click.option("--lr-find/--no-lr-find", default=None, help="Use fastai's lr_find suggestion at each stage.")
@click.option("--monitor", type=click.Choice(["micro_f1_tuned", "micro_f1", "valid_loss"]),
              help="Validation value that picks the best epoch. [micro_f1_tuned]")
@click.option("--mixed-precision", type=click.Choice(["auto", "fp16", "bf16", "no"]), help="On CUDA. [auto: fp16]")
@click.option("--fp16-weights/--fp32-weights", default=None, help="Save the weights in float16. [fp32]")
@click.option("--seed", type=int, help="[42]")
@click.option("--max-train-docs", type=int, help="Smoke runs: train on a random subset.")
@click.option("--max-valid-docs", type=int, help="Smoke runs: validate each epoch on a subset.")
@click.option("--save-predictions/--no-save-predictions", default=None, help="Keep validation/test scores (npy). [yes]")
@click.option("--device", help="cuda or cpu. [cuda if available]")
@click.option("--prior-bias/--no-prior-bias", default=None, help="Start the output biases at the labels' log-odds. [yes]")
@click.option("--progress/--no-progress", default=None, help="Progress bars (else one printed row per epoch). [yes]")
@click.option("--description", help="A sentence for the model card.")
@click.pass_context
def transformer_command(ctx: click.Context, config_file: Path | None, **options) -> None:
    """Fine-tune a transformer with fastai: head first, then all layers; best epoch by validation micro-F1."""
    from cpc_models.transformer import TransformerTrainConfig, train_transformer

    start = json.loads(config_file.read_text()) if config_file else {}
    config = TransformerTrainConfig.from_dict({**start, **_given(options)})
    if (ctx.find_root().obj or {}).get("quiet"):
        config.progress = False
    result = train_transformer(config)
    test = result["metrics"]
    click.echo(f"{config.out}: test micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}, P@1 {test['precision_at_1']:.3f}")
