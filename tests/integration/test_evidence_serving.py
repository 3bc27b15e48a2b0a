"""The evidence over the Inference-API server (behind ``parameters.details``) and in the web app."""

from __future__ import annotations

import pytest

from spaces.client import CpcClient
from tests.fixtures.processes import group_alive, stop_server
from tests.fixtures.serving import ABSTRACT, server_env, start_cpc

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("sklearn")

pytestmark = pytest.mark.integration

PHARMA = (
    "Pharmaceutical composition. A pharmaceutical composition comprising a compound of formula (I) or a "
    "pharmaceutically acceptable salt thereof and an excipient, for the oral treatment of hypertension in tablets."
)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve-evidence")
    process = start_cpc("serve", tmp, server_env(model, tmp), ready_path="/health")
    yield process
    stop_server(process)
    assert not group_alive(process.pid)  # stopped by PID, with every process it started


def test_details_parameter_adds_evidence_and_the_default_shape_is_unchanged(server):
    plain = httpx.post(server.url + "/", json={"inputs": [ABSTRACT], "parameters": {"top_k": 3}}, timeout=60).json()
    assert len(plain) == 1 and [set(item) for item in plain[0]] == [{"label", "score"}] * 3
    rich = httpx.post(
        server.url + "/", json={"inputs": [ABSTRACT, PHARMA], "parameters": {"top_k": 3, "details": True}}, timeout=60
    ).json()
    assert rich[0]["ranked"] == plain[0]
    ai, pharma = rich[0]["prediction"], rich[1]["prediction"]
    assert ai["neighbours"] and ai["levels"]["section"] and ai["out_of_scope"] is False and ai["calibrated"] is True
    assert pharma["out_of_scope"] is True and pharma["scope_note"]
    bad = httpx.post(server.url + "/", json={"inputs": ABSTRACT, "parameters": {"details": "yes"}}, timeout=60)
    assert bad.status_code == 422 and "details" in bad.json()["error"]


def test_cpc_client_carries_the_scope_flag(server):
    ai, pharma = CpcClient(server.url, details=True).predict([ABSTRACT, PHARMA], top_k=3)
    assert pharma.out_of_scope and pharma.scope_note and not ai.out_of_scope and ai.neighbours


def test_webapp_says_when_a_text_is_out_of_scope(server, model, tmp_path):
    env = {**server_env(model, tmp_path), "CPC_BACKEND_URL": server.url, "CPC_BACKEND_KIND": "inference"}
    webapp = start_cpc("webapp", tmp_path, env, ready_path="/health")
    try:
        pharma = httpx.post(webapp.url + "/", data={"text": PHARMA, "top_k": "3"}, timeout=60)
        ai = httpx.post(webapp.url + "/", data={"text": ABSTRACT, "top_k": "3"}, timeout=60)
        assert pharma.status_code == 200 and 'id="out-of-scope"' in pharma.text and "unreliable" in pharma.text
        assert ai.status_code == 200 and 'id="out-of-scope"' not in ai.text and 'class="code-row"' in ai.text
    finally:
        stop_server(webapp)
