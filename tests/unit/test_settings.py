"""The default model and dataset are found wherever the command runs (cpc_models.settings), never from the CWD."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cpc_dataset.errors import MisconfiguredError
from cpc_models import settings

REPO = Path(__file__).resolve().parents[2]


def _model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("CPC_MODEL", raising=False)
    monkeypatch.setattr(settings, "CHECKOUT", tmp_path / "checkout")
    monkeypatch.setattr(settings, "installed_data", lambda: [tmp_path / "prefix" / "share" / "patent-cpc"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(MisconfiguredError, match="no default model found .*set CPC_MODEL"):
        settings.default_model_dir()
    cached = _model(tmp_path / "cache" / "patent-cpc" / "models" / "cpc-default")
    assert settings.default_model_dir() == cached
    installed = _model(tmp_path / "prefix" / "share" / "patent-cpc" / "models" / "cpc-default")
    assert settings.default_model_dir() == installed
    checkout = _model(tmp_path / "checkout" / "hub" / "models" / "cpc-default")
    assert settings.default_model_dir() == checkout
    monkeypatch.setenv("CPC_MODEL", str(tmp_path / "mine"))
    assert settings.default_model_dir() == tmp_path / "mine"


def test_predict_from_another_directory_uses_the_checkout_model(tmp_path):
    """`cd /tmp && cpc predict ...` answers with the committed default model."""
    if not (REPO / "hub" / "models" / "cpc-default" / "config.json").exists():
        pytest.fail("the committed default model is missing")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "spaces.cli", "predict", "A neural network is trained on images."],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("subclasses: G06N") for line in proc.stdout.splitlines()), proc.stdout


def test_search_threads_take_the_projects_variable_then_openmps_then_this_processs_cores(monkeypatch):
    """A batch's neighbour search uses the cores this process may run on (at most ``MAX_SEARCH_THREADS``) unless
    ``CPC_SEARCH_THREADS`` or ``OMP_NUM_THREADS`` (what Ray sets in its workers) says otherwise."""
    import os

    from cpc_models import settings

    monkeypatch.delenv("CPC_SEARCH_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert settings.search_threads() == min(cores, settings.MAX_SEARCH_THREADS)
    monkeypatch.setattr(settings, "MAX_SEARCH_THREADS", 1)
    assert settings.search_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert settings.search_threads() == 3
    monkeypatch.setenv("CPC_SEARCH_THREADS", "5")
    assert settings.search_threads() == 5
    monkeypatch.setenv("CPC_SEARCH_THREADS", "lots")  # not a number: the next source
    assert settings.search_threads() == 3
