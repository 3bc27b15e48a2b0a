"""Issue 13 with real processes: slow and broken clients against ``cpc serve`` and ``cpc webapp``, and a batch run
killed with SIGKILL and resumed."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.fixtures.processes import LOCALHOST, cpc_command, free_port, group_alive, start_server, stop_server
from tests.fixtures.serving import ABSTRACT, server_env, wait_until
from tests.fixtures.slow_clients import IdleSockets, TrickledHeaders

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("flask")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration

LIMITS = {"CPC_HEADER_TIMEOUT": "1", "CPC_BODY_TIMEOUT": "2", "CPC_MAX_CONNECTIONS": "64"}


def _start(command: str, tmp, env: dict, ready_path: str, *args: str):
    port = free_port()
    url = f"http://{LOCALHOST}:{port}"
    argv = cpc_command("-v", command, "--host", LOCALHOST, "--port", str(port), *args)
    return start_server(command, argv, url, tmp / f"{command}.log", ready_path=ready_path, env=env, timeout=180)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-limits")
    # one worker: the connection cap (CPC_MAX_CONNECTIONS) is per worker, and which worker accepts a socket is the kernel's choice
    process = _start("serve", tmp, {**server_env(model, tmp), **LIMITS}, "/health", "--workers", "1")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


@pytest.fixture(scope="module")
def webapp(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webapp-limits")
    env = {**LIMITS, "CPC_BACKEND_URL": f"http://user:TOPSECRET@{LOCALHOST}:{free_port()}"}
    process = _start("webapp", tmp, env, "/health")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (None if it was still open after ``seconds``)."""
    start = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - start


@pytest.mark.parametrize("target", ["server", "webapp"])
def test_unfinished_headers_are_dropped(target, request):
    process = request.getfixturevalue(target)
    sock = _connect(process.url)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
    waited = _closed_within(sock, 8)
    sock.close()
    assert waited is not None, f"{target} held a connection with unfinished headers for 8 s"
    assert httpx.get(process.url + "/health").status_code == 200


def test_oversized_headers_are_refused_but_big_bodies_are_not(server):
    sock = _connect(server.url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 70_000 + b"\r\n")
    sock.settimeout(8)
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b'{"error": "Bad request: ' in answer
    body = {"inputs": [ABSTRACT * 50] * 8}  # ~300 KB in one request, well past the header cap
    assert httpx.post(server.url + "/", json=body, timeout=60).status_code == 200


def test_a_body_with_broken_framing_gets_a_json_400(server):
    sock = _connect(server.url)
    sock.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n"
    )
    sock.settimeout(8)
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"application/json" in answer and b'"error"' in answer


def test_an_unfinished_body_is_dropped_and_logged_in_one_line(server):
    start = len(server.log_path.read_bytes())  # the module's server: only this test's lines count
    sock = _connect(server.url)
    sock.sendall(
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"inputs": "a ne'
    )
    waited = _closed_within(sock, 8)
    sock.close()
    assert waited is not None, "the server held a connection with an unfinished body for 8 s"
    broken = _connect(server.url)  # a client that gives up mid-body
    broken.sendall(
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"inputs"'
    )
    broken.close()

    def both_logged() -> str:
        log = server.log_path.read_bytes()[start:].decode(errors="replace")
        return log if log.count("disconnected") >= 2 else ""

    log = wait_until(both_logged, timeout=10, every=0.05)
    assert "Traceback" not in log and "Exception in ASGI" not in log
    lines = [line for line in log.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("INFO ") and "disconnected" in line for line in lines), lines


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_idle_sockets_cannot_starve_requests(server):
    """200 idle sockets held open (the cap is 64): 50 clients still get their answers, and the log gets a few lines,
    not one per refusal."""
    start = len(server.log_path.read_bytes())
    answers: list[int | str] = []

    def client(n: int) -> None:
        with httpx.Client(timeout=30) as http:
            for i in range(n):
                try:
                    answers.append(http.post(server.url + "/", json={"inputs": f"{ABSTRACT} {i}"}).status_code)
                except httpx.HTTPError as exc:
                    answers.append(type(exc).__name__)

    with IdleSockets(_port(server.url), 200, reopen=False):
        threads = [threading.Thread(target=client, args=(4,)) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    failed = [a for a in answers if a != 200]
    assert len(answers) == 200 and len(failed) <= 2, failed  # at most 1 %
    lines = server.log_path.read_bytes()[start:].decode(errors="replace").splitlines()
    assert len(lines) < 30, lines[:40]


def test_complete_oversized_headers_in_one_send_are_refused(server):
    sock = _connect(server.url)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * 117_000 + b"\r\n\r\n")
    sock.settimeout(8)
    answer = sock.recv(4096)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400") and b"too large" in answer


@pytest.mark.parametrize("target", ["server", "webapp"])
def test_trickled_headers_are_dropped_at_the_deadline(target, request):
    process = request.getfixturevalue(target)
    with TrickledHeaders(_port(process.url), 1) as slow:
        waited = _closed_within(slow.socks[0], 8)  # the header deadline is 1 s; a byte comes every 0.3 s
    assert waited is not None, f"{target} held a connection trickling headers for 8 s"


def test_webapp_answers_while_100_clients_trickle_headers(tmp_path):
    env = {"CPC_HEADER_TIMEOUT": "1", "CPC_BACKEND_URL": f"http://{LOCALHOST}:{free_port()}"}  # default connection cap
    process = _start("webapp", tmp_path, env, "/health")
    try:
        with TrickledHeaders(_port(process.url), 100):
            answers = [httpx.get(process.url + "/", timeout=10).status_code for _ in range(4)]
    finally:
        stop_server(process)
    assert answers == [200] * 4


def test_head_health_and_json_404(server):
    assert httpx.head(server.url + "/health").status_code == 200
    missing = httpx.get(server.url + "/nowhere")
    assert missing.status_code == 404 and "error" in missing.json()


def test_webapp_hides_the_backend_secret(webapp):
    page = httpx.post(webapp.url + "/", data={"text": ABSTRACT}, timeout=30)
    assert page.status_code == 503
    for text in (
        page.text,
        httpx.get(webapp.url + "/").text,
        httpx.get(webapp.url + "/health").text,
        webapp.log_tail(100_000),
    ):
        assert "TOPSECRET" not in text
    assert "user:***@" in httpx.get(webapp.url + "/health").text


def test_a_killed_batch_run_leaves_no_output_and_resumes(model, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("abstract\n" + "".join(f"{ABSTRACT} Variant {i}.\n" for i in range(3000)))
    out = tmp_path / "out.csv"
    argv = cpc_command(
        "predict", "--model", str(model), "--input", str(source), "--output", str(out), "--batch-size", "100"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)

    def rows_written() -> bool:  # the temporary output holds some rows
        return any(p.stat().st_size > 10_000 for p in tmp_path.glob(".out.csv.*.tmp"))

    deadline = time.monotonic() + 120
    while not rows_written() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)
    assert list(tmp_path.glob(".out.csv.*.tmp")), "no rows were written before the kill"
    assert not out.exists()  # a partial output is never under its final name
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--resume" in again.stderr and "Traceback" not in again.stderr
    resumed = subprocess.run([*argv, "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [row["abstract"].rsplit(" ", 1)[-1] for row in rows] == [f"{i}." for i in range(3000)]  # each row once
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.cpc_job.json", "in.csv", "out.csv"]
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr


def test_two_workers_share_the_load_and_a_dead_worker_stops_the_server(model, tmp_path):
    process = _start("serve", tmp_path, server_env(model, tmp_path), "/health", "--workers", "2")
    try:
        children = [int(p) for p in open(f"/proc/{process.pid}/task/{process.pid}/children").read().split()]
        assert len(children) == 2  # two workers forked after one load
        before = httpx.get(process.url + "/health").json()["batches"]
        for i in range(6):
            assert httpx.post(process.url + "/", json={"inputs": f"{ABSTRACT} {i}"}, timeout=30).status_code == 200
        assert httpx.get(process.url + "/health").json()["batches"] - before == 6  # one count over both workers
        os.kill(children[0], signal.SIGKILL)
        assert process.process.wait(20) == 1  # a supervisor sees the crash and restarts the service
        assert "stopping the server" in process.log_tail()
    finally:
        stop_server(process)
