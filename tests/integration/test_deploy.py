"""The Dockerfile and the Procfile, run without Docker: their commands in a fresh virtual environment.

No image can be built or pulled here, so the Dockerfile is read instruction by instruction: its COPY lines copy
from the repo (minus .dockerignore) into a folder that stands for WORKDIR, its ``pip install`` RUN lines run in a
fresh venv, and its CMD starts with its ENV; the server must answer ``/health`` (and the HEALTHCHECK command must
pass) and classify a text. The Procfile's ``web`` command then starts on a free $PORT against that server and
answers. In the same venv, the default model's ``requirements.txt`` is already satisfied (``pip --no-index``) and
its ``handler.py`` answers as the server does: the handler imports only what its requirements install.

Deviations from a container, on purpose: the servers bind 127.0.0.1 (the image's 0.0.0.0 is overridden, as
``docker run -e`` would), and ``useradd`` is not run (no root here).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.fixtures.processes import LOCALHOST, free_port, running_server, start_server, stop_server
from tests.fixtures.serving import ABSTRACT

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def dockerignore(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(relative, p.rstrip("/") + "/*") for p in patterns)


def copy_into(sources: list[str], dest: Path, patterns: list[str]) -> None:
    """``COPY sources dest`` from the repo (the build context), leaving out what .dockerignore names."""
    for source in sources:
        path = REPO / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(REPO).as_posix()
            if ignored(relative, patterns):
                continue
            target = dest / file.name if path.is_file() else dest / file.relative_to(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)


def parse_env(arguments: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(arguments))


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The Dockerfile played in a fresh venv: (app folder, venv, ENV, CMD, HEALTHCHECK command)."""
    tmp = tmp_path_factory.mktemp("image")
    venv, app = tmp / "venv", tmp / "app"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CPC_", "HF_"))}
    env = {**base, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "HF_HOME": str(tmp / "hf")}
    patterns = dockerignore(REPO / ".dockerignore")
    workdir, image_env, cmd, healthcheck, user, runs = None, {}, None, None, "root", []
    for instruction, arguments in dockerfile_instructions(REPO / "Dockerfile"):
        if instruction == "FROM":
            assert re.fullmatch(r"python:3\.\d+-slim", arguments), arguments
        elif instruction == "WORKDIR":
            workdir = app
            workdir.mkdir(parents=True)
        elif instruction == "COPY":
            *sources, dest = shlex.split(arguments)
            copy_into(sources, workdir / dest, patterns)
        elif instruction == "ENV":
            image_env.update(parse_env(arguments))
        elif instruction == "RUN":
            runs.append(arguments)
            if arguments.startswith("useradd"):
                continue  # needs root; the USER line is checked below instead
            assert arguments.startswith("pip install") and "-c constraints.txt" in arguments, arguments
            result = subprocess.run(
                arguments,
                shell=True,
                cwd=workdir,
                env={**env, **image_env},
                capture_output=True,
                text=True,
                timeout=1200,
            )
            assert result.returncode == 0, result.stderr[-3000:]
        elif instruction == "USER":
            user = arguments
        elif instruction == "CMD":
            cmd = json.loads(arguments)
        elif instruction == "HEALTHCHECK":
            healthcheck = arguments.split(" CMD ", 1)[1]
    assert user not in ("root", "0") and any(r.startswith("useradd") and user in r.split() for r in runs)
    assert image_env["CPC_SERVE_HOST"] == "0.0.0.0"  # inside the image only: the package's default stays 127.0.0.1
    return app, venv, {**env, **image_env}, cmd, healthcheck


@pytest.fixture(scope="module")
def served(image, tmp_path_factory):
    """The image's CMD with its ENV, on 127.0.0.1 and a free port."""
    app, venv, env, cmd, healthcheck = image
    port = free_port()
    env = {**env, "CPC_SERVE_HOST": LOCALHOST, "CPC_SERVE_PORT": str(port), "CPC_WORKERS": "1"}
    command = [str(venv / "bin" / cmd[0]), *cmd[1:]]
    log = tmp_path_factory.mktemp("served") / "serve.log"
    server = start_server("cpc serve (image)", command, f"http://{LOCALHOST}:{port}", log, "/health", env, timeout=300)
    try:
        yield server, env
    finally:
        stop_server(server)


def test_the_image_commands_serve_the_default_model(image, served):
    app, _venv, _env, _cmd, healthcheck = image
    served, env = served
    health = httpx.get(served.url + "/health", timeout=10).json()
    assert health["status"] == "ok" and health["model"] == "cpc-default" and health["labels"] > 0
    check = subprocess.run(healthcheck, shell=True, cwd=app, env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    answer = httpx.post(served.url, json={"inputs": [ABSTRACT]}, timeout=60)
    assert answer.status_code == 200 and len(answer.json()[0]) == 5
    # .dockerignore: a model folder's training leftovers stay out of the image (the committed model has none, so the
    # copy alone could not show it)
    patterns = dockerignore(REPO / ".dockerignore")
    for leftover in ("predictions/test.parquet", "members/tfidf-knn/predictions/test.parquet"):
        assert ignored(f"hub/models/cpc-default/{leftover}", patterns), leftover
    assert not ignored("hub/models/cpc-default/config.json", patterns)


def test_the_procfile_web_command_answers_on_port(image, served, tmp_path):
    app, _venv, env, _cmd, _healthcheck = image
    served, _ = served
    [web] = [
        line.split(":", 1)[1].strip()
        for line in (REPO / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    ]
    assert "$PORT" in web and "0.0.0.0" in web
    port = free_port()
    command = ["bash", "-c", "exec " + web.replace("0.0.0.0", LOCALHOST)]  # a platform runs it with its shell
    env = {**env, "PORT": str(port), "CPC_BACKEND_URL": served.url}
    with running_server(
        "web (Procfile)", command, f"http://{LOCALHOST}:{port}", tmp_path / "web.log", ready_path="/health", env=env
    ):
        page = httpx.post(f"http://{LOCALHOST}:{port}/", data={"text": ABSTRACT}, timeout=60)
    best = httpx.post(served.url, json={"inputs": ABSTRACT}, timeout=60).json()[0][0]["label"]
    assert page.status_code == 200 and best in page.text


def test_the_default_model_handler_runs_on_what_its_requirements_install(image, served, tmp_path):
    """pip finds every requirement already installed by `pip install '.[serve]'` (no index), and the handler,
    loaded by path from outside the source tree, answers what the server answers."""
    app, venv, env, _cmd, _healthcheck = image
    served, _ = served
    model = app / "hub" / "models" / "cpc-default"
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--no-index", "-r", str(model / "requirements.txt")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    code = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('handler', sys.argv[1] + '/handler.py')\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(module.EndpointHandler(sys.argv[1])({'inputs': sys.argv[2]})))\n"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, str(model), ABSTRACT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == httpx.post(served.url, json={"inputs": ABSTRACT}, timeout=60).json()
