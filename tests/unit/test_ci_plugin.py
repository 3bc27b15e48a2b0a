"""tests/fixtures/ci.py: under CI a skipped browser test fails the run; elsewhere it is a skip announced up front."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, ci: str | None, missing: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_space.py").write_text(
        "import pytest\n\ndef test_browser():\n    pytest.skip('needs Debian chromium')\n\n"
        "def test_other():\n    pass\n"
    )
    (tmp_path / "conftest.py").write_text(
        "import tests.fixtures.ci as ci\n"
        f"ci.BROWSER = (__import__('pathlib').Path({str(tmp_path / 'absent') if missing else sys.executable!r}),)\n"
        "pytest_plugins = ['tests.fixtures.ci']\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "ci, missing, code, expect",
    [
        ("true", True, 1, "1 failed, 1 passed"),
        (None, True, 0, "1 passed, 1 skipped"),
        ("false", False, 0, "1 passed, 1 skipped"),
    ],
)
def test_skipped_browser_test_fails_only_under_ci(tmp_path, ci, missing, code, expect):
    proc = run(tmp_path, ci, missing)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert expect in proc.stdout
    header = [line for line in proc.stdout.splitlines() if line.startswith("no Debian chromium")]
    assert len(header) == (1 if missing else 0)
    if missing:
        assert "apt-get install -y chromium chromium-driver" in header[0]


@pytest.mark.parametrize("ci, code, expect", [(None, 0, "1 skipped"), ("true", 1, "1 failed")])
def test_missing_shared_data_skips_with_a_reason_outside_ci_and_fails_under_ci(tmp_path, ci, code, expect):
    (tmp_path / "test_data.py").write_text(
        "from pathlib import Path\nfrom tests.fixtures.ci import require_data\n\n"
        f"def test_needs_data():\n    require_data(Path({str(tmp_path / 'absent')!r}), 'the shared corpus')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert expect in proc.stdout and "the shared corpus is missing at" in proc.stdout
