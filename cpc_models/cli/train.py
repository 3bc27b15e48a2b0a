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
    from cpc_models.kinds.transformer.train import TransformerTrainConfig, train_transformer

    start = json.loads(config_file.read_text()) if config_file else {}
    config = TransformerTrainConfig.from_dict({**start, **_given(options)})
    if (ctx.find_root().obj or {}).get("quiet"):
        config.progress = False
    result = train_transformer(config)
    test = result["metrics"]
    click.echo(f"{config.out}: test micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}, P@1 {test['precision_at_1']:.3f}")


def _echo_metrics(out: str, test: dict) -> None:
    click.echo(f"{out}: test micro-F1 {test['micro_f1']:.3f}, macro-F1 {test['macro_f1']:.3f}, P@1 {test['precision_at_1']:.3f}")


def _start(config_file: Path | None) -> dict:
    return json.loads(config_file.read_text()) if config_file else {}


_config_option = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                              help="A train_config.json to start from; the options below override it.")
_dataset_option = click.option("--dataset", "dataset_dir", type=click.Path(file_okay=False), help="Dataset folder (cpc data build).")


@train_group.command("linear")
@_config_option
@_dataset_option
@click.option("--out", "output_dir", type=click.Path(file_okay=False), help="Model folder to write. [hub/models/tfidf-linear]")
@click.option("--classifier", type=click.Choice(["svc", "logreg", "knn"]),
              help="LinearSVC or logistic regression per code, or a vote of the most TF-IDF-similar training patents. [svc]")
@click.option("--C", "C", type=float, help="Inverse regularisation strength. [0.3]")
@click.option("--min-df", type=int, help="Minimum document frequency of an n-gram. [2]")
@click.option("--max-features", type=int, help="Largest word vocabulary. [all]")
@click.option("--title-weight", type=float, help="Weight of the title's own TF-IDF block; 0 drops it. [0.5]")
@click.option("--char-ngrams", nargs=2, type=int, help="Add a char_wb n-gram block, e.g. 2 5. [none]")
@click.option("--min-weight", type=float, help="Coefficients below this are dropped when saving. [0.03]")
@click.option("--k", type=int, help="knn: neighbours that vote. [50]")
@click.option("--temperature", type=float, help="knn: a vote is exp(temperature * (similarity - best)). [10]")
def linear_command(config_file: Path | None, **options) -> None:
    """TF-IDF (words, title, optional chars) with one linear model per code, or kNN; saved without pickle."""
    from cpc_models.kinds.linear import LinearConfig, train_linear

    config = LinearConfig.from_dict({**_start(config_file), **_given(options)})
    _echo_metrics(config.output_dir, train_linear(config))


def _embedding_command(head: str, default_out: str):
    @_config_option
    @_dataset_option
    @click.option("--out", "output_dir", type=click.Path(file_okay=False), help=f"Model folder to write. [hub/models/{default_out}]")
    @click.option("--base", help="Encoder: a cpc_models.checkpoints name or a local folder. [sentence-transformers/all-MiniLM-L6-v2]")
    @click.option("--max-length", type=int, help="Tokens per text. [256]")
    @click.option("--k", type=int, help="kNN: neighbours that vote. [50]")
    @click.option("--temperature", type=float, help="kNN: a vote is exp(temperature * (similarity - best)). [10]")
    @click.option("--C", "C", type=float, help="logreg: inverse regularisation strength. [1.0]")
    def command(config_file: Path | None, **options) -> None:
        from cpc_models.kinds.embed import EmbeddingConfig, train_embedding
        from cpc_models.settings import MODELS_DIR

        start = {"output_dir": str(MODELS_DIR / default_out), **_start(config_file)}
        config = EmbeddingConfig.from_dict({**start, **_given(options), "head": head})
        _echo_metrics(config.output_dir, train_embedding(config))

    return command


train_group.command("embedding", help="Frozen MiniLM embeddings (cached) with one logistic regression per code.")(
    _embedding_command("logreg", "minilm-logreg"))
train_group.command("knn", help="Frozen MiniLM embeddings (cached): similarity-weighted vote of the nearest training patents.")(
    _embedding_command("knn", "minilm-knn"))


@train_group.command("ensemble")
@_config_option
@_dataset_option
@click.option("--out", "output_dir", type=click.Path(file_okay=False), help="Model folder to write. [hub/models/ensemble]")
@click.option("--member", "members", multiple=True, type=click.Path(exists=True, file_okay=False), help="A member model folder (repeat).")
@click.option("--weight", "weights", multiple=True, type=float, help="Fixed weights, one per --member. [tuned on validation]")
@click.option("--grid-step", type=float, help="Step of the weight search on the simplex. [0.1]")
@click.option("--copy-members/--link-members", default=None, help="Copy members into the folder, or reference them by relative path. [link]")
def ensemble_command(config_file: Path | None, members: tuple[str, ...], weights: tuple[float, ...], **options) -> None:
    """Weighted mean of model folders; weights and thresholds tuned on validation."""
    from cpc_models.kinds.ensemble import EnsembleConfig, train_ensemble

    given = _given(options)
    if members:
        given["members"] = list(members)
    if weights:
        given["weights"] = list(weights)
    config = EnsembleConfig.from_dict({**_start(config_file), **given})
    _echo_metrics(config.output_dir, train_ensemble(config))
