"""The committed dataset folder, and a fresh build of the shared corpus (CI has ../shared beside the clone)."""

from __future__ import annotations

import time

import pyarrow.parquet as pq
import pytest

from cpc_dataset.build import BuildConfig, build_dataset
from cpc_dataset.text import abstract_key
from tests.conftest import DATASET, SHARED_RAW
from tests.fixtures.ci import require_data

pytestmark = pytest.mark.integration


def _split_rows(folder, split):
    return pq.read_table(next((folder / "data").glob(f"{split}-*.parquet"))).to_pylist()


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory):
    require_data(SHARED_RAW, "the shared raw corpus")
    out = tmp_path_factory.mktemp("real") / "patent-cpc-ai"
    t0 = time.perf_counter()
    report = build_dataset(BuildConfig(raw=str(SHARED_RAW), out=str(out), progress=False))
    return out, report, time.perf_counter() - t0


def test_load_dataset_gives_three_splits_with_class_label_names():
    import datasets

    ds = datasets.load_dataset(str(DATASET))
    assert set(ds) == {"train", "validation", "test"}
    feature = ds["train"].features["labels"].feature
    assert isinstance(feature, datasets.ClassLabel) and feature.num_classes > 50
    assert all(len(ds[s]) > 1000 for s in ds)


@pytest.mark.parametrize("folder_kind", ["committed", "fresh"])
def test_no_validation_or_test_document_leaks_from_train(folder_kind, request):
    folder = DATASET if folder_kind == "committed" else request.getfixturevalue("fresh_build")[0]
    train = _split_rows(folder, "train")
    train_numbers = {n for r in train for n in [r["publication_number"], *r["other_publication_numbers"]]}
    train_keys = {abstract_key(r["abstract"]) for r in train}
    for split in ("validation", "test"):
        rows = _split_rows(folder, split)
        numbers = {n for r in rows for n in [r["publication_number"], *r["other_publication_numbers"]]}
        assert not numbers & train_numbers, f"{split} shares publication numbers with train"
        assert not {abstract_key(r["abstract"]) for r in rows} & train_keys, f"{split} shares abstracts with train"


def test_fresh_build_matches_the_committed_folder(fresh_build):
    out, report, seconds = fresh_build
    for split in ("train", "validation", "test"):
        assert _split_rows(out, split) == _split_rows(DATASET, split), (
            f"committed {split} split is stale: rerun `make dataset`"
        )
    assert (out / "labels.json").read_text() == (DATASET / "labels.json").read_text()
    summary = report.summary()
    assert summary["rows"] == sum(summary["rows_dropped"].values()) + sum(report.read.rows_per_file.values())
    print(f"real build: {summary['documents']} documents in {seconds:.1f} s")
