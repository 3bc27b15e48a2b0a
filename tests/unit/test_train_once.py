"""Training the TF-IDF members at scale: the features fitted once (shared by the members and the neighbour index),
one float64 matrix for all the per-label fits, parallel fits that give the weights of sequential ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cpc_models.kinds import ensemble, tfidf_knn, tfidf_svm  # noqa: E402
from cpc_models.kinds.vocabulary import StreamedTfidf  # noqa: E402
from cpc_models.predict.predictor import CpcPredictor  # noqa: E402
from tests.unit.test_linear import make_tiny_dataset  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("dataset"))


def count_fits(monkeypatch) -> list:
    fits = []
    original = StreamedTfidf.fit_transform

    def fit_transform(self, texts):
        fits.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(StreamedTfidf, "fit_transform", fit_transform)
    return fits


def test_tfidf_svm_with_default_features_fits_them_once_for_itself_and_its_neighbour_index(
    tiny_dataset, tmp_path, monkeypatch
):
    from cpc_models.registry import load_scorer

    fits = count_fits(monkeypatch)
    out = tmp_path / "svm"
    tfidf_svm.train(tfidf_svm.Config(dataset_dir=str(tiny_dataset), output_dir=str(out)))
    assert len(fits) == 2  # the word and the title block, once
    index = load_scorer(out / "neighbour_index")
    assert index.vectorizer.blocks[0].terms == load_scorer(out).vectorizer.blocks[0].terms
    assert index.bank.n_rows == fits[0]


def test_retraining_without_a_neighbour_index_leaves_none_from_before(tiny_dataset, tmp_path):
    """The folder's earlier neighbour index and scope flag (another training's documents) neither stay nor feed the
    new scope: a model trained with ``neighbour_index=False`` has none."""
    config = tfidf_svm.Config(dataset_dir=str(tiny_dataset), output_dir=str(tmp_path / "svm"))
    tfidf_svm.train(config)
    assert (tmp_path / "svm" / "neighbour_index").is_dir() and (tmp_path / "svm" / "scope.json").is_file()
    tfidf_svm.train(config, neighbour_index=False)
    assert not (tmp_path / "svm" / "neighbour_index").exists() and not (tmp_path / "svm" / "scope.json").exists()
    assert json.loads((tmp_path / "svm" / "metrics.json").read_text())["scope"] is None
    assert not CpcPredictor.from_pretrained(tmp_path / "svm").evidence.available


def test_members_trained_from_shared_features_are_the_members_that_fit_their_own(tiny_dataset, tmp_path, monkeypatch):
    from cpc_models.data import load_split
    from cpc_models.kinds.tfidf import fit_vectorizer
    from cpc_models.registry import load_scorer

    common = {"dataset_dir": str(tiny_dataset)}
    svm = tfidf_svm.Config(**common, output_dir=str(tmp_path / "svm"))
    tfidf_svm.train(svm)
    tfidf_knn.train(tfidf_knn.Config(**common, output_dir=str(tmp_path / "knn")))
    fits = count_fits(monkeypatch)
    features = fit_vectorizer(svm, load_split(tiny_dataset, "train").texts)
    # as benchmarks/scale.py trains the default recipe: the svm member without a neighbour index of its own
    tfidf_svm.train(tfidf_svm.Config(**common, output_dir=str(tmp_path / "svm2")), features, neighbour_index=False)
    tfidf_knn.train(tfidf_knn.Config(**common, output_dir=str(tmp_path / "knn2")), features=features)
    assert len(fits) == 2  # the shared fit only
    texts = load_split(tiny_dataset, "test").texts
    for name in ("svm", "knn"):
        np.testing.assert_array_equal(
            load_scorer(tmp_path / name).predict_proba(texts), load_scorer(tmp_path / f"{name}2").predict_proba(texts)
        )
    assert (tmp_path / "svm" / "neighbour_index").is_dir() and (tmp_path / "svm" / "scope.json").is_file()
    assert not (tmp_path / "svm2" / "neighbour_index").exists() and not (tmp_path / "svm2" / "scope.json").exists()
    # the ensemble takes its similar patents and scope flag from the knn member either way
    predictions = []
    for suffix in ("", "2"):
        members = [str(tmp_path / f"svm{suffix}"), str(tmp_path / f"knn{suffix}")]
        out = tmp_path / f"ensemble{suffix}"
        ensemble.train(ensemble.Config(**common, output_dir=str(out), members=members, weights=[0.6, 0.4]))
        predictions.append([p.to_dict() for p in CpcPredictor.from_pretrained(out).predict(texts)])
    assert predictions[0] == predictions[1] and any(p["neighbours"] for p in predictions[1])


def test_every_per_label_fit_reads_one_float64_matrix(tiny_dataset, monkeypatch):
    from sklearn.svm import LinearSVC

    from cpc_models.data import load_split
    from cpc_models.kinds.tfidf import fit_vectorizer

    config = tfidf_svm.Config(dataset_dir=str(tiny_dataset), min_df=1, n_jobs=1)  # in this process: fit is seen
    train = load_split(tiny_dataset, "train")
    _, x = fit_vectorizer(config, train.texts)
    seen = []
    original = LinearSVC.fit

    def fit(self, X, y, *args, **kwargs):
        seen.append((id(X), X.dtype))
        return original(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LinearSVC, "fit", fit)
    coef, _ = tfidf_svm.fit_classifier(config, x, train.y)
    assert len(seen) == train.y.shape[1] and len(set(seen)) == 1 and seen[0][1] == np.float64
    expected, _ = tfidf_svm.fit_per_label(
        x, train.y, lambda: LinearSVC(C=config.C, random_state=config.seed), n_jobs=1
    )  # float32 in: scikit-learn converts per fit, to the same values
    np.testing.assert_array_equal(coef, expected)


def test_parallel_per_label_fits_give_the_weights_of_one_at_a_time(tiny_dataset):
    from sklearn.svm import LinearSVC

    from cpc_models.data import load_split
    from cpc_models.kinds.common import fit_per_label
    from cpc_models.kinds.tfidf import fit_vectorizer

    train = load_split(tiny_dataset, "train")
    _, x = fit_vectorizer(tfidf_svm.Config(dataset_dir=str(tiny_dataset), min_df=1), train.texts)
    x = x.astype(np.float64)
    make = lambda: LinearSVC(C=0.3, random_state=0)  # noqa: E731
    one = fit_per_label(x, train.y, make, n_jobs=1)
    for _ in range(3):  # liblinear's random generator shared by threads made these differ in most runs
        parallel = fit_per_label(x, train.y, make, n_jobs=2, processes=True)
        np.testing.assert_array_equal(parallel[0], one[0])
        np.testing.assert_array_equal(parallel[1], one[1])


class _KilledFit:
    """A model whose fit kills the process it runs in (as the kernel's out-of-memory killer would a fit worker)."""

    def fit(self, x, y):
        import os
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def test_a_fit_worker_that_is_killed_fails_training_in_one_line():
    import multiprocessing

    from cpc_dataset.errors import CpcError
    from cpc_models.kinds.common import fit_per_label

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("fit_per_label forks only where fork exists; elsewhere the fits are threads of this process")
    x = np.eye(4)
    y = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    with pytest.raises(CpcError, match=r"^Error: a process fitting died \(killed, out of memory\?\)"):
        fit_per_label(x, y, _KilledFit, desc="fitting", n_jobs=2, processes=True)


def test_a_fit_that_fails_stops_the_fits_not_yet_started(monkeypatch):
    """One label's fit raising (or Ctrl-C) used to wait for every other label's fit before the error surfaced (hours at
    scale). The fits here block until the pool is shut down, so only the one running when the error came can finish."""
    import concurrent.futures
    import threading

    from cpc_models.kinds.common import fit_per_label

    shut = threading.Event()

    class Pool(concurrent.futures.ThreadPoolExecutor):
        def shutdown(self, *args, **kwargs):
            shut.set()
            super().shutdown(*args, **kwargs)

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", Pool)
    fitted = []

    class Model:
        coef_, intercept_ = np.zeros((1, 2)), np.zeros(1)

        def fit(self, x, y):
            if not fitted:
                fitted.append("failed")
                raise RuntimeError("the first fit fails")
            shut.wait()
            fitted.append("fitted")
            return self

    x, y = np.eye(2), np.tile([[0], [1]], (1, 30))
    with pytest.raises(RuntimeError, match="the first fit fails"):
        fit_per_label(x, y, Model, n_jobs=1)
    assert fitted in (["failed"], ["failed", "fitted"])  # the one the worker had taken at most, not 29 more
