"""``cpc predict --engine ray`` on a local Ray cluster: same answers as the predictor, and a killed run resumes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from cpc_models.predict.corpus import CorpusJob, predict_corpus
from cpc_models.predict.predictor import CpcPredictor
from tests.conftest import REPO
from tests.fixtures.corpus import DEFAULT_MODEL, assert_equals_predictor, read_input, read_output, write_corpus
from tests.fixtures.processes import cpc_command, signal_group

ray = pytest.importorskip("ray", reason="Ray is the [scale] extra (pip install -c constraints.txt 'ray[data]')")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_tmp():
    """Ray's session folder: short (its socket paths must stay under 108 characters), removed afterwards."""
    folder = tempfile.mkdtemp(prefix="cpc-ray-", dir="/tmp")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(ray_tmp):
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmpdir = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = ray_tmp  # the workers' temporary files (a shipped model is unpacked there) go with it
    try:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=os.path.join(ray_tmp, "ray"), logging_level="WARNING")
    finally:
        if tmpdir is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = tmpdir
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def predictor():
    return CpcPredictor.from_pretrained(DEFAULT_MODEL)


def test_ray_output_equals_the_predictor_row_for_row(cluster, predictor, tmp_path):
    inputs = write_corpus(tmp_path / "in", [900, 800, 600, 500])
    job = CorpusJob(
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        str(DEFAULT_MODEL),
        engine="ray",
        workers=2,
        batch_size=128,
        progress=False,
    )
    report = predict_corpus(job)
    assert report.rows == 2804 and len(report.written) == 4 and not report.failed
    assert sum(assert_equals_predictor(predictor, p, tmp_path / "out" / p.name) for p in inputs) == 2804


def test_model_shipped_through_the_object_store_and_csv_shards(cluster, ray_tmp, predictor, tmp_path):
    """What joining a cluster does with a local model folder (packed, ray.put once), here on the local cluster."""
    inputs = write_corpus(tmp_path / "in", [120, 0, 80], fmt="csv", split="test")
    job = CorpusJob(
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        str(DEFAULT_MODEL),
        engine="ray",
        workers=2,
        batch_size=32,
        top_k=3,
        progress=False,
    )
    assert predict_corpus(job, ship_model=True).rows == 204
    [unpacked] = Path(ray_tmp).glob("cpc-model-*")  # once for the node, not per actor or task
    assert sorted(p.name for p in (unpacked / "model").iterdir()) == sorted(p.name for p in DEFAULT_MODEL.iterdir())
    for path in inputs:
        assert_equals_predictor(predictor, path, tmp_path / "out" / path.name, top_k=3)


def test_a_killed_run_resumes_and_writes_each_shard_exactly_once(tmp_path, ray_tmp):
    inputs = write_corpus(tmp_path / "in", [250] * 12, split="test", bad_rows=False)
    out = tmp_path / "out"
    command = cpc_command(
        "-v",
        "predict",
        "--model",
        str(DEFAULT_MODEL),
        "--input",
        str(tmp_path / "in"),
        "--output",
        str(out),
        "--engine",
        "ray",
        "--workers",
        "2",
        "--batch-size",
        "25",
    )
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
    first = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, start_new_session=True
    )
    log = []
    try:
        for line in first.stderr:
            log.append(line)
            if " wrote " in line:
                os.kill(first.pid, signal.SIGKILL)  # mid-run: at least one shard is written, most are not
                break
        first.wait(timeout=60)
    finally:
        signal_group(first.pid, signal.SIGKILL)  # the run and the Ray processes it started
    assert first.returncode == -signal.SIGKILL, "".join(log)[-3000:]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.parquet")}
    assert 1 <= len(before) < len(inputs), f"killed after {len(before)} of {len(inputs)} shards"

    second = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO, start_new_session=True
    )
    try:
        _, stderr = second.communicate(timeout=400)
    finally:
        signal_group(second.pid, signal.SIGKILL)
    assert second.returncode == 0, stderr[-3000:]
    rewritten = re.findall(r" wrote (\S+) \(", stderr)
    assert sorted(Path(p).name for p in rewritten) == sorted(p.name for p in inputs if p.name not in before)
    assert f"{len(before)} shards already there" in stderr
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.parquet")}
    assert {name: after[name] for name in before} == before  # the shards of the killed run were not written again
    assert sorted(after) == sorted(p.name for p in inputs) and not list(out.glob(".*.tmp"))
    for path in inputs:  # every row, once, in order
        assert [r["publication_number"] for r in read_output(out / path.name)] == [
            r["publication_number"] for r in read_input(path)
        ]
