"""Every registered model kind trains on a tiny dataset, saves, loads and predicts — also from several threads.

Adding a kind is one module and one line in ``cpc_models.registry.KINDS``; this file trains it with its defaults
(plus the tiny settings below, where a kind needs them to be fast), so a kind that cannot do the round trip fails here.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastai")

from cpc_models import CpcPredictor  # noqa: E402
from cpc_models.data import load_split  # noqa: E402
from cpc_models.registry import KINDS, kind_of  # noqa: E402
from tests.fixtures.tiny_models import assert_metrics_reproduce, tiny_encoder_folder  # noqa: E402
from tests.unit.test_linear import make_tiny_dataset  # noqa: E402


def tiny_settings(kind: str, encoder: Path, members: list[Path]) -> dict:
    """What a kind needs beyond its defaults to train in seconds on 120 documents."""
    return {
        "tfidf-svm": {"min_df": 1, "C": 1.0},
        "tfidf-knn": {"min_df": 1, "k": 5},
        "minilm-knn": {"base": str(encoder), "max_length": 64, "k": 5},
        "minilm-logreg": {"base": str(encoder), "max_length": 64},
        "transformer": {
            "base": str(encoder),
            "max_length": 64,
            "batch_size": 16,
            "epochs_frozen": 1,
            "epochs_unfrozen": 1,
            "lr": 1e-2,
            "lr_unfrozen": 3e-3,
            "device": "cpu",
            "progress": False,
        },
        "ensemble": {"members": [str(m) for m in members]},
    }.get(kind, {})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """One folder per registered kind (the ensemble last: its members are the others)."""
    root = tmp_path_factory.mktemp("kinds")
    dataset = make_tiny_dataset(root / "dataset", sizes=(120, 40, 40))
    encoder = tiny_encoder_folder(root / "encoder", load_split(dataset, "train").texts)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folders: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CPC_CACHE", str(root / "cache"))
        for name in sorted(KINDS, key=lambda k: k == "ensemble"):
            kind = KINDS[name]
            config_class = kind.config_class()
            out = root / "models" / name
            members = [folders[k] for k in ("tfidf-svm", "tfidf-knn", "minilm-knn") if k in folders]
            config = config_class.from_dict(
                {"dataset_dir": str(dataset), "output_dir": str(out), **tiny_settings(name, encoder, members)}
            )
            metrics = kind.train(config)
            assert_metrics_reproduce(out, dataset, metrics)
            folders[name] = out
    torch.set_num_threads(threads)
    folders["_dataset"] = dataset
    return folders


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_trains_saves_loads_and_predicts(trained, kind):
    out, dataset = trained[kind], trained["_dataset"]
    assert kind_of(out) == kind
    assert json.loads((out / "train_config.json").read_text())["kind"] == kind
    # the saved config reads back as the kind's config (what `cpc train <kind> --config` does)
    config = KINDS[kind].config_class().from_dict(json.loads((out / "train_config.json").read_text()))
    assert config.output_dir == str(out)

    test = load_split(dataset, "test")
    predictor = CpcPredictor.from_pretrained(out)
    assert predictor.labels == test.vocabulary and predictor.backend in KINDS[kind].backends
    scores = predictor.scorer.predict_proba(test.texts)  # raw scores, as saved (the predictor calibrates them)
    if kind != "ensemble":  # an ensemble keeps no scores (never a member): its metrics are recomputed live instead
        saved = np.load(out / "predictions" / "test.npy").astype(np.float32)
        np.testing.assert_allclose(scores, saved, atol=2e-3)  # the loaded model scores as the trained one did
    predictions = predictor.predict(test.texts[:5])
    assert all(p.codes and not p.reason for p in predictions)
    assert predictor.predict(["   "])[0].reason == "empty text"
    # every kind gives similar training patents: its own kNN index, or the TF-IDF one shipped in its folder
    train_numbers = set(load_split(dataset, "train").publication_numbers)
    assert all(p.neighbours and {n["publication_number"] for n in p.neighbours} <= train_numbers for p in predictions)


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_has_the_capabilities_it_declares(trained, kind):
    """What other modules ask of a kind (``Kind.neighbour_bank``, ``Kind.stock_pipeline``) is true of its folders."""
    from cpc_models.files import TORCH_WEIGHTS_FILES
    from cpc_models.predict.evidence import find_index
    from cpc_models.registry import load_scorer

    out = trained[kind]
    # a kind that may hold a neighbour bank does here (the ensemble has a tfidf-knn member); the others never do
    assert (find_index(load_scorer(out), None) is not None) == KINDS[kind].neighbour_bank
    if KINDS[kind].stock_pipeline:
        from transformers import pipeline

        scores = pipeline("text-classification", model=str(out), top_k=None)(["a neural network"])[0]
        assert sorted(s["label"] for s in scores) == sorted(CpcPredictor.from_pretrained(out).labels)
    else:
        assert not any((out / name).exists() for name in TORCH_WEIGHTS_FILES)


@pytest.mark.parametrize("kind", list(KINDS))
def test_concurrent_predict_equals_serial(trained, kind):
    """A freshly loaded predictor shared by 8 threads (lazy loads race on the first call) gives the serial results."""
    texts = load_split(trained["_dataset"], "test").texts[:40]
    batches = [texts[i : i + 1 + i % 3] for i in range(0, len(texts), 2)]
    serial = [[p.to_dict() for p in CpcPredictor.from_pretrained(trained[kind]).predict(b)] for b in batches]
    shared = CpcPredictor.from_pretrained(trained[kind])
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(lambda b: [p.to_dict() for p in shared.predict(b)], batches))
    assert parallel == serial


@pytest.mark.parametrize("kind", ["minilm-knn", "minilm-logreg"])
def test_the_lazy_encoder_loads_once_under_concurrent_first_calls(trained, kind, monkeypatch):
    import threading

    from cpc_models.kinds import minilm

    loads = []
    real = minilm.SentenceEncoder.__init__

    def counting(self, *args, **kwargs):
        loads.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(minilm.SentenceEncoder, "__init__", counting)
    scorer = CpcPredictor.from_pretrained(trained[kind]).scorer
    start = threading.Barrier(6)

    def first_call(_):
        start.wait()
        return scorer.predict_proba(["A neural network is trained on images."])

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(first_call, range(6)))
    assert len(loads) == 1
    assert all(np.array_equal(r, results[0]) for r in results)


def test_unknown_kind_and_backend_are_one_line(trained, tmp_path):
    from cpc_dataset.errors import InputError, MisconfiguredError
    from cpc_models.registry import get_kind, load_scorer

    with pytest.raises(InputError, match="unknown model kind 'svm'"):
        get_kind("svm")
    with pytest.raises(MisconfiguredError, match="has no 'onnx' backend"):
        load_scorer(trained["tfidf-svm"], backend="onnx")
    with pytest.raises(InputError, match="unknown backend"):
        load_scorer(trained["tfidf-svm"], backend="gpu")


def test_an_unreadable_config_file_is_one_line(tmp_path, capsys):
    from spaces.cli import main

    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "list.json").write_text("[1, 2]")
    for name, message in (("bad.json", "cannot read the config"), ("list.json", "a config is one JSON object")):
        assert main(["train", "tfidf-svm", "--config", str(tmp_path / name)]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("[1, 2]", "config.json is not a JSON object"),
        ('{"cpc_model_type": ["tfidf-svm"], "id2label": {"0": "G06N3/08"}}', "unknown model kind ['tfidf-svm']"),
        ('{"cpc_model_type": "tfidf-knn", "id2label": {"0": "G06N3/08"}}', "an incomplete tfidf-knn model folder"),
        ('{"cpc_model_type": "ensemble", "id2label": {"0": "G06N3/08"}}', "an incomplete ensemble model folder"),
    ],
)
def test_a_model_folder_of_the_wrong_shape_is_one_line(tmp_path, capsys, config, message):
    from spaces.cli import main

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(config)
    assert main(["predict", "--model", str(tmp_path / "model"), "a neural network"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_missing_library_is_one_line_naming_the_extra(trained, monkeypatch):
    """Checked before any import: the loader never starts, the message says what to install."""
    import importlib.util

    from cpc_dataset.errors import MisconfiguredError
    from cpc_models.registry import load_scorer
    from spaces.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a))
    with pytest.raises(MisconfiguredError) as info:
        load_scorer(trained["tfidf-knn"])
    assert (
        str(info.value)
        == "Misconfigured: a 'tfidf-knn' model (native) needs scikit-learn: pip install 'patent-cpc[space]'"
    )
    # an ensemble names what its member needs; the CLI prints that one line and exits 1
    assert main(["predict", "--model", str(trained["ensemble"]), "a neural network"]) == 1


def test_train_commands_are_generated_from_the_configs():
    """`cpc train` lists the registered kinds; each kind's options are its config's fields, defaults in the help."""
    import dataclasses

    from click.testing import CliRunner

    from spaces.cli import cli

    runner = CliRunner()
    listing = runner.invoke(cli, ["train", "--help"]).output
    assert all(f"  {name} " in listing for name in KINDS)
    assert "  linear " not in listing and "  knn " not in listing  # the old names run, but are not advertised
    for name, kind in KINDS.items():
        help_text = " ".join(runner.invoke(cli, ["train", name, "--help"], terminal_width=400).output.split())
        for f in dataclasses.fields(kind.config_class()):
            assert "--" + f.name.replace("_", "-") in help_text, (name, f.name)
        assert "--config FILE" in help_text
    svm = " ".join(runner.invoke(cli, ["train", "tfidf-svm", "--help"], terminal_width=400).output.split())
    assert "--C FLOAT Inverse regularisation strength. [default: 0.3]" in svm
