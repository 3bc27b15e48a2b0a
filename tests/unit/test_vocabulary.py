"""The bounded word TF-IDF fit (``cpc_models.kinds.vocabulary``): scikit-learn's result bit for bit below the
bound, a bounded table and an exact matrix for the chosen terms above it, and the same transform at prediction
time without scikit-learn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from cpc_models.kinds.vocabulary import StreamedTfidf  # noqa: E402

WORDS = dict(ngram_range=(1, 2), strip_accents="unicode", sublinear_tf=True, dtype=np.float32)


@pytest.fixture(scope="module")
def texts():
    from tests.unit.test_linear import SOURCE

    if not SOURCE.exists():
        pytest.skip("the committed dataset is missing")
    import pyarrow.parquet as pq

    table = pq.read_table(SOURCE, columns=["title", "abstract"]).slice(0, 300).to_pydict()
    return [f"{t}. {a}" for t, a in zip(table["title"], table["abstract"])] + ["", "Ça été naïve café. Zürich"]


def assert_same_matrix(got, expected):
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


@pytest.mark.parametrize(
    "bounds",
    [
        dict(min_df=2, max_df=0.5, max_features=None),
        dict(min_df=2, max_df=0.5, max_features=500),  # binding: ties in the counts broken as scikit-learn does
        dict(min_df=1, max_df=1.0, max_features=40_000),
    ],
)
def test_below_the_table_bound_the_fit_is_scikit_learns_bit_for_bit(texts, bounds):
    from sklearn.feature_extraction.text import TfidfVectorizer

    expected = TfidfVectorizer(**bounds, **WORDS)
    x_expected = expected.fit_transform(texts)
    streamed = StreamedTfidf(**bounds, **WORDS, chunk=7)  # many chunks
    x = streamed.fit_transform(texts)
    assert streamed.pruned == 0
    assert streamed.vocabulary_ == expected.vocabulary_
    np.testing.assert_array_equal(streamed.idf_, expected.idf_)
    assert_same_matrix(x, x_expected)  # the column order within rows too (liblinear sums in that order)


def test_a_full_table_keeps_the_fit_bounded_and_its_matrix_exact_for_the_chosen_terms(texts):
    from sklearn.feature_extraction.text import TfidfVectorizer

    unbounded = TfidfVectorizer(min_df=2, **WORDS).fit(texts)
    streamed = StreamedTfidf(min_df=2, max_features=300, max_candidates=2_000, chunk=20, **WORDS)
    x = streamed.fit_transform(texts)
    assert streamed.pruned > 0 and streamed.peak_candidates <= 2_000
    assert 0 < len(streamed.vocabulary_) <= 300
    assert set(streamed.vocabulary_) <= set(unbounded.vocabulary_)  # pruning drops terms, never invents them
    # the matrix and idf are a fixed-vocabulary count of every document, not of what survived in the table
    exact = TfidfVectorizer(vocabulary=streamed.vocabulary_, **WORDS)
    assert_same_matrix(x, exact.fit_transform(texts))
    np.testing.assert_array_equal(streamed.idf_, exact.idf_)


def test_the_saved_vectorizer_transforms_as_at_training_without_scikit_learn(texts, tmp_path):
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer

    config = TfidfConfig(max_features=300, max_candidates=2_000)
    vectorizer, x = fit_vectorizer(config, texts)
    assert all(len(b.terms) <= 300 for b in vectorizer.blocks)
    vectorizer.save(tmp_path / "vectorizer")
    (tmp_path / "texts.json").write_text(json.dumps(texts[:60]))
    script = f"""
import json, sys
import numpy as np
sys.modules["sklearn"] = None  # any import of scikit-learn fails
from cpc_models.kinds.vectorizer import Vectorizer
texts = json.load(open({str(tmp_path / "texts.json")!r}))
x = Vectorizer.load({str(tmp_path / "vectorizer")!r}).transform(texts)
np.savez({str(tmp_path / "x.npz")!r}, data=x.data, indices=x.indices, indptr=x.indptr)
"""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", script], check=True, cwd=root, env=env)
    got = np.load(tmp_path / "x.npz")
    train = x[:60].tocsr()
    train.sort_indices()
    np.testing.assert_array_equal(got["indptr"], train.indptr)
    np.testing.assert_array_equal(got["indices"], train.indices)
    np.testing.assert_allclose(got["data"], train.data, rtol=1e-6)


def test_a_table_bound_below_one_is_refused_in_one_line():
    from cpc_dataset.errors import InputError
    from cpc_models.kinds.tfidf import TfidfConfig, make_blocks

    with pytest.raises(InputError, match="--max-candidates must be at least 1"):
        make_blocks(TfidfConfig(max_candidates=0))


@pytest.mark.parametrize(
    "option, value, parameter",
    [("max_df", 1.5, "max_df"), ("max_features", -1, "max_features"), ("min_df", -1, "min_df")],
)
def test_options_scikit_learn_refuses_are_refused_in_one_line(texts, option, value, parameter):
    """scikit-learn's fit refused these; the bounded count used them (max_df 1.5 kept every n-gram, max_features -1
    every term but one): refused before fitting, in one line."""
    from cpc_dataset.errors import InputError
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer

    with pytest.raises(
        InputError, match=rf"^Bad input: TF-IDF options: The '{parameter}' parameter of TfidfVectorizer must be"
    ):
        fit_vectorizer(TfidfConfig(**{option: value}), texts)


def test_a_table_bound_that_leaves_no_n_gram_is_refused_in_one_line(texts):
    """--max-candidates 1 passes the check above but empties the table at every chunk: no vocabulary is left, which
    is said in one line (it was scikit-learn's ValueError traceback)."""
    from cpc_dataset.errors import InputError
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer

    with pytest.raises(InputError, match=r"^Bad input: the word TF-IDF block: After pruning, no terms remain"):
        fit_vectorizer(TfidfConfig(max_candidates=1), texts)


def test_an_n_gram_range_upside_down_is_refused_as_scikit_learn_refuses_it(texts):
    from cpc_dataset.errors import InputError
    from cpc_models.kinds.tfidf import TfidfConfig, fit_vectorizer

    with pytest.raises(InputError, match=r"^Bad input: TF-IDF options: Invalid value for ngram_range=\(2, 1\)"):
        fit_vectorizer(TfidfConfig(word_ngrams=(2, 1)), texts)
