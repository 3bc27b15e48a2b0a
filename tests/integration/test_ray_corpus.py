"""``cpc predict --engine ray`` on a local Ray cluster: same answers as the predictor and the local engine, bad shards
fail alone, and a killed run resumes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from cpc_dataset.errors import CpcError
from cpc_models.predict.corpus import CorpusJob, predict_corpus
from cpc_models.predict.predictor import CpcPredictor
from tests.conftest import REPO
from tests.fixtures.corpus import (
    DEFAULT_MODEL,
    assert_equals_predictor,
    assert_same_rows,
    read_input,
    read_output,
    write_bad_shards,
    write_corpus,
)
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


def test_one_csv_as_a_folder_on_ray_equals_the_local_outputs(cluster, tmp_path):
    """Issue 18's must-show: the same 1,000-row CSV to out.csv (local) and as a folder on Ray, row for row."""
    [source] = write_corpus(tmp_path / "in", [996], fmt="csv")  # 1,000 rows with the four that get a reason
    local = CorpusJob(str(source), str(tmp_path / "out.csv"), str(DEFAULT_MODEL), batch_size=100, progress=False)
    predict_corpus(local)
    on_ray = CorpusJob(
        str(tmp_path / "in"), str(tmp_path / "folder"), str(DEFAULT_MODEL), engine="ray", batch_size=100, progress=False
    )
    assert predict_corpus(on_ray).rows == 1000
    assert assert_same_rows(tmp_path / "out.csv", tmp_path / "folder" / source.name) == 1000


def test_a_bad_shard_fails_alone_on_ray(cluster, tmp_path):
    good = write_corpus(tmp_path / "in", [30, 30, 30], bad_rows=False)
    bad = write_bad_shards(tmp_path / "in")
    job = CorpusJob(
        str(tmp_path / "in"), str(tmp_path / "out"), str(DEFAULT_MODEL), engine="ray", workers=2, progress=False
    )
    with pytest.raises(CpcError, match="2 of 5 shards not written") as error:
        predict_corpus(job)
    assert all(name in str(error.value) and why in str(error.value) for name, why in bad.items())
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("_")) == [
        p.name for p in good
    ]  # every good shard, and nothing for the bad ones (not even a temporary file)


def stop_processes_of(session: str, timeout: float = 60.0) -> None:
    """SIGKILL every process started with ``RAY_TMPDIR=session`` (the Ray processes a run started: they inherit it
    from the run), by PID, and wait until they are gone."""
    deadline = time.monotonic() + timeout
    while pids := [pid for pid in _pids() if f"RAY_TMPDIR={session}\0" in _environ(pid)]:
        assert time.monotonic() < deadline, f"processes of {session} still running: {pids}"
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)  # poll interval of the wait above, not a fixed wait for an outcome


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit() and int(entry) != os.getpid()]


def _environ(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return ""


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
    session = tempfile.mkdtemp(prefix="k-", dir=ray_tmp)  # the killed run's own Ray session folder
    env = {**os.environ, "RAY_TMPDIR": session, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
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
        stop_processes_of(session)  # workers write their own shards: none may finish one after this point
    assert first.returncode == -signal.SIGKILL, "".join(log)[-3000:]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.parquet")}
    assert 1 <= len(before) < len(inputs), f"killed after {len(before)} of {len(inputs)} shards"

    second = subprocess.Popen(
        [*command, "--resume"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,
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
