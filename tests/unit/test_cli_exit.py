"""`cpc` exits with the status of the command it ran."""

from __future__ import annotations

import subprocess

import click
import pytest

from spaces.cli import cli, main
from tests.fixtures.processes import LOCALHOST, cpc_command, free_port


@pytest.fixture
def exits(monkeypatch):
    @click.command("exits")
    @click.argument("code", type=int)
    @click.pass_context
    def command(ctx: click.Context, code: int) -> None:
        if code:
            ctx.exit(code)

    monkeypatch.setitem(cli.commands, "exits", command)


@pytest.mark.parametrize("code", [0, 1, 3])
def test_main_returns_the_status_a_command_exits_with(exits, code):
    assert main(["exits", str(code)]) == code


def test_the_process_exits_with_the_status_of_a_failed_command(tmp_path):
    """`python -m spaces.cli` (as the `cpc` script) passes a failure on: here a usage error (2), a user error (1)."""
    assert subprocess.run(cpc_command("data", "build", "--no-such-option"), capture_output=True).returncode == 2
    missing = subprocess.run(
        cpc_command("data", "build", "--raw", str(tmp_path / "nope"), "--out", str(tmp_path / "o")),
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_a_failed_search_exits_1_from_the_process(tmp_path):
    """`cpc scrape search` ends a failed query with ctx.exit(1), which no exception carries: the status must be
    passed on by `main` (it was 0). The site is a loopback port nobody listens on."""
    pytest.importorskip("httpx")
    site = f"http://{LOCALHOST}:{free_port()}"
    args = ("-q", "scrape", "search", "edge ai", "--out", str(tmp_path), "--base-url", site, "--retries", "0")
    failed = subprocess.run(cpc_command(*args, "--timeout", "5"), capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1, failed.stderr
    assert "edge ai: FAILED" in failed.stderr and "Traceback" not in failed.stderr
