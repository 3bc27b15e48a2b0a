"""TF-IDF storage format 2: the vectorizer without scikit-learn, the memory-mapped neighbour bank and its exact
search, one vectorizer shared by an ensemble's members, format-1 folders, and the "no known words" reason."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("sparse_dot_topn")

from cpc_models.kinds import tfidf_knn, tfidf_svm  # noqa: E402
from cpc_models.kinds.bank_files import append_rows, load_bank, save_bank  # noqa: E402
from cpc_models.kinds.batch import TextBatch  # noqa: E402
from cpc_models.kinds.sparse import top_n  # noqa: E402
from cpc_models.registry import load_scorer  # noqa: E402
from tests.unit.test_linear import make_tiny_dataset  # noqa: E402

TEXTS = [
    "Neural network training. A convolutional neural network is trained on labelled images.",
    "Ça été über naïve café. Résumé of the Zürich déjà vu",
    "",
    "zzzz qqqq",
    "Battery electrode. A lithium battery electrode with a coating; the network predicts wear.",
]


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def models(tiny_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    svm = tfidf_svm.Config(dataset_dir=str(tiny_dataset), output_dir=str(root / "svm"), min_df=1, C=1.0)
    knn = tfidf_knn.Config(dataset_dir=str(tiny_dataset), output_dir=str(root / "knn"), min_df=1, k=5)
    tfidf_svm.train(svm)
    tfidf_knn.train(knn)
    return root / "svm", root / "knn"


def test_the_vectorizer_gives_scikit_learns_tfidf_bit_for_bit(tiny_dataset):
    from cpc_models.data import load_split
    from cpc_models.kinds.tfidf import TfidfConfig, fit_blocks
    from cpc_models.kinds.vectorizer import Vectorizer

    train = load_split(tiny_dataset, "train")
    blocks, _ = fit_blocks(TfidfConfig(min_df=1), train.texts)
    texts = load_split(tiny_dataset, "test").texts + TEXTS
    from scipy.sparse import hstack

    expected = hstack([b.transform(texts) for b in blocks]).tocsr()
    got = Vectorizer.from_sklearn(blocks).transform(texts)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def _random_bank(tmp_path, rows=300, features=60, labels=4, seed=0):
    from scipy.sparse import random as sparse_random

    rng = np.random.default_rng(seed)
    x = sparse_random(rows, features, density=0.08, format="csr", dtype=np.float32, random_state=seed)
    x.data = x.data.astype(np.float16).astype(np.float32)
    from scipy.sparse import vstack

    x = vstack([x[:5], x[7], x[6:]], format="csr")  # row 5 repeats row 7: ties go to the lower row
    y = (rng.random((rows, labels)) < 0.3).astype(np.uint8)
    docs = [{"publication_number": f"P{i}", "title": f"t{i}", "codes": [f"C{i}"]} for i in range(rows)]
    save_bank(tmp_path / "bank", x, y, k=7, temperature=10.0, docs=docs)
    return x, y, load_bank(tmp_path / "bank")


def test_sparse_search_gives_the_dense_products_top_rows_and_vote(tmp_path):
    from scipy.sparse import random as sparse_random

    from cpc_models.kinds.common import neighbour_vote, top_indices

    x, y, bank = _random_bank(tmp_path)
    q = sparse_random(40, x.shape[1], density=0.2, format="csr", dtype=np.float32, random_state=3)
    dots = (q @ x.T).toarray()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel()).astype(np.float32)
    qn = np.sqrt(np.asarray(q.multiply(q).sum(axis=1)).ravel()).astype(np.float32)
    cos = dots / np.maximum(qn[:, None] * norms[None, :], 1e-12)
    for depth in (7, 300):  # shallow hits (the exact fallback proves or redoes the ranking) and every row
        hits = bank.search(q, depth)
        rows, sims = bank.nearest(hits, 10)
        for i in range(q.shape[0]):
            positive = (dots[i] > 0).sum()
            expected = [j for j in top_indices(cos[i], 10) if dots[i, j] > 0]
            assert list(rows[i][: len(expected)]) == expected and (rows[i][len(expected) :] == -1).all()
            np.testing.assert_allclose(sims[i][: len(expected)], cos[i, expected], rtol=1e-6)
            ranked = np.sort(dots[i])[::-1]
            # where k rows share a term and no tie straddles the k-th, the vote is the dense one's
            if positive >= bank.k and ranked[bank.k - 1] > ranked[bank.k]:
                np.testing.assert_allclose(
                    bank.vote(hits)[i], neighbour_vote(dots[i : i + 1], y, bank.k, 10.0)[0], atol=1e-6
                )


@pytest.mark.parametrize("threads", [2, 3])
def test_fewer_texts_than_threads_search_the_banks_row_ranges_and_find_the_same_rows(tmp_path, monkeypatch, threads):
    """One text (or a few) with several threads: each thread searches one range of the bank's rows
    (``split_postings``) and the ranges' hits merge into exactly the one-thread search's rows, dot products and
    completeness, ties (row 5 repeats row 7) included."""
    from scipy.sparse import random as sparse_random

    from cpc_models.kinds import bank as bank_module

    x, y, bank = _random_bank(tmp_path)
    from scipy.sparse import vstack

    q = sparse_random(5, x.shape[1], density=0.2, format="csr", dtype=np.float32, random_state=5)
    rare = np.zeros((1, x.shape[1]), dtype=np.float32)
    rare[0, np.argsort(np.diff(x.tocsc().indptr))[len(rare[0]) // 2]] = 1.0  # one term: a few hits per range
    q = vstack([x[7], rare, q], format="csr")  # row 0's best hits tie (rows 5 and 7)
    monkeypatch.setattr(bank_module, "SPLIT_ROWS", 0)
    for depth in (1, 7, 12, 40, 300):
        for n in (1, 2):
            monkeypatch.setenv("CPC_SEARCH_THREADS", "1")
            for start in range(0, q.shape[0], n):
                one = bank.search(q[start : start + n], depth)
                monkeypatch.setenv("CPC_SEARCH_THREADS", str(threads))
                split = bank.search(q[start : start + n], depth)
                monkeypatch.setenv("CPC_SEARCH_THREADS", "1")
                np.testing.assert_array_equal(split.rows, one.rows)
                np.testing.assert_array_equal(split.dots, one.dots)
                np.testing.assert_array_equal(split.complete, one.complete)
    assert bank._split is not None and bank._split[0] == threads  # the ranges were searched
    monkeypatch.setenv("CPC_SEARCH_THREADS", str(threads))
    none = bank.search(q[:0], 7)  # no texts: no hits (the split query of no rows is empty)
    assert none.rows.shape == (0, 7) and none.complete.shape == (0,)


@pytest.mark.parametrize("threads", [2, 3, 4])
def test_a_split_search_keeps_the_one_thread_searchs_rows_when_equal_rows_straddle_the_depth_cut(
    tmp_path, monkeypatch, threads
):
    """Four copies of one row spread over the bank's row ranges, a text equal to it: every depth below four cuts
    among rows of equal dot product, and the split search keeps the rows the one-thread search keeps (before, the
    ranges' own best rows merged lower row first kept other rows: the hits changed with the thread count)."""
    from scipy.sparse import random as sparse_random
    from scipy.sparse import vstack

    from cpc_models.kinds import bank as bank_module

    base = sparse_random(1, 30, density=0.3, format="csr", dtype=np.float32, random_state=1)
    base.data = base.data.astype(np.float16).astype(np.float32)
    noise = sparse_random(60, 30, density=0.1, format="csr", dtype=np.float32, random_state=2)
    noise.data = noise.data.astype(np.float16).astype(np.float32)
    x = vstack([noise[:20], base, noise[20:40], base, noise[40:], base, base], format="csr")
    save_bank(tmp_path / "bank", x, np.ones((x.shape[0], 1), dtype=np.uint8), k=3, temperature=10.0)
    bank = load_bank(tmp_path / "bank")
    monkeypatch.setattr(bank_module, "SPLIT_ROWS", 0)
    for depth in (1, 2, 3, 5):
        monkeypatch.setenv("CPC_SEARCH_THREADS", "1")
        one = bank.search(base, depth)
        monkeypatch.setenv("CPC_SEARCH_THREADS", str(threads))
        split = bank.search(base, depth)
        np.testing.assert_array_equal(split.rows, one.rows)
        np.testing.assert_array_equal(split.dots, one.dots)
        np.testing.assert_array_equal(split.complete, one.complete)
    assert bank._split is not None and bank._split[0] == threads  # the ranges were searched


def test_a_split_search_with_as_many_hits_as_asked_for_is_as_complete_as_the_one_thread_search(tmp_path, monkeypatch):
    """Three hits, two in one row range and one in the other, for a depth of 3: the one-thread search sees as many
    hits as asked for and cannot tell that no row is left out (not complete); the split search says the same."""
    from scipy.sparse import csr_matrix

    from cpc_models.kinds import bank as bank_module

    x = csr_matrix(np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32))
    save_bank(tmp_path / "bank", x, np.ones((6, 1), dtype=np.uint8), k=3, temperature=10.0)
    bank = load_bank(tmp_path / "bank")
    monkeypatch.setattr(bank_module, "SPLIT_ROWS", 0)
    q = csr_matrix(np.array([[1, 0]], dtype=np.float32))
    monkeypatch.setenv("CPC_SEARCH_THREADS", "1")
    one = bank.search(q, 3)
    monkeypatch.setenv("CPC_SEARCH_THREADS", "2")
    split = bank.search(q, 3)
    assert bank._split is not None  # the ranges were searched
    assert not one.complete[0] and not split.complete[0]
    np.testing.assert_array_equal(split.rows, one.rows)


def test_a_search_as_deep_as_the_bank_is_complete_even_when_every_row_is_a_hit():
    """A text sharing a term with every row of a small bank: hits as deep as the bank list them all, so the ranking
    is proven (before, ``complete`` was false there and ``nearest`` searched deeper for ever)."""
    from scipy.sparse import csr_matrix

    from cpc_models.kinds.bank import NeighbourBank

    rows = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]], dtype=np.float32)  # every row has feature 0
    norms = np.linalg.norm(rows, axis=1)
    bank = NeighbourBank(csr_matrix(rows.T), norms, csr_matrix(np.eye(3, dtype=np.float32)), k=3, temperature=10.0)
    q = csr_matrix(np.array([[1.0, 0.0]], dtype=np.float32))
    hits = bank.search(q, 10)  # deeper than the bank: as deep as it
    assert hits.depth == 3 and hits.complete.all()
    found, _ = bank.nearest(bank.search(q, 2), 3)  # shallow: searched again, deeper, until proven
    assert list(found[0]) == [0, 1, 2]


def test_appended_rows_are_found_and_carry_their_labels_and_docs(tmp_path):
    x, y, bank = _random_bank(tmp_path)
    from scipy.sparse import csr_matrix

    from cpc_models.kinds.sparse import as_csr

    new = as_csr(csr_matrix(np.linspace(1, 2, x.shape[1], dtype=np.float32)[None, :]))  # as Vectorizer.transform gives
    n = append_rows(tmp_path / "bank", new, np.array([[0, 1, 0, 1]]), [{"publication_number": "NEW", "codes": []}])
    assert n == x.shape[0] + 1
    bank = load_bank(tmp_path / "bank")
    rows, sims = bank.nearest(bank.search(new, 20), 1)
    assert rows[0, 0] == x.shape[0] and sims[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert bank.doc(x.shape[0])["publication_number"] == "NEW" and bank.doc(2)["publication_number"] == "P2"
    assert list(bank.labels.take([x.shape[0]]).indices) == [1, 3]
    with pytest.raises(ValueError, match="do not fit"):
        append_rows(tmp_path / "bank", new.to_scipy()[:, :5], np.array([[0, 1, 0, 1]]), [{}])


def _write_format_1(member, out):
    """The layout of format 1, written from a format-2 folder (as older versions saved it)."""
    from scipy.sparse import csc_matrix

    from cpc_models.kinds.bank_files import read_bank_rows
    from cpc_models.kinds.vectorizer import load_vectorizer

    shutil.copytree(member, out, ignore=shutil.ignore_patterns("vectorizer", "features.json", "bank", "linear"))
    v = load_vectorizer(member)
    specs = [
        {"name": b.name, "field": b.field, "weight": b.weight, "params": b.params, "vocabulary": b.terms}
        for b in v.blocks
    ]
    (out / "vectorizers.json").write_text(json.dumps(specs))
    np.savez_compressed(out / "idf.npz", **{b.name: np.asarray(b.idf) for b in v.blocks})
    scorer = load_scorer(member)
    if hasattr(scorer, "bank"):
        rows, labels, docs, spec = read_bank_rows(member / "bank")
        np.savez_compressed(
            out / "knn_bank.npz",
            data=rows.data.astype(np.float16),
            indices=rows.indices,
            indptr=rows.indptr,
            shape=np.array(rows.shape),
            labels=labels.toarray(),
            knn=np.array([spec["k"], spec["temperature"]]),
        )
        cols = {k: [d[k] for d in docs] for k in ("publication_number", "title", "codes")}
        (out / "knn_docs.json").write_text(json.dumps(cols))
    else:
        coef = csc_matrix(scorer.coef.to_scipy())
        np.savez_compressed(
            out / "linear.npz",
            data=coef.data.astype(np.float16),
            indices=coef.indices,
            indptr=coef.indptr,
            shape=np.array(coef.shape),
            intercept=scorer.intercept,
            sigmoid=np.array([scorer.slope, scorer.offset]),
        )


def test_format_1_folders_load_and_convert_without_changing_a_score(models, tmp_path):
    from cpc_models.kinds.tfidf_storage import convert_folder

    for member in models:
        old = tmp_path / member.name
        _write_format_1(member, old)
        expected = load_scorer(member).predict_proba(TEXTS)
        np.testing.assert_array_equal(load_scorer(old).predict_proba(TEXTS), expected)
        convert_folder(old)
        assert not (old / "vectorizers.json").exists() and (old / "features.json").exists()
        np.testing.assert_array_equal(load_scorer(old).predict_proba(TEXTS), expected)


def test_a_format_1_bank_searches_by_its_size_as_a_format_2_bank_without_a_budget(models, tmp_path, monkeypatch):
    from cpc_models.kinds import bank as bank_module
    from cpc_models.kinds.bank_files import load_bank_v1

    knn = next(m for m in models if (m / "bank").is_dir())
    _write_format_1(knn, tmp_path / "old")
    assert load_bank_v1(tmp_path / "old").budget == 0  # a small bank: exact
    monkeypatch.setattr(bank_module, "ROW_COPY_ROWS", 1)
    assert load_bank_v1(tmp_path / "old").budget == bank_module.AUTO_BUDGET


def test_an_ensemble_stores_one_vectorizer_and_vectorizes_a_batch_once(models, tiny_dataset, tmp_path, monkeypatch):
    from cpc_models.kinds.ensemble import Config, train
    from cpc_models.kinds.vectorizer import Vectorizer

    out = tmp_path / "ens"
    train(
        Config(
            dataset_dir=str(tiny_dataset),
            output_dir=str(out),
            members=[str(m) for m in models],
            weights=[0.5, 0.5],
            copy_members=True,
        )
    )
    assert (out / "vectorizer" / "vectorizer.json").exists()
    for m in models:
        assert not (out / "members" / m.name / "vectorizer").exists()
        assert not (out / "members" / m.name / "predictions").exists()
    # the linear member ships a neighbour index of its own; the ensemble's kNN bank serves instead
    assert (models[0] / "neighbour_index").is_dir() and not (out / "members" / "svm" / "neighbour_index").exists()
    scorer = load_scorer(out)
    assert scorer.members[0].vectorizer is scorer.members[1].vectorizer
    calls = []
    real = Vectorizer.transform
    monkeypatch.setattr(Vectorizer, "transform", lambda self, texts: calls.append(len(texts)) or real(self, texts))
    scorer.predict_proba(TextBatch(TEXTS))
    assert calls == [len(TEXTS)]


def test_texts_with_no_known_word_get_a_reason_and_no_codes(models):
    from cpc_models.predict.predictor import NO_KNOWN_WORDS, CpcPredictor

    predictor = CpcPredictor.from_pretrained(models[0])
    out = predictor.predict(TEXTS)
    assert [p.reason for p in out] == ["", "", "empty text", NO_KNOWN_WORDS, ""]
    assert not out[3].codes and not out[3].levels and out[0].codes
    # the others are predicted as they are alone
    assert [p.to_dict() for p in predictor.predict([TEXTS[0], TEXTS[4]])] == [out[0].to_dict(), out[4].to_dict()]


def test_a_batch_gives_what_one_text_at_a_time_gives(models):
    from cpc_models.predict.predictor import CpcPredictor

    predictor = CpcPredictor.from_pretrained(models[1])
    texts = [t for t in TEXTS if t] * 3
    together = [p.to_dict() for p in predictor.predict(texts, explain=True, neighbours=4)]
    alone = [predictor.predict(t, explain=True, neighbours=4)[0].to_dict() for t in texts]
    assert together == alone
    assert any(p["neighbours"] for p in together)


def test_a_loaded_bank_keeps_its_rows_and_docs_when_the_folder_is_rewritten(tmp_path):
    from scipy.sparse import csr_matrix

    # what `cpc learn --in-place` does under a running server: the server's bank must not change under it
    docs = [{"publication_number": n} for n in ("A0", "A1")]
    save_bank(tmp_path / "bank", csr_matrix(np.eye(2, 3, dtype=np.float32)), np.eye(2), 5, 10.0, docs)
    old = load_bank(tmp_path / "bank")
    q = csr_matrix(np.array([[1.0, 0.0, 0.0]], np.float32))
    new_rows = csr_matrix(np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32))
    new_docs = [{"publication_number": n} for n in ("NEW", "A0", "A1")]
    save_bank(tmp_path / "bank", new_rows, np.eye(3)[:, :2], 5, 10.0, new_docs)
    assert old.search(q, 2).rows[0, 0] == 0 and old.n_rows == 2
    assert [old.doc(i)["publication_number"] for i in (0, 1)] == ["A0", "A1"]
    new = load_bank(tmp_path / "bank")
    assert new.search(q, 2).rows[0, 0] == 1 and new.doc(0)["publication_number"] == "NEW"
    assert [p.name for p in tmp_path.iterdir()] == ["bank"]


@pytest.mark.parametrize("norm", ["l1", None])
def test_the_vectorizer_gives_scikit_learns_tfidf_for_other_norms(norm):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from cpc_models.kinds.tfidf import FeatureBlock
    from cpc_models.kinds.vectorizer import Vectorizer

    sk = TfidfVectorizer(norm=norm, sublinear_tf=True, dtype=np.float32).fit(TEXTS)
    got = Vectorizer.from_sklearn([FeatureBlock("word", "text", 1.0, sk)]).transform(TEXTS)
    np.testing.assert_allclose(got.to_scipy().toarray(), sk.transform(TEXTS).toarray(), rtol=1e-6)


def test_a_short_row_closest_by_cosine_is_found_by_the_one_search(monkeypatch):
    """Most rows carry a title block (norm ~1.118), one does not (norm 1): it is the nearest by cosine but only the
    11th by dot product. Its dot product is computed with the search's hits, so ``nearest`` proves the ranking
    without searching again (before, the bound used the smallest norm of all rows and it searched deeper)."""
    from scipy.sparse import csr_matrix

    from cpc_models.kinds import bank as bank_module
    from cpc_models.kinds.bank import NeighbourBank

    angles = np.r_[np.linspace(0.15, 0.25, 10), np.full(140, 1.4)]  # 10 rows close to the text, 140 far
    rows = np.c_[np.cos(angles), np.sin(angles), np.full(len(angles), 0.5)]  # a title block of weight 0.5
    rows = np.vstack([rows, [np.cos(0.3), np.sin(0.3), 0.0]]).astype(np.float32)  # row 150: no title
    norms = np.linalg.norm(rows, axis=1).astype(np.float32)
    labels = csr_matrix(np.ones((len(rows), 1), dtype=np.float32))
    bank = NeighbourBank(csr_matrix(rows.T), norms, labels, k=4, temperature=10.0)
    calls = []
    monkeypatch.setattr(bank_module, "top_n", lambda *a, **kw: calls.append(1) or top_n(*a, **kw))
    q = csr_matrix(np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
    hits = bank.search(q, 4)
    assert 150 not in hits.rows[0]  # not among the hits by dot product
    found, sims = bank.nearest(hits, 2)
    assert list(found[0]) == [150, 0] and sims[0, 0] == pytest.approx(np.cos(0.3), abs=1e-6)
    assert len(calls) == 1


def test_one_search_per_chunk_serves_the_vote_neighbours_voters_and_scope(monkeypatch):
    """The committed default model: a chunk of texts is searched once, whatever the evidence asks."""
    from cpc_models.data import load_split
    from cpc_models.kinds import bank as bank_module
    from cpc_models.predict.predictor import CHUNK, CpcPredictor
    from tests.conftest import DATASET, REPO

    predictor = CpcPredictor.from_pretrained(REPO / "hub" / "models" / "cpc-default")
    texts = load_split(DATASET, "test").texts[: CHUNK + 20]
    calls = []
    monkeypatch.setattr(bank_module, "top_n", lambda a, *r, **kw: calls.append(a.shape[0]) or top_n(a, *r, **kw))
    for explain in (False, True):
        calls.clear()
        predictions = predictor.predict(texts, explain=explain, neighbours=5)
        assert calls == [CHUNK, 20]
        assert all(len(p.neighbours) == 5 for p in predictions)
        assert any(p.out_of_scope for p in predictions) and any(not p.out_of_scope for p in predictions)


def test_a_saved_bank_stores_its_short_rows_as_the_postings_give_them(tmp_path):
    from cpc_models.kinds.bank import NeighbourBank

    x, y, bank = _random_bank(tmp_path)
    assert (tmp_path / "bank" / "short_rows.npy").exists()
    stored = bank.short_rows()
    computed = NeighbourBank(bank.postings, bank.norms, bank.labels, bank.k, bank.temperature).short_rows()
    assert len(stored[0]) > 0 and stored[1] == computed[1]
    np.testing.assert_array_equal(stored[0], computed[0])
    for part in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(stored[2], part), getattr(computed[2], part))
    q = x[:3]
    (tmp_path / "bank" / "short_indptr.npy").unlink()  # one of them lost: computed again, not a KeyError
    partial = load_bank(tmp_path / "bank")
    np.testing.assert_array_equal(partial.nearest(partial.search(q, 7), 5)[0], bank.nearest(bank.search(q, 7), 5)[0])
    for name in ("short_rows", "short_data", "short_indices"):  # a bank saved before them
        (tmp_path / "bank" / f"{name}.npy").unlink()
    old = load_bank(tmp_path / "bank")
    np.testing.assert_array_equal(old.nearest(old.search(q, 7), 5)[0], bank.nearest(bank.search(q, 7), 5)[0])
