"""Run a server (``cpc serve``, ``cpc space``, ``cpc webapp``) as a child process on a free local port.

Used by the integration tests and ``benchmarks/load.py``: the caller that starts a server stops it, by its
PID, and a server that dies or never answers raises with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def cpc_command(*args: str) -> list[str]:
    """``cpc ARGS`` run by this interpreter (no reliance on PATH)."""
    return [sys.executable, "-m", "cpc_models.cli", *args]


@dataclass
class ServerProcess:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start_server(name: str, command: list[str], url: str, log_path: Path, ready_path: str = "/",
                 env: dict[str, str] | None = None, timeout: float = 120.0) -> ServerProcess:
    """Start ``command``; return once ``url + ready_path`` answers 200. Raises RuntimeError with the log tail."""
    import httpx

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **(env or {})}, start_new_session=True)
    server = ServerProcess(name, url.rstrip("/"), process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + ready_path, timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise RuntimeError(f"{name} did not answer at {server.url + ready_path} within {timeout:g} s:\n{server.log_tail()}")


def stop_server(server: ServerProcess, timeout: float = 10.0) -> int | None:
    """SIGTERM the server's process group (its PID leads it), then SIGKILL if it lingers. Returns its status."""
    process = server.process
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(timeout)
    return process.returncode


@contextmanager
def running_server(name: str, command: list[str], url: str, log_path: Path, **kwargs) -> Iterator[ServerProcess]:
    server = start_server(name, command, url, log_path, **kwargs)
    try:
        yield server
    finally:
        stop_server(server)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # start_new_session=True: the group id is the server's own PID
    except ProcessLookupError:
        pass
