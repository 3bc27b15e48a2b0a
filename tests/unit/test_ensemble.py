"""Weighted-mean ensembles of model folders (cpc_models.kinds.ensemble), with tiny TF-IDF members."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cpc_models.data import load_split  # noqa: E402
from cpc_models.kinds import tfidf_svm  # noqa: E402
from cpc_models.kinds.ensemble import Config as EnsembleConfig  # noqa: E402
from cpc_models.kinds.ensemble import combine, saved_predictions, simplex_grid, tune_weights  # noqa: E402
from cpc_models.kinds.ensemble import train as train_ensemble  # noqa: E402
from cpc_models.registry import load_scorer  # noqa: E402
from cpc_models.scoring.thresholds import best_global_micro_f1  # noqa: E402
from tests.fixtures.tiny_models import assert_metrics_reproduce  # noqa: E402
from tests.unit.test_linear import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def members(tmp_path_factory, tiny_dataset) -> list[Path]:
    root = tmp_path_factory.mktemp("models")
    configs = [
        tfidf_svm.Config(classifier="svc", C=1.0, min_df=1),
        tfidf_svm.Config(classifier="logreg", C=10.0, min_df=1, title_weight=0),
    ]
    folders = []
    for i, config in enumerate(configs):
        config.dataset_dir, config.output_dir = str(tiny_dataset), str(root / f"member{i}")
        tfidf_svm.train(config)
        folders.append(root / f"member{i}")
    return folders


def test_simplex_grid_and_combine():
    grid = simplex_grid(3, 0.25)
    assert len(grid) == 15 and all(abs(sum(w) - 1) < 1e-9 and min(w) >= 0 for w in grid)
    assert simplex_grid(1, 0.1) == [(1.0,)]
    a, b = np.full((2, 3), 0.2, np.float32), np.full((2, 3), 0.8, np.float32)
    np.testing.assert_allclose(combine([a, b], [3, 1]), 0.35)  # weights are normalised


def test_fast_micro_f1_matches_the_threshold_module():
    from cpc_models.scoring.thresholds import Thresholds, _micro_f1, tune_global

    rng = np.random.default_rng(0)
    y = (rng.random((300, 12)) < 0.2).astype(np.uint8)
    scores = np.clip(0.5 * y + rng.random(y.shape) * 0.7, 0, 1).astype(np.float32)
    t = tune_global(y, scores)
    expected = _micro_f1(y > 0, Thresholds(t, mode="global").apply(scores, [""] * 12))
    assert best_global_micro_f1(y, scores) == pytest.approx(expected, abs=1e-9)


def test_tuning_prefers_the_informative_member():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 10)) < 0.2).astype(np.uint8)
    good = np.clip(0.6 * y + 0.5 * rng.random(y.shape), 0, 1).astype(np.float32)
    noise = rng.random(y.shape).astype(np.float32)
    weights, f1 = tune_weights(y, [noise, good], step=0.1)
    assert weights[1] > weights[0] and abs(sum(weights) - 1) < 1e-9
    assert f1 >= best_global_micro_f1(y, noise)


def test_train_load_and_predict(members, tiny_dataset, tmp_path):
    out = tmp_path / "ens"
    metrics = train_ensemble(
        EnsembleConfig(dataset_dir=str(tiny_dataset), output_dir=str(out), members=[str(m) for m in members])
    )
    assert_metrics_reproduce(out, tiny_dataset, metrics)
    spec = json.loads((out / "ensemble.json").read_text())
    weights = [m["weight"] for m in spec["members"]]
    assert abs(sum(weights) - 1) < 1e-6 and all(not Path(m["path"]).is_absolute() for m in spec["members"])
    assert json.loads((out / "config.json").read_text())["cpc_model_type"] == "ensemble"

    test = load_split(tiny_dataset, "test")
    scorer = load_scorer(out)
    scores = scorer.predict_proba(test.texts)
    parts = [load_scorer(m).predict_proba(test.texts) for m in members]
    np.testing.assert_allclose(scores, combine(parts, weights), rtol=1e-6, atol=1e-7)
    assert not (out / "predictions").exists(), "an ensemble keeps no scores: it is never a member"


def test_fixed_weights_and_copied_members(members, tiny_dataset, tmp_path):
    out = tmp_path / "ens"
    config = EnsembleConfig(
        dataset_dir=str(tiny_dataset),
        output_dir=str(out),
        members=[str(m) for m in members],
        weights=[1.0, 0.0],
        copy_members=True,
    )
    train_ensemble(config)
    copied = out / "members" / members[0].name
    assert (copied / "linear" / "linear.json").exists() and not (copied / "linear.npz").exists()
    assert not (copied / "predictions").exists()
    assert not (out / "members" / members[1].name).exists(), "a member with weight 0 is not copied"
    moved = tmp_path / "elsewhere" / "ens"
    shutil.move(str(out), str(moved))
    test = load_split(tiny_dataset, "test")
    np.testing.assert_allclose(
        load_scorer(moved).predict_proba(test.texts), load_scorer(members[0]).predict_proba(test.texts), rtol=1e-6
    )


def test_saved_predictions_are_aligned_by_publication_number_and_label(members, tiny_dataset, tmp_path):
    """A member trained elsewhere (a GPU machine) may list rows and labels in another order, in float16."""
    val = load_split(tiny_dataset, "validation")
    member = tmp_path / "gpu-member"
    shutil.copytree(members[0], member)
    expected = saved_predictions(members[0], val)
    rows, cols = (
        np.random.default_rng(0).permutation(len(val)),
        np.random.default_rng(1).permutation(len(val.vocabulary)),
    )
    np.save(member / "predictions" / "validation.npy", expected[np.ix_(rows, cols)].astype(np.float16))
    index = json.loads((member / "predictions" / "index.json").read_text())
    index["labels"] = [val.vocabulary[j] for j in cols]
    index["validation"] = [val.publication_numbers[i] for i in rows]
    (member / "predictions" / "index.json").write_text(json.dumps(index))
    np.testing.assert_allclose(saved_predictions(member, val), expected, atol=1e-3)
    index["validation"] = index["validation"][1:]  # rows missing: not usable
    (member / "predictions" / "index.json").write_text(json.dumps(index))
    assert saved_predictions(member, val) is None


def test_cli_and_bad_members(members, tiny_dataset, tmp_path):
    from click.testing import CliRunner

    from spaces.cli import cli, main

    out = tmp_path / "cli-ens"
    base = ["train", "ensemble", "--dataset", str(tiny_dataset)]
    args = base + ["--out", str(out), "--member", str(members[0]), "--member", str(members[1]), "--grid-step", "0.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "train_config.json").read_text())["grid_step"] == 0.5
    # an ensemble of an ensemble, or weights that do not match the members: one line, exit 1
    assert main(base + ["--out", str(tmp_path / "x"), "--member", str(out)]) == 1
    assert (
        main(base + ["--out", str(tmp_path / "y"), "--member", str(members[0]), "--weight", "1", "--weight", "2"]) == 1
    )
