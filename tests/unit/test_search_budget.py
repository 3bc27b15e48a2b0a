"""The budgeted neighbour search (``cpc_models.kinds.budget``): exact where the budget covers a text's terms, exact
dot products for its candidates always, never claiming exactness it lacks, and 0 is the exact search."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
pytest.importorskip("sparse_dot_topn")

from cpc_dataset.errors import MisconfiguredError  # noqa: E402
from cpc_models.files import BANK_ARRAY_FILE  # noqa: E402
from cpc_models.kinds.bank_files import load_bank, save_bank  # noqa: E402
from cpc_models.kinds.sparse import as_csr, matmul_dense  # noqa: E402


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv("CPC_SEARCH_BUDGET", raising=False)


def _bank(tmp_path, search_budget=0, rows=400, features=80, seed=0):
    from scipy.sparse import random as sparse_random

    x = sparse_random(rows, features, density=0.08, format="csr", dtype=np.float32, random_state=seed)
    x.data = x.data.astype(np.float16).astype(np.float32)
    y = (np.random.default_rng(seed).random((rows, 4)) < 0.3).astype(np.uint8)
    save_bank(tmp_path / "bank", x, y, k=7, temperature=10.0, search_budget=search_budget)
    return x, load_bank(tmp_path / "bank")


def _texts(features=80, n=30, seed=3):
    from scipy.sparse import random as sparse_random

    return sparse_random(n, features, density=0.2, format="csr", dtype=np.float32, random_state=seed)


def test_a_budget_that_covers_every_term_gives_the_exact_search(tmp_path):
    x, bank = _bank(tmp_path, search_budget=10**9)
    assert bank.budget == 10**9  # read from bank.json
    q = _texts()
    budgeted = bank.search(q, 7)
    bank.budget = 0
    exact = bank.search(q, 7)
    assert budgeted.exact.all()
    np.testing.assert_array_equal(budgeted.rows[:, :7], exact.rows)
    np.testing.assert_array_equal(budgeted.dots[:, :7], exact.dots)
    np.testing.assert_array_equal(bank.vote(budgeted), bank.vote(exact))
    bank.budget = 10**9
    near_budgeted = bank.nearest(budgeted, 10)
    bank.budget = 0
    near_exact = bank.nearest(exact, 10)
    np.testing.assert_array_equal(near_budgeted[0], near_exact[0])
    np.testing.assert_array_equal(near_budgeted[1], near_exact[1])


def test_budgeted_candidates_carry_their_exact_dots_and_claim_no_exactness(tmp_path, monkeypatch):
    x, bank = _bank(tmp_path, search_budget=40)  # a few postings: most texts keep only their rarest terms
    q = _texts()
    hits = bank.search(q, 7)
    assert (~hits.exact).sum() >= 10  # the case under test: texts whose terms did not all fit
    assert not hits.complete[~hits.exact].any()
    dense = matmul_dense(as_csr(q), bank.postings)  # the exact search's kernel
    listed = hits.rows >= 0
    np.testing.assert_array_equal(hits.dots[listed], np.take_along_axis(dense, np.maximum(hits.rows, 0), 1)[listed])
    assert (np.diff(np.where(listed, hits.dots, -1), axis=1) <= 0).all()  # best first
    # ranking all the candidates by cosine (no bound proves it) searches nothing again for the texts not covered
    searched = []

    def search(x, depth):
        searched.append(x.shape[0])
        assert len(searched) < 5, "searching deeper for ever"
        return type(bank).search(bank, x, depth)

    monkeypatch.setattr(bank, "search", search)
    rows, _ = bank.nearest(hits, hits.depth)
    assert sum(searched) <= hits.exact.sum()
    for i in np.flatnonzero(~hits.exact):
        assert set(rows[i][rows[i] >= 0]) <= set(hits.rows[i])


def test_search_budget_0_is_the_exact_search_and_the_environment_overrides_the_bank(tmp_path, monkeypatch):
    x, bank = _bank(tmp_path, search_budget=40)
    q = _texts()
    monkeypatch.setenv("CPC_SEARCH_BUDGET", "0")
    hits = bank.search(q, 7)
    assert hits.exact is None and hits.depth == 7  # the exact path: no candidates beyond the depth asked for
    monkeypatch.setenv("CPC_SEARCH_BUDGET", "40")
    bank.budget = 0
    assert bank.search(q, 7).exact is not None
    monkeypatch.setenv("CPC_SEARCH_BUDGET", "lots")
    with pytest.raises(MisconfiguredError, match="CPC_SEARCH_BUDGET"):
        bank.search(q, 7)


def test_the_row_major_copy_is_saved_only_for_a_budgeted_bank_and_matches_the_postings(tmp_path):
    x, bank = _bank(tmp_path / "exact")
    assert not (tmp_path / "exact" / "bank" / BANK_ARRAY_FILE.format(name="rows_data")).exists()
    x, bank = _bank(tmp_path / "budgeted", search_budget=40)
    assert (tmp_path / "budgeted" / "bank" / BANK_ARRAY_FILE.format(name="rows_data")).exists()
    rows = bank.row_major()
    np.testing.assert_array_equal(rows.toarray(), bank.postings.to_scipy().T.toarray())


def test_cpc_train_tfidf_knn_saves_its_search_budget_and_refuses_a_negative_one(tmp_path, capsys):
    """``cpc train tfidf-knn --search-budget N`` writes the budget into the bank (with the row-major copy its
    rescoring reads), so the trained model searches within it; a negative budget is one line, before any fit."""
    import json

    from spaces.cli import main
    from tests.unit.test_linear import make_tiny_dataset

    dataset = make_tiny_dataset(tmp_path / "dataset")
    args = ["train", "tfidf-knn", "--dataset", str(dataset), "--min-df", "1", "--k", "5"]
    assert main([*args, "--out", str(tmp_path / "bad"), "--search-budget", "-5"]) == 1
    err = capsys.readouterr().err
    assert "--search-budget -5" in err and "Traceback" not in err and not (tmp_path / "bad").exists()
    assert main([*args, "--out", str(tmp_path / "m"), "--search-budget", "50"]) == 0
    bank = tmp_path / "m" / "bank"
    assert json.loads((bank / "bank.json").read_text())["search_budget"] == 50
    assert (bank / BANK_ARRAY_FILE.format(name="rows_data")).exists() and load_bank(bank).budget == 50
    # no --search-budget (-1): none written, the bank's size decides when it loads
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    assert "search_budget" not in json.loads((tmp_path / "auto" / "bank" / "bank.json").read_text())


def test_a_bank_without_a_budget_of_its_own_searches_by_its_size(tmp_path, monkeypatch):
    """No ``search_budget`` in bank.json (the default of ``save_bank`` and ``cpc train``): exact below
    ``ROW_COPY_ROWS`` rows, ``AUTO_BUDGET`` from there; a budget written into the bank (0 too) wins, and appending
    rows keeps the bank's choice."""
    import json

    from cpc_models.kinds import bank as bank_module
    from cpc_models.kinds.bank_files import append_rows

    x, small = _bank(tmp_path / "auto", search_budget=None)
    assert "search_budget" not in json.loads((tmp_path / "auto" / "bank" / "bank.json").read_text())
    assert small.budget == 0  # 400 rows
    monkeypatch.setattr(bank_module, "ROW_COPY_ROWS", 300)
    assert load_bank(tmp_path / "auto" / "bank").budget == bank_module.AUTO_BUDGET
    assert _bank(tmp_path / "exact", search_budget=0)[1].budget == 0
    append_rows(tmp_path / "exact" / "bank", x[:3], np.zeros((3, 4), dtype=np.uint8))
    append_rows(tmp_path / "auto" / "bank", x[:3], np.zeros((3, 4), dtype=np.uint8))
    assert load_bank(tmp_path / "exact" / "bank").budget == 0
    assert load_bank(tmp_path / "auto" / "bank").budget == bank_module.AUTO_BUDGET
