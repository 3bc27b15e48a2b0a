"""A pushed model repo answers through its own ``handler.py`` (the Inference Endpoints custom-handler contract).

The default model folder is pushed to the test Hub with ``cpc push model``; a fresh process downloads the repo,
loads ``handler.py`` by file path (as the Endpoint does), constructs ``EndpointHandler(folder)`` and calls it with a
string, a list, a threshold and bad requests. Its answers must be ``cpc serve``'s for the same JSON (the app is
asked in this process), its errors one-line messages. That the repo's ``requirements.txt`` installs everything the
handler imports is checked in a fresh virtual environment by ``tests/integration/test_deploy.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cpc_models import CpcPredictor, __version__
from cpc_models.endpoint import handler_text
from tests.fixtures.hub import running_hub
from tests.fixtures.processes import cpc_command
from tests.fixtures.serving import ABSTRACT, DEFAULT_MODEL

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
MODEL_ID = "alice/cpc-default"
SECOND = "A battery electrode is coated with a polymer layer to extend its cycle life."
GOOD = [
    {"inputs": ABSTRACT},
    {"inputs": [ABSTRACT, SECOND], "parameters": {"top_k": 3}},
    {"inputs": ABSTRACT, "parameters": {"top_k": 2, "details": True}},
]
BAD = [
    {"inputs": ""},
    {"inputs": [ABSTRACT, 7]},
    {"inputs": []},
    {"text": ABSTRACT},
    {"inputs": ABSTRACT, "parameters": {"top_k": "five"}},
    {"inputs": ABSTRACT, "parameters": {"details": "yes"}},
    "just a string, not an object",
    {"inputs": "zzzz qqqq"},  # no word the model knows: cpc serve's 422
    {"inputs": [ABSTRACT, "中"]},
]
THRESHOLD = {"inputs": [ABSTRACT, SECOND], "parameters": {"threshold": 0.4, "top_k": 4}}
BAD_THRESHOLD = {"inputs": ABSTRACT, "parameters": {"threshold": 1.5}}

# Run in a fresh process: what an Endpoint does with a downloaded repo (no import of the test suite or the repo path
# beyond the installed package, which PYTHONPATH stands in for here).
CALL_HANDLER = """
import importlib.util, json, sys
from huggingface_hub import snapshot_download
folder = snapshot_download(sys.argv[1])
spec = importlib.util.spec_from_file_location("handler", folder + "/handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handler = module.EndpointHandler(folder)
answers = []
for request in json.loads(sys.argv[2]):
    try:
        answers.append({"ok": handler(request)})
    except Exception as exc:
        answers.append({"error": str(exc), "type": type(exc).__name__})
print(json.dumps({"answers": answers, "folder": folder}))
"""


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("endpoint")
    with running_hub(tmp) as hub:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("HF_", "CPC_"))}, "PYTHONPATH": str(REPO)}
        env.update(hub.env(tmp / "home"))
        push = subprocess.run(
            cpc_command("push", "model", str(DEFAULT_MODEL), "--repo-id", MODEL_ID),
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert push.returncode == 0, push.stderr[-3000:]
        yield env, tmp


def call_handler(env: dict, cwd: Path, requests: list) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CALL_HANDLER, MODEL_ID, json.dumps(requests)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server():
    """``cpc serve``'s app around the same model, asked in this process."""
    from fastapi.testclient import TestClient

    from spaces.server import create_app

    with TestClient(create_app(CpcPredictor.from_pretrained(DEFAULT_MODEL))) as client:
        yield client


def test_the_pushed_repo_answers_through_its_own_handler_like_cpc_serve(pushed, server):
    env, tmp = pushed
    result = call_handler(env, tmp, [*GOOD, *BAD, THRESHOLD, BAD_THRESHOLD])
    folder = Path(result["folder"])
    assert (folder / "handler.py").read_text() == handler_text()
    requirements = [line for line in (folder / "requirements.txt").read_text().splitlines() if not line.startswith("#")]
    assert requirements[0] == f"patent-cpc[serve]=={__version__}" and "scikit-learn" in " ".join(requirements)
    answers = iter(result["answers"])

    for request in GOOD:  # a string, a list, details: the JSON cpc serve answers
        answer = next(answers)
        assert "ok" in answer, answer
        assert answer["ok"] == server.post("/", json=request).json()
    assert len(result["answers"][0]["ok"][0]) == 5  # one list for one string, of cpc serve's default top_k

    for request in BAD:  # cpc serve's message for the same body, one line, no traceback
        answer, served = next(answers), server.post("/", json=request)
        assert "error" in answer, (request, answer)
        assert served.status_code >= 400 and answer["error"] == served.json()["error"]
        assert "\n" not in answer["error"] and "Traceback" not in answer["error"]

    decided = CpcPredictor.from_pretrained(DEFAULT_MODEL).predict(THRESHOLD["inputs"], top_k=4, threshold=0.4)
    assert next(answers)["ok"] == [[{"label": c.code, "score": float(c.score)} for c in p.codes] for p in decided]
    assert next(answers)["error"] == 'Bad request: "parameters.threshold" must be a number from 0 to 1'
