"""``cpc predict --engine ray --address auto`` on a real two-node Ray cluster, both nodes on this machine.

A head (``ray start --head``) and a second node (``ray start --address HEAD``) with two CPUs each, on 127.0.0.1 and
free ports, started with ``--block`` in their own process groups and stopped by PID afterwards. The corpus is
classified on the cluster and by the local engine; both outputs are read with the same reader and must agree row
for row, and the classifying actors must have run on both nodes (Ray's actor table, from the GCS).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fixtures.corpus import DEFAULT_MODEL, read_output, write_corpus
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, signal_group

pytest.importorskip("ray", reason="Ray is the [scale] extra (pip install -c constraints.txt 'ray[data]')")

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RAY = str(Path(sys.executable).with_name("ray"))
# One CPU per node: the engine's workers (one per node, placed with the SPREAD strategy) read, classify and write
# whole shards themselves, so no node needs a CPU beside its worker's.
NODE_CPUS = 1
# Which node each actor of the cluster ran on. The state API (ray.util.state) reads through the dashboard's HTTP
# server, which Ray's minimal install ([scale]: ray[data]) does not start; the actor table comes from the GCS.
ACTOR_NODES = """
import json, sys
import ray
from ray._private.state import actors
ray.init(address=sys.argv[1], logging_level="ERROR")
nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
classifiers = [a for a in actors().values() if "Shard" in a["ActorClassName"]]  # the engine's model holders
print(json.dumps({"nodes": nodes, "classifiers": [a["Address"]["NodeID"] for a in classifiers]}))
"""


class RayNode:
    """``ray start ... --block`` in its own process group: the group is the node (GCS, raylet, workers)."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]):
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [RAY, "start", *args, "--num-cpus", str(NODE_CPUS), "--node-ip-address", LOCALHOST, "--block"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

    def wait_started(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ray start did not start a node:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM the group (``ray start --block`` stops its node's processes), SIGKILL what is left."""
        signal_group(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes of NODE_CPUS each; yields the head's address and the environment of a client of the cluster."""
    temp = tempfile.mkdtemp(prefix="cpc-ray-", dir="/tmp")  # short: Ray's socket paths must stay under 108 chars
    logs = tmp_path_factory.mktemp("ray-nodes")
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # the workers import cpc_models
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": temp,
        "TMPDIR": temp,  # the shipped model is unpacked there
        "PYTHONUNBUFFERED": "1",  # "Ray runtime started" reaches the log while `ray start --block` runs
    }
    address = f"{LOCALHOST}:{free_port()}"
    nodes = []
    try:
        head = RayNode(
            ["--head", "--port", address.split(":")[1], "--temp-dir", temp, "--include-dashboard", "false"],
            logs / "head.log",
            env,
        )
        nodes.append(head)
        head.wait_started()
        second = RayNode(["--address", address], logs / "node.log", env)
        nodes.append(second)
        second.wait_started()
        # --address auto finds the cluster as a node of it does: RAY_ADDRESS (a machine may run other clusters)
        yield address, {**env, "RAY_ADDRESS": address}
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(temp, ignore_errors=True)


def test_two_nodes_answer_like_the_local_engine_row_for_row(cluster, tmp_path):
    address, env = cluster
    inputs = write_corpus(tmp_path / "in", [300, 250, 200, 150])
    common = ["predict", "--model", str(DEFAULT_MODEL), "--input", str(tmp_path / "in"), "--batch-size", "50"]
    local = subprocess.run(
        cpc_command(*common, "--output", str(tmp_path / "local"), "--engine", "local"),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr[-3000:]
    ray = subprocess.run(
        cpc_command(
            *common, "--output", str(tmp_path / "ray"), "--engine", "ray", "--address", "auto", "--workers", "2"
        ),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert ray.returncode == 0, ray.stderr[-3000:]
    for path in inputs:
        name = next((tmp_path / "local").glob(f"{path.stem}.*")).name
        assert read_output(tmp_path / "ray" / name) == read_output(tmp_path / "local" / name), name

    placed = subprocess.run(
        [sys.executable, "-c", ACTOR_NODES, address], env=env, capture_output=True, text=True, timeout=120
    )
    assert placed.returncode == 0, placed.stderr[-3000:]
    result = json.loads(placed.stdout.strip().splitlines()[-1])
    assert len(result["nodes"]) == 2
    assert set(result["classifiers"]) == set(result["nodes"]), result
